"""CPU threads per call (``n_jobs``) and configurable optimizers and modules."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from torch import nn

from skae import AutoencoderTransformer, DenoisingAutoencoder, VAETransformer, _threads
from skae._threads import available_cores, resolve_n_jobs, torch_threads, work_per_batch

X = np.random.default_rng(0).normal(size=(60, 6)).astype(np.float32)
TINY = dict(n_components=2, hidden_layer_sizes=(4,), max_epochs=2, batch_size=16)
ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoder, VAETransformer]


class RecordThreads(Callback):
    """Records torch's thread count in every epoch into the list it was given."""

    def __init__(self, seen: list) -> None:
        self.seen = seen

    def __deepcopy__(self, memo):  # skae copies its callbacks: keep the same list
        return self

    def on_epoch_end(self, net, **kwargs):
        self.seen.append(torch.get_num_threads())


@pytest.fixture
def two_threads():
    """Run a test with torch at two threads (so that 1 is a visible change)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


# -- the automatic choice -----------------------------------------------------------
def test_resolve_n_jobs():
    small, large = _threads.MIN_PARALLEL_WORK / 10, _threads.MIN_PARALLEL_WORK * 10
    assert resolve_n_jobs(None, small) == 1
    assert resolve_n_jobs(None, large) is None  # keep torch's setting
    assert resolve_n_jobs(3, small) == 3
    assert resolve_n_jobs(-1, small) == available_cores()
    with pytest.raises(ValueError, match="n_jobs"):
        resolve_n_jobs(0, small)


def test_work_per_batch_counts_rows_parameters_and_positions():
    module = nn.Linear(10, 5)  # 55 parameters
    assert work_per_batch(module, 32) == 32 * 55
    assert work_per_batch(module, 32, positions=64) == 32 * 55 * 64


# -- torch_threads restores what it changed ------------------------------------------
def test_torch_threads_sets_and_restores_even_on_error(two_threads):
    with torch_threads(1):
        assert torch.get_num_threads() == 1
        with torch_threads(2):
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError, match="boom"), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2
    with torch_threads(None):
        assert torch.get_num_threads() == 2


def test_torch_threads_with_a_process_wide_setting(monkeypatch):
    """Where torch keeps one count per process, overlapping blocks in several
    threads restore it once the last ends, whatever order they end in."""
    state = {"n": 4}
    monkeypatch.setattr(torch, "get_num_threads", lambda: state["n"])
    monkeypatch.setattr(torch, "set_num_threads", lambda n: state.update(n=n))
    monkeypatch.setattr(_threads, "_setting_is_per_thread", lambda: False)
    second_in, first_out = threading.Event(), threading.Event()
    seen = {}

    def first():
        with torch_threads(1):
            second_in.wait()
        seen["after first left"] = state["n"]
        first_out.set()

    def second():
        with torch_threads(2):
            second_in.set()
            first_out.wait()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["after first left"] == 2  # the second block still runs on its count
    assert state["n"] == 4  # restored once the last block ended


# -- estimators apply n_jobs to fit and inference, and restore torch's setting --------
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_small_network_fits_on_one_thread_and_restores(cls, two_threads):
    seen = []
    est = cls(**TINY, callbacks=[RecordThreads(seen)], random_state=0).fit(X)
    assert seen == [1, 1]
    assert torch.get_num_threads() == 2
    est.score_samples(X)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("n_jobs, expected", [(2, 2), (1, 1), (-1, None)])
def test_n_jobs_sets_the_threads_of_fit(n_jobs, expected, two_threads):
    seen = []
    AutoencoderTransformer(
        **TINY, n_jobs=n_jobs, callbacks=[RecordThreads(seen)], random_state=0
    ).fit(X)
    assert seen == [expected or available_cores()] * 2
    assert torch.get_num_threads() == 2


def test_large_network_keeps_torchs_setting(monkeypatch, two_threads):
    monkeypatch.setattr(_threads, "MIN_PARALLEL_WORK", 1.0)  # every network is "large"
    seen = []
    est = AutoencoderTransformer(**TINY, callbacks=[RecordThreads(seen)], random_state=0)
    est.fit(X)
    assert seen == [2, 2]
    # Adam's fused CPU kernel is used on one thread only.
    assert not est.net_.optimizer_.defaults.get("fused")


def test_one_thread_cpu_fit_uses_fused_adam():
    est = AutoencoderTransformer(**TINY, random_state=0).fit(X)
    assert est.net_.optimizer_.defaults["fused"] is True
    est = AutoencoderTransformer(
        **TINY, optimizer_kwargs=dict(foreach=True), random_state=0
    ).fit(X)
    assert not est.net_.optimizer_.defaults.get("fused")
    assert est.net_.optimizer_.defaults["foreach"] is True


class RecordingAutoencoder(nn.Module):
    """A custom module (built from a class with module_kwargs) that records threads."""

    def __init__(self, n_features, n_components, width=3, seen=None):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(n_features, width), nn.ReLU())
        self.code = nn.Linear(width, n_components)
        self.dec = nn.Linear(n_components, n_features)
        self.seen = seen if seen is not None else []

    def encode(self, x):
        self.seen.append(torch.get_num_threads())
        return self.code(self.enc(x))

    def decode(self, z):
        return self.dec(z)

    def forward(self, x):
        return self.decode(self.encode(x))


def test_inference_and_scoring_use_n_jobs(two_threads):
    seen = []
    est = AutoencoderTransformer(
        module=RecordingAutoencoder,
        module_kwargs=dict(width=5, seen=seen),
        max_epochs=1,
        random_state=0,
    ).fit(X)
    assert est.net_.module_.enc[0].out_features == 5  # module_kwargs were used
    for method in ("transform", "reconstruct", "reconstruction_error", "score_samples"):
        seen.clear()
        getattr(est, method)(X)
        assert seen and set(seen) == {1}, method
        assert torch.get_num_threads() == 2
    est.set_params(n_jobs=2)
    seen.clear()
    est.transform(X)
    assert set(seen) == {2}


def test_concurrent_fits_are_right_and_restore_threads(two_threads):
    seeds = [0, 1, 2, 3]
    fitted = [AutoencoderTransformer(**TINY, random_state=s).fit(X) for s in seeds]
    expected = [est.transform(X) for est in fitted]
    expected_error = [est.reconstruction_error(X).mean() for est in fitted]

    def fit(seed):
        before = torch.get_num_threads()
        est = AutoencoderTransformer(**TINY, random_state=seed).fit(X)
        return est.reconstruction_error(X).mean(), before, torch.get_num_threads()

    def transform(est):
        before = torch.get_num_threads()
        return est.transform(X), before, torch.get_num_threads()

    with ThreadPoolExecutor(max_workers=4) as pool:
        fits = list(pool.map(fit, seeds))
        codes = list(pool.map(transform, fitted * 3))
    for (error, before, after), reference in zip(fits, expected_error, strict=True):
        # Seeded training runs one fit at a time (torch's generator is shared
        # by the threads), so each concurrent fit is exactly the fit run alone.
        assert np.isfinite(error) and error == reference
        assert after == before
    for (code, before, after), reference in zip(codes, expected * 3, strict=True):
        np.testing.assert_array_equal(code, reference)
        assert after == before
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("n_jobs", [0, -2, 1.5, "4"])
def test_bad_n_jobs_is_refused(n_jobs):
    with pytest.raises(ValueError, match="n_jobs"):
        AutoencoderTransformer(**TINY, n_jobs=n_jobs).fit(X)


# -- optimizers -------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_optimizer_class_and_kwargs(cls):
    est = cls(
        **TINY,
        optimizer=torch.optim.SGD,
        optimizer_kwargs=dict(momentum=0.9, nesterov=True),
        lr=0.01,
        weight_decay=1e-4,
        random_state=0,
    ).fit(X)
    optimizer = est.net_.optimizer_
    assert type(optimizer) is torch.optim.SGD
    group = optimizer.param_groups[0]
    assert (group["momentum"], group["nesterov"], group["lr"], group["weight_decay"]) == (
        0.9,
        True,
        0.01,
        1e-4,
    )


def test_optimizer_kwargs_change_training():
    plain = AutoencoderTransformer(**TINY, optimizer="sgd", lr=0.05, random_state=0)
    momentum = AutoencoderTransformer(
        **TINY,
        optimizer="sgd",
        lr=0.05,
        optimizer_kwargs=dict(momentum=0.9),
        random_state=0,
    )
    assert not np.array_equal(plain.fit(X).transform(X), momentum.fit(X).transform(X))


class KeywordOnlyOptimizer(torch.optim.SGD):
    """An optimizer outside torch.optim without a weight_decay argument."""

    def __init__(self, params, lr=0.01, *, momentum=0.0):
        super().__init__(params, lr=lr, momentum=momentum)


def test_custom_optimizer_subclass():
    est = AutoencoderTransformer(
        **TINY, optimizer=KeywordOnlyOptimizer, optimizer_kwargs=dict(momentum=0.5)
    ).fit(X)
    assert type(est.net_.optimizer_) is KeywordOnlyOptimizer
    with pytest.raises(ValueError, match=r"\['weight_decay'\].*KeywordOnlyOptimizer"):
        AutoencoderTransformer(
            **TINY, optimizer=KeywordOnlyOptimizer, weight_decay=0.1
        ).fit(X)


@pytest.mark.parametrize(
    "params, error, match",
    [
        (
            dict(optimizer="sgd", optimizer_kwargs=dict(momentun=0.9)),
            ValueError,
            "momentun",
        ),
        (dict(optimizer="sgd", optimizer_kwargs=dict(momentum=-1)), ValueError, "momentum"),
        (dict(optimizer_kwargs=dict(lr=0.1)), ValueError, "lr parameter"),
        (
            dict(optimizer_kwargs=dict(weight_decay=0.1)),
            ValueError,
            "weight_decay parameter",
        ),
        (dict(optimizer_kwargs=dict(betas=(2.0, 0.9))), ValueError, "Adam refused.*betas"),
        (dict(optimizer=nn.Linear), TypeError, "torch.optim.Optimizer"),
        (dict(optimizer=int), TypeError, "torch.optim.Optimizer"),
        (dict(optimizer_kwargs=[("momentum", 0.9)]), ValueError, "optimizer_kwargs"),
        (dict(module_kwargs=dict(width=3)), ValueError, "module_kwargs.*module is None"),
        (
            dict(module=RecordingAutoencoder, module_kwargs=dict(widht=3)),
            ValueError,
            "widht",
        ),
        (
            dict(module=RecordingAutoencoder(6, 2), module_kwargs=dict(width=3)),
            ValueError,
            "module instance",
        ),
    ],
    ids=[
        "unknown_kwarg",
        "bad_value",
        "lr",
        "weight_decay",
        "bad_betas",
        "module_class",
        "int",
        "not_a_dict",
        "module_kwargs_without_module",
        "unknown_module_kwarg",
        "module_kwargs_with_instance",
    ],
)
def test_bad_optimizer_and_module_arguments_are_refused_by_skae(params, error, match):
    est = AutoencoderTransformer(**TINY, random_state=0).fit(X)
    codes = est.transform(X)
    with pytest.raises(error, match=match):
        est.set_params(**params).fit(X)
    # A failed fit leaves the fitted estimator as it was.
    np.testing.assert_array_equal(est.transform(X), codes)
