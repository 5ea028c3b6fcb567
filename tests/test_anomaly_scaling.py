"""The detector's data path at scale: chunks, member rows, bounded training, calibration.

Each test shrinks the limits (``TRAINING_ROWS``, ``SAMPLE_ROWS``, chunk sizes)
so that a few hundred rows take the paths that millions of rows take.
"""

import numpy as np
import pytest
import torch

import skae._anomaly
import skae._data
from skae import AnomalyDetector
from skae._anomaly import _MemberRows
from skae._data import ChunkedBatchIterator, LazyRowDataset, read_rows


def make_data(n=600, seed=0):
    """Rows near one 2-D plane in 6-D, the first five made outliers."""
    mixing = np.random.RandomState(42).normal(size=(2, 6))
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 2)) @ mixing + 0.05 * rng.normal(size=(n, 6))
    X[:5] += rng.choice([-4.0, 4.0], size=(5, 6))
    return X


# -- skae._data -------------------------------------------------------------------------
def test_read_rows_copies_views_but_not_fresh_arrays(memmap_of):
    X = memmap_of(make_data(), np.float32)
    rows = read_rows(X, 10, 50)
    assert type(rows) is np.ndarray and rows.flags.owndata
    assert not np.shares_memory(rows, X)
    np.testing.assert_array_equal(rows, X[10:50])
    # Rows picked by index, in any order, come back in that order.
    picked = np.array([7, 3, 300, 3, 41])
    np.testing.assert_array_equal(read_rows(X, 0, 5, picked), np.asarray(X)[picked])
    np.testing.assert_array_equal(read_rows(X, 1, 3, np.sort(picked)), X[[3, 7]])

    class Fresh:  # a lazy source that builds every chunk afresh
        shape, dtype, ndim = (100, 3), np.dtype(np.float32), 2

        def __init__(self):
            self.last = None

        def __getitem__(self, key):
            self.last = np.ones((len(range(100)[key]), 3), dtype=np.float32)
            return self.last

    fresh = Fresh()
    assert read_rows(fresh, 0, 20) is fresh.last  # not copied again


def test_scattered_rows_of_a_memmap_are_read_piece_by_piece(memmap_of, monkeypatch):
    # Each piece's file pages are released before the next is read.
    X = memmap_of(make_data(), np.float32)
    releases = []
    release = skae._data.release_pages
    monkeypatch.setattr(skae._data, "release_pages", lambda a: releases.append(release(a)))
    monkeypatch.setattr(skae._data, "SCATTERED_ROWS", 16)
    monkeypatch.setattr(skae._data, "MIN_SCATTERED_ROWS", 16)
    picked = np.random.default_rng(0).permutation(600)[:100]
    rows = read_rows(X, 10, 90, picked)
    np.testing.assert_array_equal(rows, np.asarray(X)[picked[10:90]])
    assert len(releases) == 5  # 80 rows, 16 at a time
    releases.clear()
    np.testing.assert_array_equal(read_rows(X, 0, 16, picked), np.asarray(X)[picked[:16]])
    assert len(releases) == 1


def test_scattered_groups_map_a_bounded_number_of_bytes():
    # A group of picked rows maps about rows * min(gap, folio) bytes of the
    # file: sparse picks (large gaps) are read in smaller groups.
    from skae._data import (
        MAX_FOLIO_BYTES,
        MIN_SCATTERED_ROWS,
        SCATTERED_BYTES,
        SCATTERED_ROWS,
        scattered_group,
    )

    four_gb = np.lib.stride_tricks.as_strided(
        np.zeros(1, dtype=np.float32), shape=(53_687_091, 20), strides=(0, 0)
    )
    assert four_gb.nbytes == 53_687_091 * 80
    dense, sparse = scattered_group(four_gb, 100_000), scattered_group(four_gb, 12_800)
    assert dense == SCATTERED_ROWS
    assert MIN_SCATTERED_ROWS < sparse < SCATTERED_ROWS
    assert sparse * (four_gb.nbytes // 12_800) <= SCATTERED_BYTES
    assert scattered_group(four_gb, 128) == max(
        MIN_SCATTERED_ROWS, SCATTERED_BYTES // MAX_FOLIO_BYTES
    )
    assert scattered_group(np.zeros((10, 3)), 5) == SCATTERED_ROWS


def test_chunked_batches_are_the_permuted_chunks(monkeypatch):
    # Batches are gathered through each chunk's permutation: the same rows, in
    # the same order, as permuting the whole chunk and slicing it.
    X = np.arange(1000 * 3, dtype=np.float32).reshape(1000, 3)
    iterator = ChunkedBatchIterator(
        LazyRowDataset(X), batch_size=32, shuffle=True, rows_per_chunk=256
    )
    torch.manual_seed(0)
    got = [batch for batch, _ in iterator]
    torch.manual_seed(0)
    starts = [range(0, 1000, 256)[i] for i in torch.randperm(4).tolist()]
    expected = []
    for start in starts:
        chunk = torch.from_numpy(X[start : start + 256])
        chunk = chunk.index_select(0, torch.randperm(len(chunk)))
        expected.extend(chunk[i : i + 32] for i in range(0, len(chunk), 32))
    assert len(got) == len(expected) == len(iterator)
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a, b)


# -- _MemberRows ------------------------------------------------------------------------
def test_member_rows_are_the_tiled_permuted_rows():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(50, 4)).astype(np.float32)
    perms = [rng.permutation(50), rng.permutation(50)]
    tiled = np.hstack([rows] + [rows[p] for p in perms])
    member_rows = _MemberRows(rows, 3, perms)
    assert member_rows.shape == tiled.shape
    for key in (slice(0, 50), slice(10, 23), np.array([4, 0, 49, 4])):
        got = member_rows[key]
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, tiled[key])


def test_lazy_member_rows_read_only_their_indices(memmap_of):
    X = memmap_of(make_data(), np.float32)
    indices = np.array([2, 9, 10, 100, 599])
    whole = _MemberRows(X, 3, scale=lambda c: c.astype(np.float32) * 2, seed=5)
    some = _MemberRows(
        X, 3, scale=lambda c: c.astype(np.float32) * 2, seed=5, indices=indices
    )
    assert some.shape == (5, 18) and len(some) == 5
    np.testing.assert_array_equal(some[0:5][:, :6], 2 * np.asarray(X)[indices])
    # Members' blocks hold the same rows, each in its own order.
    block = some[0:5]
    for g in (1, 2):
        assert sorted(map(tuple, block[:, 6 * g : 6 * g + 6])) == sorted(
            map(tuple, block[:, :6])
        )
    np.testing.assert_array_equal(whole[2:3][:, :6], some[0:1][:, :6])


# -- the detector -----------------------------------------------------------------------
def count_reconstructed_rows(monkeypatch):
    """Rows the members reconstruct, call by call."""
    counts = []
    original = AnomalyDetector._member_reconstructions

    def counting(self, Z):
        counts.append(len(Z))
        return original(self, Z)

    monkeypatch.setattr(AnomalyDetector, "_member_reconstructions", counting)
    return counts


def test_calibration_reconstructs_the_rows_once_with_the_same_result(monkeypatch):
    X = make_data()
    monkeypatch.setattr(skae._anomaly, "CHUNK_ROWS", 64)  # ten chunks
    counts = count_reconstructed_rows(monkeypatch)
    once = AnomalyDetector(random_state=0).fit(X)
    assert sum(counts) == len(X)  # the errors of every chunk were kept
    # Without room to keep them: a first pass for the feature errors, a second
    # for the scores -- the same detector.
    monkeypatch.setattr(skae._anomaly, "_SAMPLE_BYTES", 0)
    counts.clear()
    twice = AnomalyDetector(random_state=0).fit(X)
    assert sum(counts) == 2 * len(X)
    for name in ("feature_error_scale_", "train_scores_", "offset_"):
        np.testing.assert_array_equal(getattr(once, name), getattr(twice, name))
    np.testing.assert_array_equal(once.score_samples(X), twice.score_samples(X))


def test_many_rows_calibrate_on_a_uniform_sample(monkeypatch):
    X = make_data()
    monkeypatch.setattr(skae._anomaly, "SAMPLE_ROWS", 200)
    monkeypatch.setattr(skae._anomaly, "CHUNK_ROWS", 64)
    counts = count_reconstructed_rows(monkeypatch)
    detector = AnomalyDetector(random_state=0).fit(X)
    assert sum(counts) == 200  # the sample, once
    sample = X[detector._uniform_rows(len(X), 200, stream=0)]
    assert detector.train_scores_.shape == (200,)
    np.testing.assert_array_equal(detector.train_scores_, detector.score_samples(sample))
    # The robust scaler's medians come from the sample too.
    np.testing.assert_array_equal(detector.scaler_.center_, np.median(sample, axis=0))
    again = AnomalyDetector(random_state=0).fit(X)
    np.testing.assert_array_equal(again.score_samples(X), detector.score_samples(X))
    assert np.all(detector.predict(X[:5]) == -1)
    # The sample stands for the training rows.
    detector.set_threshold_from_contamination(0.1)
    assert abs(np.mean(detector.score_samples(X) < detector.offset_) - 0.1) < 0.05
    # A scaler other than the robust one is fitted on every row.
    standard = AnomalyDetector(scaler="standard", random_state=0).fit(X)
    np.testing.assert_allclose(standard.scaler_.mean_, X.mean(axis=0))


@pytest.mark.parametrize("lazy", [False, True])
def test_default_network_trains_on_a_bounded_sample_of_rows(monkeypatch, memmap_of, lazy):
    X = make_data()
    monkeypatch.setattr(skae._anomaly, "TRAINING_ROWS", 200)
    monkeypatch.setattr(skae._anomaly, "SAMPLE_ROWS", 300)  # the memmap stays lazy
    source = memmap_of(X, np.float32) if lazy else X
    trained_on, picked = [], []
    original = AnomalyDetector._fit_members

    def recording(self, Z, indices=None):
        trained_on.append(Z.shape[0] if indices is None else len(indices))
        picked.append(indices is not None)
        return original(self, Z, indices)

    monkeypatch.setattr(AnomalyDetector, "_fit_members", recording)
    detector = AnomalyDetector(random_state=0).fit(source)
    assert trained_on == [200]
    # Lazy rows are read by row number from the file, never copied whole.
    assert picked == [lazy]
    assert detector.n_samples_seen_ == len(X)
    assert np.all(detector.predict(X[:5]) == -1)
    assert np.mean(detector.predict(X[5:]) == -1) < 0.1
    again = AnomalyDetector(random_state=0).fit(source)
    np.testing.assert_array_equal(again.score_samples(X), detector.score_samples(X))
    # A given estimator trains on every row, as its own parameters say.
    trained_on.clear()
    given = skae.AutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(8,), max_epochs=2, random_state=0
    )
    AnomalyDetector(given, random_state=0).fit(source)
    assert trained_on == [len(X)]
