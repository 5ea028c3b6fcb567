"""Safe model files (``save``/``skae.load``) and pickle, over every public estimator."""

from __future__ import annotations

import json
import pickle
import struct

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from _skae_estimators import CLASS_IDS, CLASSES, make, row_methods, training_data
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import RobustScaler
from sklearn.utils.validation import check_is_fitted
from torch import nn

import skae
from skae import _persistence as persistence
from skae._persistence import (
    ESTIMATOR_FORMAT_VERSION,
    FORMAT_VERSION,
    PersistenceMixin,
    _checksum,
)

per_estimator = pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)

X = training_data(n_samples=40)


def all_outputs(est, X):
    out = {m: getattr(est, m)(X) for m in row_methods(est)}
    if hasattr(est, "inverse_transform") and hasattr(est, "transform"):
        out["inverse_transform"] = est.inverse_transform(out["transform"])
    return out


def assert_same_outputs(a, b, X):
    expected, got = all_outputs(a, X), all_outputs(b, X)
    assert expected.keys() == got.keys()
    for method in expected:
        np.testing.assert_array_equal(np.asarray(got[method]), np.asarray(expected[method]))


def assert_same_params(a, b):
    assert type(a) is type(b)
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    assert pa.keys() == pb.keys()
    for key in pa:
        if hasattr(pa[key], "get_params"):
            assert_same_params(pa[key], pb[key])
        elif isinstance(pa[key], float) and np.isnan(pa[key]):  # missing_values=np.nan
            assert isinstance(pb[key], float) and np.isnan(pb[key]), key
        else:
            assert pa[key] == pb[key] and type(pa[key]) is type(pb[key]), key


def save(est, path):
    if not hasattr(est, "save"):
        pytest.fail(
            f"{type(est).__name__} has no save(): add skae._persistence.PersistenceMixin "
            "to its bases (and, if its fitted state needs it, the _get_persist_state / "
            "_set_persist_state hooks)."
        )
    est.save(path)


class SavedModels(dict):
    """{class name: (fitted estimator, path of its file)}, filled on first use."""

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def __missing__(self, name):
        est = make(next(c for c in CLASSES if c.__name__ == name)).fit(X)
        path = self.folder / f"{name}.safetensors"
        save(est, path)
        self[name] = est, path
        return self[name]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return SavedModels(tmp_path_factory.mktemp("models"))


# -- round trips -----------------------------------------------------------------------
@per_estimator
def test_round_trip_gives_identical_outputs(cls, saved):
    est, path = saved[cls.__name__]
    loaded = skae.load(path)
    assert_same_params(loaded, est)
    assert_same_outputs(est, loaded, X)
    assert loaded.n_features_in_ == est.n_features_in_


@per_estimator
def test_round_trip_keeps_feature_names_and_pandas_output(cls, tmp_path):
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    est = make(cls).fit(frame)
    if hasattr(est, "set_output"):
        est.set_output(transform="pandas")
    save(est, tmp_path / "m.safetensors")
    loaded = skae.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded.feature_names_in_, frame.columns)
    assert_same_outputs(est, loaded, frame)
    if hasattr(est, "transform"):
        pd.testing.assert_frame_equal(loaded.transform(frame), est.transform(frame))


@per_estimator
def test_unfitted_estimator_round_trips_unfitted(cls, tmp_path):
    est = make(cls, max_epochs=3)
    save(est, tmp_path / "m.safetensors")
    loaded = skae.load(tmp_path / "m.safetensors")
    assert_same_params(loaded, est)
    with pytest.raises(NotFittedError):
        check_is_fitted(loaded)


@per_estimator
def test_loaded_model_refits_like_the_original(cls, saved):
    _, path = saved[cls.__name__]
    refit = skae.load(path).fit(X)
    assert_same_outputs(make(cls).fit(X), refit, X)


def test_load_leaves_the_global_torch_rng_alone(saved):
    _, path = saved["AutoencoderTransformer"]
    state = torch.random.get_rng_state()
    skae.load(path)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_file_records_versions_and_fitted_attributes(saved):
    est, path = saved["AutoencoderTransformer"]
    metadata, _ = read_file(path)
    body = json.loads(metadata["skae"])
    # One estimator is written in format version 1, which every skae reads.
    assert body["format_version"] == ESTIMATOR_FORMAT_VERSION == 1
    import sklearn

    assert body["versions"]["skae"] == skae.__version__
    assert body["versions"]["torch"] == torch.__version__
    assert body["versions"]["scikit-learn"] == sklearn.__version__
    state = body["estimator"]["state"]
    assert body["estimator"]["$estimator"] == "AutoencoderTransformer"
    assert state["n_features_in_"] == X.shape[1] and state["n_epochs_"] == est.n_epochs_


# -- parameters that cannot be stored as JSON ------------------------------------------
class TinyModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.dec = nn.Linear(4, 2), nn.Linear(2, 4)

    def encode(self, x):
        return self.enc(x)

    def decode(self, z):
        return self.dec(z)


class HandMadeSGD(torch.optim.SGD):
    """An optimizer class from outside torch.optim: save() must refuse it."""


@pytest.mark.parametrize(
    "params, name",
    [
        (dict(module=TinyModule()), "module"),
        (dict(callbacks=[torch.nn.Identity()]), "callbacks"),
        (dict(optimizer=HandMadeSGD), "optimizer"),
        (dict(random_state=np.random.RandomState(0)), "random_state"),
    ],
    ids=["torch_module", "callbacks", "optimizer_outside_torch_optim", "RandomState"],
)
@per_estimator
def test_parameters_that_are_not_json_make_save_raise(cls, params, name, tmp_path):
    est = make(cls, **params)
    with pytest.raises(TypeError, match=rf"Cannot save parameter .*{name}.*JSON"):
        save(est, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


# -- optimizer classes of torch.optim are stored by import path ------------------------
@per_estimator
@pytest.mark.parametrize(
    "optimizer", [torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW]
)
def test_torch_optimizer_class_round_trips(cls, optimizer, tmp_path):
    est = make(cls, optimizer=optimizer, optimizer_kwargs=dict(maximize=False), n_jobs=1)
    path = tmp_path / "m.safetensors"
    save(est.fit(X), path)
    loaded = skae.load(path)
    assert_same_params(loaded, est)
    assert_same_outputs(est, loaded, X)
    inner = getattr(loaded, "estimator", None) or loaded
    assert inner.optimizer is optimizer
    assert inner.optimizer_kwargs == {"maximize": False}
    # The loaded estimator refits with that optimizer.
    refit = loaded.fit(X)
    trained = refit.net_ if hasattr(refit, "net_") else refit.estimator_.net_
    assert type(trained.optimizer_) is optimizer


@pytest.mark.parametrize(
    "name",
    [
        "os.system",
        "builtins.eval",
        "torch.optim.lr_scheduler.StepLR",
        "torch.optim.SGD.__init__",
        "torch.optim.NoSuchOptimizer",
        "torch.optim.Optimizer.__subclasses__",
        "torch.nn.Linear",
        42,
    ],
)
def test_only_torch_optim_optimizers_are_loaded(tmp_path, name):
    est = make(skae.AutoencoderTransformer, optimizer=torch.optim.SGD)
    path = save_and_return(est, tmp_path / "m.safetensors")

    def edit(body):
        assert body["estimator"]["params"]["optimizer"] == {"$optimizer": "torch.optim.SGD"}
        body["estimator"]["params"]["optimizer"] = {"$optimizer": name}

    bad = rewrite(path, tmp_path / "bad.safetensors", edit_body=edit)
    with pytest.raises(ValueError, match=r"only optimizer classes of torch\.optim"):
        skae.load(bad)


def save_and_return(est, path):
    save(est, path)
    return path


# -- files that must be refused --------------------------------------------------------
def read_file(path):
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + size])["__metadata__"], load_tensors(data)


def rewrite(path, out, edit_body=None, edit_tensors=None, fix_checksum=True):
    """Write ``out``: ``path`` with its JSON/tensors edited (checksum recomputed)."""
    metadata, tensors = read_file(path)
    body = json.loads(metadata["skae"])
    if edit_body:
        edit_body(body)
    if edit_tensors:
        edit_tensors(tensors)
    document = json.dumps(body)
    checksum = _checksum(document, tensors) if fix_checksum else metadata["sha256"]
    out.write_bytes(save_tensors(tensors, metadata={"skae": document, "sha256": checksum}))
    return out


def first_weight(tensors):
    return next(k for k in sorted(tensors) if k.endswith("weight"))


def test_newer_format_version_is_refused(saved, tmp_path):
    _, path = saved["AutoencoderTransformer"]

    def newer(body):
        body["format_version"] = FORMAT_VERSION + 1
        body["versions"]["skae"] = "99.0"

    bad = rewrite(path, tmp_path / "new.safetensors", edit_body=newer)
    newer_version = rf"format version {FORMAT_VERSION + 1}\b"
    with pytest.raises(ValueError, match=rf"skae 99\.0 .*{newer_version}.*Upgrade skae"):
        skae.load(bad)


@pytest.mark.parametrize("keep", [0, 5, 8, 100, 0.5, -1], ids=lambda k: f"keep={k}")
def test_truncated_files_are_refused(saved, tmp_path, keep):
    _, path = saved["AutoencoderTransformer"]
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[:n])
    with pytest.raises(ValueError, match=r"truncated|not a skae model file"):
        skae.load(bad)


def test_changed_weights_are_detected(saved, tmp_path):
    _, path = saved["AutoencoderTransformer"]

    def nudge(tensors):
        tensors[first_weight(tensors)][0, 0] += 1e-3

    bad = rewrite(path, tmp_path / "t.safetensors", edit_tensors=nudge, fix_checksum=False)
    with pytest.raises(ValueError, match="modified or corrupted"):
        skae.load(bad)


def test_flipped_byte_is_detected(saved, tmp_path):
    _, path = saved["AutoencoderTransformer"]
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # inside the last tensor
    (tmp_path / "f.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="modified or corrupted"):
        skae.load(tmp_path / "f.safetensors")


def test_edited_parameters_are_detected(saved, tmp_path):
    _, path = saved["AutoencoderTransformer"]

    def edit(body):
        body["estimator"]["params"]["lr"] = 0.5

    bad = rewrite(path, tmp_path / "p.safetensors", edit_body=edit, fix_checksum=False)
    with pytest.raises(ValueError, match="modified or corrupted"):
        skae.load(bad)


def test_weights_not_matching_the_parameters_are_refused(saved, tmp_path):
    # A consistent file (checksum recomputed) whose parameters build a wider net.
    _, path = saved["AutoencoderTransformer"]

    def wider(body):
        body["estimator"]["params"]["hidden_layer_sizes"] = {"$tuple": [8]}

    bad = rewrite(path, tmp_path / "w.safetensors", edit_body=wider)
    with pytest.raises(ValueError, match="weights in the file do not match"):
        skae.load(bad)


@pytest.mark.parametrize(
    "name", ["subprocess.Popen", "os.system", "builtins.eval", "sklearn.pipeline.Pipeline"]
)
def test_only_whitelisted_classes_are_loaded(saved, tmp_path, name):
    _, path = saved["AutoencoderTransformer"]

    def evil(body):
        body["estimator"]["$estimator"] = name

    bad = rewrite(path, tmp_path / "e.safetensors", edit_body=evil)
    with pytest.raises(ValueError, match="does not load"):
        skae.load(bad)


@pytest.mark.parametrize("attribute", ["__class__", "__dict__", "transform", "fit"])
def test_files_can_only_set_fitted_attributes(saved, tmp_path, attribute):
    _, path = saved["AutoencoderTransformer"]

    def inject(body):
        body["estimator"]["state"][attribute] = "x"

    bad = rewrite(path, tmp_path / "a.safetensors", edit_body=inject)
    with pytest.raises(ValueError, match="only fitted attributes"):
        skae.load(bad)


def test_pickles_and_other_files_are_not_model_files(saved, tmp_path):
    est, _ = saved["AutoencoderTransformer"]
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(est))
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(save_tensors({"w": torch.zeros(2)}))
    for path in (pickled, plain):
        with pytest.raises(ValueError, match="not a skae model file"):
            skae.load(path)


# -- pickle and joblib keep working ----------------------------------------------------
@per_estimator
@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickle_and_joblib_round_trip(cls, saved, dump, tmp_path):
    est, _ = saved[cls.__name__]
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(est))
    else:
        joblib.dump(est, tmp_path / "m.joblib")
        loaded = joblib.load(tmp_path / "m.joblib")
    assert_same_outputs(est, loaded, X)


@pytest.mark.cuda
@per_estimator
def test_gpu_fitted_model_loads_on_cpu(cls, tmp_path):
    est = make(cls, device="cuda").fit(X)
    save(est, tmp_path / "m.safetensors")
    loaded = skae.load(tmp_path / "m.safetensors")
    assert next(trainer_net(loaded).module_.parameters()).device.type == "cpu"
    for method, value in all_outputs(est, X).items():
        np.testing.assert_allclose(
            all_outputs(loaded, X)[method], value, rtol=1e-4, atol=1e-5
        )


def trainer_net(est):
    return getattr(est, "estimator_", est).net_


# -- the generic hooks carry a meta-estimator with no persistence code of its own --------
class ToyDetector(PersistenceMixin, BaseEstimator):
    """Shaped like AnomalyDetector: inner skae estimator, fitted scaler, thresholds."""

    def __init__(self, estimator=None, contamination=0.1):
        self.estimator = estimator
        self.contamination = contamination

    def fit(self, X, y=None):
        self.scaler_ = RobustScaler().fit(X)
        self.estimator_ = clone(self.estimator).fit(self.scaler_.transform(X))
        self.train_scores_ = self.score_samples(X)
        self.offset_ = float(np.quantile(self.train_scores_, self.contamination))
        self.bounds_ = (-np.inf, float("nan"))
        self.n_features_in_ = X.shape[1]
        return self

    def score_samples(self, X):
        return self.estimator_.score_samples(self.scaler_.transform(X))


def test_meta_estimator_round_trips_through_the_default_hooks(tmp_path):
    # Registered by PersistenceMixin when the class was defined.
    assert persistence._whitelist()[f"{__name__}.ToyDetector"] is ToyDetector
    inner = skae.AutoencoderTransformer(
        hidden_layer_sizes=(4,), max_epochs=2, random_state=0
    )
    est = ToyDetector(inner).fit(X * 50)
    est.save(tmp_path / "toy.safetensors")
    loaded = skae.load(tmp_path / "toy.safetensors")
    assert_same_params(loaded, est)
    np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))
    np.testing.assert_array_equal(loaded.train_scores_, est.train_scores_)
    assert loaded.offset_ == est.offset_ and type(loaded.scaler_) is RobustScaler
    assert loaded.bounds_[0] == -np.inf and np.isnan(loaded.bounds_[1])


class WiderAutoencoder(skae.AutoencoderTransformer):
    """A user's subclass: saved under its module and name, loaded once defined."""


def test_user_subclass_round_trips(tmp_path):
    est = WiderAutoencoder(hidden_layer_sizes=(4,), max_epochs=2, random_state=0).fit(X)
    est.save(tmp_path / "sub.safetensors")
    loaded = skae.load(tmp_path / "sub.safetensors")
    assert type(loaded) is WiderAutoencoder
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_a_class_outside_the_mixin_cannot_be_saved(tmp_path):
    class Plain(BaseEstimator):
        pass

    with pytest.raises(TypeError, match="cannot be saved"):
        persistence.save_estimator(Plain(), tmp_path / "p.safetensors")


# -- renamed parameters: files written with the old names still load -------------------
def test_denoiser_file_written_with_clip_loads_under_value_range(tmp_path):
    # A 0.1 file names the range clip and knows no value_range.
    params = dict(
        noise="salt_pepper", hidden_layer_sizes=(4,), max_epochs=2, random_state=0
    )
    est = skae.DenoisingAutoencoder(value_range=(0, 1), **params).fit(X)
    path = save_and_return(est, tmp_path / "new.safetensors")

    def as_in_0_1(body):
        saved = body["estimator"]["params"]
        assert saved.pop("clip") == "deprecated"
        saved["clip"] = saved.pop("value_range")
        body["versions"]["skae"] = "0.1.0"

    old = rewrite(path, tmp_path / "old.safetensors", edit_body=as_in_0_1)
    assert "value_range" not in read_file(old)[0]["skae"]
    loaded = skae.load(old)  # no FutureWarning: warnings are errors here
    assert loaded.value_range == (0, 1) and loaded.clip == "deprecated"
    assert loaded.net_.value_range == (0.0, 1.0)
    assert_same_params(loaded, est)
    assert_same_outputs(loaded, est, X)
    clone(loaded).fit(X)  # refits under the new name, without a warning


def test_both_names_of_a_renamed_parameter_in_a_file_are_refused(tmp_path):
    est = skae.DenoisingAutoencoder(
        value_range=(0, 1), hidden_layer_sizes=(4,), max_epochs=1
    )
    path = save_and_return(est, tmp_path / "new.safetensors")

    def both(body):
        body["estimator"]["params"]["clip"] = {"$tuple": [-1, 2]}

    bad = rewrite(path, tmp_path / "both.safetensors", edit_body=both)
    with pytest.raises(ValueError, match="sets both clip and value_range"):
        skae.load(bad)


class Renamed(PersistenceMixin, BaseEstimator):
    """An estimator whose parameter ``old`` was renamed ``new`` and then removed."""

    _renamed_params = {"old": "new"}

    def __init__(self, new=None):
        self.new = new


@pytest.mark.parametrize(
    "saved_params, new",
    [
        ({"old": 5}, 5),  # written before the rename
        ({"old": "deprecated", "new": 3}, 3),  # written while old was deprecated
        ({"old": 5, "new": None}, 5),  # the deprecated name was used then
        ({"new": 3}, 3),
    ],
)
def test_renamed_parameters_load_after_the_old_name_is_gone(tmp_path, saved_params, new):
    path = save_and_return(Renamed(), tmp_path / "r.safetensors")

    def with_params(body):
        body["estimator"]["params"] = saved_params

    loaded = skae.load(
        rewrite(path, tmp_path / "edited.safetensors", edit_body=with_params)
    )
    assert type(loaded) is Renamed and loaded.get_params() == {"new": new}
