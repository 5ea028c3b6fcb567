"""Scaling up: mixed precision, partial_fit, data larger than memory, Dask, Accelerate."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

import skae._data
from skae import AutoencoderTransformer

FAST = dict(n_components=4, hidden_layer_sizes=(16,), max_epochs=3, random_state=0)


@pytest.fixture(scope="module")
def X():
    return load_digits().data[:600] / 16.0


class LazyArray:
    """A 2-D array-like that slices lazily and refuses to be converted whole."""

    def __init__(self, array):
        self.array = array
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        self.largest_read = 0

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        out = self.array[key]
        self.largest_read = max(self.largest_read, len(out))
        return out

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole array was materialised")


# -- mixed precision -------------------------------------------------------------------
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_mixed_precision_trains_on_cpu(X, precision, loss):
    ae = AutoencoderTransformer(
        **{**FAST, "max_epochs": 4},
        lr=1e-2,
        loss=loss,
        precision=precision,
        validation_fraction=0.2,
    ).fit(X)
    losses = ae.history_[:, "train_loss"]
    assert np.all(np.isfinite(ae.history_[:, "valid_loss"]))
    assert losses[-1] < 0.95 * losses[0]
    assert next(ae.net_.module_.parameters()).dtype == torch.float32  # master weights
    assert (ae.net_.grad_scaler_ is not None) == (precision == "fp16")
    # Low-precision inference stays close to float32 inference of the same weights.
    errors = ae.reconstruction_error(X)
    ae.net_.precision = None
    np.testing.assert_allclose(errors, ae.reconstruction_error(X), rtol=0.1, atol=1e-3)


def test_unknown_precision_is_refused(X):
    with pytest.raises(ValueError, match="precision"):
        AutoencoderTransformer(**FAST, precision="fp8").fit(X)


# -- one loss read per epoch -----------------------------------------------------------
class ReadsBatches(Callback):
    """Listens to every batch, which makes the engine log losses the skorch way."""

    def on_batch_end(self, net, **kwargs):
        pass


def test_deferred_loss_logging_writes_the_same_history(X):
    params = dict(**FAST, batch_size=64, validation_fraction=0.25)
    deferred = AutoencoderTransformer(**params).fit(X)
    per_batch = AutoencoderTransformer(**params, callbacks=[ReadsBatches()]).fit(X)
    assert not deferred.net_._listeners_for("on_batch_end")  # the one-read path ran
    assert per_batch.net_._listeners_for("on_batch_end")  # skorch's per-batch path ran
    for key in ("train_loss", "valid_loss", "train_batch_count", "valid_batch_count"):
        np.testing.assert_allclose(deferred.history_[:, key], per_batch.history_[:, key])
    for key in ("train_loss", "train_batch_size", "valid_loss", "valid_batch_size"):
        assert deferred.history_[-1, "batches", :, key] == pytest.approx(
            per_batch.history_[-1, "batches", :, key]
        )
    assert sum(deferred.history_[-1, "batches", :, "train_batch_size"]) == 450


def test_chunked_copy_path_yields_the_same_batches_as_slicing(monkeypatch):
    # The path that feeds an accelerator from (pinned) host memory, run on the CPU.
    monkeypatch.setattr(skae._data, "CHUNK_BYTES", 3 * 10 * 4 * 7)  # chunks of 3 batches
    X = torch.arange(500.0).reshape(50, 10)
    iterator = skae._data.BatchIterator(skae._data.RowDataset(X), 7, shuffle=True)
    order = torch.randperm(50, generator=torch.Generator().manual_seed(0))
    chunked = [b for b, _ in iterator._shuffled_chunks(X, order, iterator._bounds())]
    # 50 = 7 * 7 + 1: the one-row remainder joins the last batch (8 rows).
    expected = [X[order[i : i + 7]] for i in range(0, 42, 7)] + [X[order[42:]]]
    assert len(chunked) == len(expected) == 7
    for got, want in zip(chunked, expected, strict=True):
        assert torch.equal(got, want)


# -- partial_fit -----------------------------------------------------------------------
def test_partial_fit_initialises_then_continues_with_optimizer_state(X):
    ae = AutoencoderTransformer(**{**FAST, "batch_size": 100})
    chunks = np.array_split(X, 3)
    ae.partial_fit(chunks[0])
    net, optimizer = ae.net_, ae.net_.optimizer_
    first_weight = next(iter(optimizer.state.values()))
    assert int(first_weight["step"]) == 2  # 200 rows, batch 100
    for chunk in chunks[1:]:
        ae.partial_fit(chunk)
    assert ae.net_ is net and ae.net_.optimizer_ is optimizer
    assert int(next(iter(optimizer.state.values()))["step"]) == 6
    assert ae.n_epochs_ == 3 and ae.n_features_in_ == 64
    losses = ae.history_[:, "train_loss"]
    assert losses[-1] < losses[0]
    # The same calls repeat exactly; a different seed gives another model.
    again = AutoencoderTransformer(**{**FAST, "batch_size": 100})
    for chunk in chunks:
        again.partial_fit(chunk)
    np.testing.assert_array_equal(again.transform(X), ae.transform(X))


def test_partial_fit_checks_width_and_continues_a_fitted_model(X):
    ae = AutoencoderTransformer(**FAST, early_stopping=True, n_iter_no_change=1).fit(X)
    n_epochs = ae.n_epochs_
    with pytest.raises(ValueError, match="has 10 features, but AutoencoderTransformer"):
        ae.partial_fit(X[:, :10])
    ae.partial_fit(X[:5])  # early stopping and hold-out do not apply to chunks
    assert ae.n_epochs_ == n_epochs + 1 and not ae.stopped_early_
    assert ae.history_[-1, "train_batch_count"] == 1


def test_a_first_partial_fit_holds_out_nothing_even_with_early_stopping(X):
    # Two rows leave no validation row at validation_fraction=0.1: a split
    # would refuse them. Incremental training holds out nothing, stops never.
    ae = AutoencoderTransformer(**FAST, early_stopping=True, validation_fraction=0.1)
    for _ in range(3):
        ae.partial_fit(X[:2])
    assert ae.n_epochs_ == 3 and not ae.stopped_early_
    assert all("valid_loss" not in epoch for epoch in ae.history_)
    with pytest.raises(ValueError, match="leaves 0 of 2 rows for validation"):
        AutoencoderTransformer(**FAST, early_stopping=True).fit(X[:2])


# -- data larger than memory -----------------------------------------------------------
def test_memmap_fit_matches_in_memory_fit_when_it_fits_one_chunk(X, memmap_of):
    mm = memmap_of(X)
    params = dict(**FAST, validation_fraction=0.2)
    in_memory = AutoencoderTransformer(**params).fit(X)
    lazy = AutoencoderTransformer(**params).fit(mm)
    valid_loss = lazy.history_[:, "valid_loss"]
    np.testing.assert_array_equal(valid_loss, in_memory.history_[:, "valid_loss"])
    np.testing.assert_array_equal(lazy.transform(X), in_memory.transform(X))
    assert lazy.transform(mm).dtype == np.float64
    np.testing.assert_array_equal(lazy.transform(mm), lazy.transform(X))
    np.testing.assert_array_equal(lazy.score_samples(mm), lazy.score_samples(X))


def test_lazy_input_is_read_in_chunks_never_whole(X, monkeypatch):
    monkeypatch.setattr(skae._data, "CHUNK_BYTES", 64 * 4 * 32 * 2)  # two batches of 32
    source = LazyArray(X.astype(np.float32))
    ae = AutoencoderTransformer(**{**FAST, "batch_size": 32}).fit(source)
    assert 0 < source.largest_read <= 64
    # Every row is seen once per epoch: ceil(600 / 32) batches.
    assert ae.history_[:, "train_batch_count"] == [19, 19, 19]
    assert sum(ae.history_[-1, "batches", :, "train_batch_size"]) == 600
    losses = ae.history_[:, "train_loss"]
    assert losses[-1] < losses[0]
    assert ae.transform(source).dtype == np.float32
    np.testing.assert_allclose(ae.transform(source), ae.transform(X.astype(np.float32)))
    np.testing.assert_allclose(ae.score_samples(source), ae.score_samples(X), rtol=1e-6)
    ae.partial_fit(source)
    assert source.largest_read <= 64


def test_lazy_input_gets_check_array_messages(X, memmap_of):
    bad = X.copy()
    bad[500, 3] = np.inf  # NaN is a missing cell (tests/test_missing.py)
    with pytest.raises(ValueError, match="Input X contains infinity"):
        AutoencoderTransformer(**FAST).fit(memmap_of(bad))
    with pytest.raises(ValueError, match=r"needs every value of X in \[0, 1\]"):
        AutoencoderTransformer(**FAST, loss="bce").fit(memmap_of(X * 2))
    with pytest.raises(ValueError, match="1 sample"):
        AutoencoderTransformer(**FAST).fit(memmap_of(X[:1]))
    ae = AutoencoderTransformer(**FAST).fit(X)
    with pytest.raises(ValueError, match="infinity"):
        ae.transform(memmap_of(bad))
    with pytest.raises(ValueError, match="has 10 features"):
        ae.score_samples(memmap_of(X[:, :10]))


# -- engines stay optional -------------------------------------------------------------
def test_import_initialises_no_cuda_and_no_optional_engine():
    code = (
        "import sys, torch, skae; "
        "assert not torch.cuda.is_initialized(); "
        "bad = [m for m in ('dask', 'distributed', 'accelerate', 'matplotlib') "
        "if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- Dask ------------------------------------------------------------------------------
def test_grid_search_on_a_dask_cluster(X):
    pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    import joblib

    # Threads on loopback keep the test fast; worker processes (processes=True)
    # would also get one torch thread each from dask's nanny (OMP_NUM_THREADS=1).
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,  # in-process transport: nothing leaves the machine
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster),
    ):
        search = GridSearchCV(
            AutoencoderTransformer(hidden_layer_sizes=(16,), max_epochs=15, random_state=0),
            {"n_components": [1, 8]},
            cv=2,
            n_jobs=-1,
        )
        with joblib.parallel_backend("dask"):
            search.fit(X)
    assert search.best_params_ == {"n_components": 8}
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert not torch.cuda.is_initialized()


def test_parallel_post_fit_on_a_chunked_dask_array_equals_in_memory(X):
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    import dask

    ae = AutoencoderTransformer(**FAST).fit(X)
    X_dask = da.from_array(X, chunks=(150, 64))
    wrapped = wrappers.ParallelPostFit(estimator=ae)
    with dask.config.set(scheduler="synchronous"):
        codes = wrapped.transform(X_dask).compute()
        scores = X_dask.map_blocks(
            ae.score_samples, drop_axis=1, dtype=np.float64
        ).compute()
    np.testing.assert_allclose(codes, ae.transform(X), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(scores, ae.score_samples(X), rtol=1e-6)
    # A dask array is also a lazily sliced array-like: fit reads it in chunks.
    with dask.config.set(scheduler="synchronous"):
        lazy = AutoencoderTransformer(**FAST).fit(X_dask)
    np.testing.assert_array_equal(lazy.transform(X), ae.transform(X))


# -- Accelerate ------------------------------------------------------------------------
def _accelerable_classes():
    from skae._base import BaseAutoencoder

    return [
        getattr(skae, name)
        for name in skae.__all__
        if isinstance(getattr(skae, name), type)
        and issubclass(getattr(skae, name), BaseAutoencoder)
    ]


@pytest.mark.parametrize("cls", _accelerable_classes(), ids=lambda c: c.__name__)
def test_accelerate_recipe_runs_on_cpu_in_one_process(X, cls):
    pytest.importorskip("accelerate")
    from skae.accelerate import AccelerateEstimatorMixin

    accelerated_cls = type(f"Fast{cls.__name__}", (AccelerateEstimatorMixin, cls), {})
    # The estimator's own engine (noise, KL term, ...) is kept under Accelerate.
    assert issubclass(accelerated_cls._net_class, cls._net_class)
    accelerated = accelerated_cls(**FAST).fit(X)
    plain = cls(**FAST).fit(X)
    assert accelerated.net_.accelerator.num_processes == 1
    np.testing.assert_allclose(
        accelerated.history_[:, "train_loss"], plain.history_[:, "train_loss"], rtol=1e-5
    )
    np.testing.assert_allclose(accelerated.transform(X), plain.transform(X), atol=1e-5)


# -- GPU (skipped without one) ---------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.parametrize("precision", [None, "bf16", "fp16"])
def test_cuda_training_stays_on_the_device(X, precision):
    ae = AutoencoderTransformer(**FAST, device="cuda", precision=precision).fit(X)
    assert next(ae.net_.module_.parameters()).is_cuda
    losses = ae.history_[:, "train_loss"]
    assert losses[-1] < losses[0]
    assert ae.transform(X).shape == (len(X), 4)


@pytest.mark.cuda
def test_cuda_pinned_chunks_give_the_same_model_as_staging(X, monkeypatch):
    staged = AutoencoderTransformer(**FAST, device="cuda").fit(X)
    monkeypatch.setattr(skae._data, "_MAX_DEVICE_SHARE", 0.0)  # force the pinned path
    monkeypatch.setattr(skae._data, "CHUNK_BYTES", 64 * 4 * 128)
    pinned = AutoencoderTransformer(**FAST, device="cuda").fit(X)
    np.testing.assert_allclose(
        pinned.transform(X), staged.transform(X), rtol=1e-4, atol=1e-5
    )


@pytest.mark.cuda
def test_cuda_memmap_and_partial_fit(X, memmap_of):
    ae = AutoencoderTransformer(**FAST, device="cuda").fit(memmap_of(X))
    ae.partial_fit(X[:100])
    scores = ae.score_samples(memmap_of(X))
    np.testing.assert_allclose(scores, ae.score_samples(X), rtol=1e-5)
