"""``skae.save``/``skae.load`` of scikit-learn pipelines holding skae estimators."""

from __future__ import annotations

import doctest
import importlib.util
import io
import json
import os
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _skae_estimators import TINY, make, training_data
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from sklearn.compose import make_column_transformer
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline, make_union
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

import skae
from skae import _persistence as persistence
from skae._persistence import ESTIMATOR_FORMAT_VERSION, FORMAT_VERSION, _checksum

needs_skops = pytest.mark.skipif(
    importlib.util.find_spec("skops") is None,
    reason="skops is not installed (pip install skae[skops])",
)

X = training_data(n_samples=40)
y = (X[:, 0] > np.median(X[:, 0])).astype(int)
AE = dict(TINY, random_state=0)


def _double(X):
    """A module-level function: importable, so savable, but not trusted by default."""
    return 2 * X


def frame():
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df["kind"] = pd.Categorical(np.where(X[:, 1] > 0.5, "high", "low"))
    return df


def round_trip(est, tmp_path, **load_kwargs):
    path = tmp_path / "model.safetensors"
    skae.save(est, path)
    return skae.load(path, **load_kwargs)


def read_body(path):
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    metadata = json.loads(data[8 : 8 + size])["__metadata__"]
    return json.loads(metadata["skae"]), load_tensors(data)


def write_body(path, body, tensors):
    document = json.dumps(body)
    metadata = {"skae": document, "sha256": _checksum(document, tensors)}
    path.write_bytes(save_tensors(tensors, metadata=metadata))


def edit_schema(src, out, edit):
    """``src`` with the skops schema of its skeleton edited and the checksum redone."""
    body, tensors = read_body(src)
    name = body["composite"]["skeleton"]["$skops"]
    archive = zipfile.ZipFile(io.BytesIO(tensors[name].numpy().tobytes()))
    files = {n: archive.read(n) for n in archive.namelist()}
    schema = json.loads(files["schema.json"])
    edit(schema)
    files["schema.json"] = json.dumps(schema).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for n, content in files.items():
            z.writestr(n, content)
    tensors[name] = torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)
    write_body(out, body, tensors)
    return out


# -- round trips -----------------------------------------------------------------------
@needs_skops
def test_pipeline_round_trip_gives_identical_predictions(tmp_path):
    model = make_pipeline(
        StandardScaler(), skae.AutoencoderTransformer(**AE), LogisticRegression()
    ).fit(X, y)
    loaded = round_trip(model, tmp_path)
    assert type(loaded) is Pipeline and [n for n, _ in loaded.steps] == [
        n for n, _ in model.steps
    ]
    assert type(loaded[1]) is skae.AutoencoderTransformer
    assert loaded[1].get_params() == model[1].get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded[:-1].transform(X), model[:-1].transform(X))
    np.testing.assert_array_equal(loaded[1].reconstruct(X), model[1].reconstruct(X))


@needs_skops
def test_column_transformer_with_a_skae_step_on_some_columns(tmp_path):
    df = frame()
    columns = make_column_transformer(
        (skae.DenoisingAutoencoder(**AE), ["a", "b", "c"]),
        (OneHotEncoder(sparse_output=False), ["kind"]),
        remainder="passthrough",
    ).set_output(transform="pandas")
    model = make_pipeline(columns, LogisticRegression()).fit(df, y)
    loaded = round_trip(model, tmp_path)
    expected, got = model[0].transform(df), loaded[0].transform(df)
    assert isinstance(got, pd.DataFrame) and list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected)
    np.testing.assert_array_equal(loaded.predict_proba(df), model.predict_proba(df))
    # The unfitted template and the fitted clone stay two estimators.
    template, fitted = loaded[0].transformers[0][1], loaded[0].transformers_[0][1]
    assert template is not fitted
    with pytest.raises(NotFittedError):
        check_is_fitted(template)
    check_is_fitted(fitted)


@needs_skops
def test_nested_pipeline_and_feature_union(tmp_path):
    inner = make_pipeline(StandardScaler(), skae.VAETransformer(**AE))
    model = make_pipeline(
        make_union(PCA(n_components=2), inner, skae.AutoencoderTransformer(**AE)),
        LogisticRegression(),
    ).fit(X, y)
    loaded = round_trip(model, tmp_path)
    np.testing.assert_array_equal(loaded[0].transform(X), model[0].transform(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    union = loaded[0].transformer_list
    assert type(union[1][1][1]) is skae.VAETransformer
    assert type(union[2][1]) is skae.AutoencoderTransformer


@needs_skops
def test_anomaly_detector_in_a_pipeline(tmp_path):
    model = make_pipeline(StandardScaler(), make(skae.AnomalyDetector)).fit(X)
    loaded = round_trip(model, tmp_path)
    for method in ("predict", "score_samples", "decision_function"):
        np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(model, method)(X))
    assert loaded[-1].offset_ == model[-1].offset_


@needs_skops
def test_unfitted_pipeline_round_trips_unfitted_and_refits_alike(tmp_path):
    model = make_pipeline(StandardScaler(), skae.AutoencoderTransformer(**AE))
    loaded = round_trip(model, tmp_path)
    assert repr(loaded) == repr(model)
    with pytest.raises(NotFittedError):
        check_is_fitted(loaded[1])
    np.testing.assert_array_equal(loaded.fit(X).transform(X), model.fit(X).transform(X))


@needs_skops
def test_scikit_learn_estimator_without_skae_steps(tmp_path):
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    loaded = round_trip(model, tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@needs_skops
def test_file_format_versions(tmp_path):
    # One estimator: format version 1, which every skae reads; a composite: 2.
    skae.save(skae.AutoencoderTransformer(**AE), tmp_path / "one.safetensors")
    skae.save(make_pipeline(skae.AutoencoderTransformer(**AE)), tmp_path / "p.safetensors")
    one, _ = read_body(tmp_path / "one.safetensors")
    composite, _ = read_body(tmp_path / "p.safetensors")
    assert one["format_version"] == ESTIMATOR_FORMAT_VERSION == 1
    assert composite["format_version"] == FORMAT_VERSION == 2
    assert composite["versions"]["skops"]
    [step] = composite["composite"]["estimators"]
    assert step["path"] == "Pipeline.steps['autoencodertransformer']"
    # The loader of single estimators points to skae.load.
    with pytest.raises(ValueError, match=r"skae\.load"):
        persistence.load(tmp_path / "p.safetensors")


# -- trusted types ---------------------------------------------------------------------
@needs_skops
def test_user_function_needs_trust_to_load(tmp_path):
    model = make_pipeline(FunctionTransformer(_double), skae.AutoencoderTransformer(**AE))
    model.fit(X)
    path = tmp_path / "f.safetensors"
    skae.save(model, path)
    name = f"{_double.__module__}._double"
    with pytest.raises(ValueError, match="not trusted by default") as info:
        skae.load(path)
    assert name in str(info.value)
    loaded = skae.load(path, trusted=[name])
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


@needs_skops
def test_tree_models_need_trust_as_in_skops(tmp_path):
    model = make_pipeline(
        skae.AutoencoderTransformer(**AE),
        RandomForestClassifier(n_estimators=2, random_state=0),
    ).fit(X, y)
    path = tmp_path / "t.safetensors"
    skae.save(model, path)
    with pytest.raises(ValueError, match=r"sklearn\.tree\._tree\.Tree"):
        skae.load(path)
    import skops.io

    trusted = [
        t
        for t in skops.io.get_untrusted_types(data=skops.io.dumps(model[-1]))
        if t.startswith(("sklearn.", "numpy."))
    ]
    loaded = skae.load(path, trusted=trusted)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@needs_skops
@pytest.mark.parametrize("trusted", ["sklearn.tree._tree.Tree", [os.system], True])
def test_trusted_must_be_a_list_of_names(tmp_path, trusted):
    skae.save(make_pipeline(StandardScaler()), tmp_path / "p.safetensors")
    with pytest.raises(TypeError, match="trusted must"):
        skae.load(tmp_path / "p.safetensors", trusted=trusted)


# -- tampered files --------------------------------------------------------------------
@pytest.fixture
def pipeline_file(tmp_path):
    pytest.importorskip("skops")
    model = make_pipeline(StandardScaler(), skae.AutoencoderTransformer(**AE)).fit(X)
    skae.save(model, tmp_path / "p.safetensors")
    return tmp_path / "p.safetensors"


def placeholders(node):
    """The nodes of a skops schema that stand for a skae estimator."""
    if isinstance(node, dict):
        if node.get("__module__") == "skae._io" and node.get("__class__") == "_SkaeStep":
            yield node
        for value in node.values():
            yield from placeholders(value)
    elif isinstance(node, list):
        for value in node:
            yield from placeholders(value)


@pytest.mark.parametrize(
    "module, name", [("posix", "system"), ("builtins", "eval"), ("subprocess", "Popen")]
)
def test_tampered_file_naming_an_untrusted_type_is_refused(
    pipeline_file, tmp_path, monkeypatch, module, name
):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))

    def evil(schema):
        [node] = placeholders(schema)
        node.update(__module__=module, __class__=name)

    bad = edit_schema(pipeline_file, tmp_path / "bad.safetensors", evil)
    with pytest.raises(ValueError, match="not trusted by default") as info:
        skae.load(bad)
    assert f"{module}.{name}" in str(info.value)
    assert calls == []


def test_tampered_placeholder_index_is_refused(pipeline_file, tmp_path):
    def out_of_range(schema):
        [node] = placeholders(schema)
        index = node["content"]["content"]["index"]
        assert index["content"] == "0"
        index["content"] = "7"

    bad = edit_schema(pipeline_file, tmp_path / "bad.safetensors", out_of_range)
    with pytest.raises(ValueError, match="placeholder names skae estimator 7 of 1"):
        skae.load(bad)


def test_changed_skeleton_without_new_checksum_is_detected(pipeline_file, tmp_path):
    body, tensors = read_body(pipeline_file)
    data = pipeline_file.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    sha = json.loads(data[8 : 8 + size])["__metadata__"]["sha256"]
    tensors["composite.skops"][-1] ^= 1
    document = json.dumps(body)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(save_tensors(tensors, metadata={"skae": document, "sha256": sha}))
    with pytest.raises(ValueError, match="modified or corrupted"):
        skae.load(bad)


def test_skeleton_that_is_not_a_skops_archive_is_refused(pipeline_file, tmp_path):
    body, tensors = read_body(pipeline_file)
    tensors["composite.skops"] = torch.zeros(16, dtype=torch.uint8)
    write_body(tmp_path / "bad.safetensors", body, tensors)
    with pytest.raises(ValueError, match="malformed pipeline"):
        skae.load(tmp_path / "bad.safetensors")


# -- what cannot be saved --------------------------------------------------------------
def _local_function_pipeline():
    def local(X):
        return X

    return make_pipeline(FunctionTransformer(local))


@needs_skops
@pytest.mark.parametrize(
    "model, where",
    [
        (
            make_pipeline(StandardScaler(), FunctionTransformer(lambda X: X)),
            r"Pipeline\.steps\['functiontransformer'\]\.func",
        ),
        (_local_function_pipeline(), r"Pipeline\.steps\['functiontransformer'\]\.func"),
        (
            make_column_transformer(
                (FunctionTransformer(np.log1p, inverse_func=lambda X: X), [0])
            ),
            r"ColumnTransformer\.transformers\['functiontransformer'\]\.inverse_func",
        ),
    ],
    ids=["lambda", "local-function", "lambda-in-column-transformer"],
)
def test_lambdas_and_local_functions_are_refused_naming_the_step(tmp_path, model, where):
    with pytest.raises(TypeError, match=where + r".*no importable name"):
        skae.save(model, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


@needs_skops
def test_skae_step_with_a_parameter_json_cannot_hold_is_refused_naming_it(tmp_path):
    bad = skae.AutoencoderTransformer(**AE, callbacks=[torch.nn.Identity()])
    model = make_pipeline(StandardScaler(), bad)
    with pytest.raises(
        TypeError, match=r"Pipeline\.steps\['autoencodertransformer'\].*callbacks"
    ):
        skae.save(model, tmp_path / "m.safetensors")


@needs_skops
def test_object_skops_cannot_store_is_refused_naming_it(tmp_path):
    model = make_pipeline(FunctionTransformer(np.log1p, kw_args={"g": (i for i in [])}))
    with pytest.raises(TypeError, match=r"kw_args\['g'\]: skops cannot store it"):
        skae.save(model, tmp_path / "m.safetensors")


def test_non_estimators_are_refused(tmp_path):
    with pytest.raises(TypeError, match="needs a scikit-learn estimator"):
        skae.save({"model": 1}, tmp_path / "m.safetensors")


# -- without skops ---------------------------------------------------------------------
@pytest.fixture
def no_skops(monkeypatch):
    # A None entry in sys.modules makes `import skops` raise ImportError.
    for name in ("skops", "skops.io"):
        monkeypatch.setitem(sys.modules, name, None)


def test_a_skae_estimator_needs_no_skops(no_skops, tmp_path):
    est = skae.AutoencoderTransformer(**AE).fit(X)
    loaded = round_trip(est, tmp_path)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_a_pipeline_without_skops_says_how_to_install_it(no_skops, tmp_path):
    model = make_pipeline(StandardScaler(), skae.AutoencoderTransformer(**AE))
    with pytest.raises(ImportError, match=r"pip install skae\[skops\]"):
        skae.save(model, tmp_path / "m.safetensors")


def test_loading_a_pipeline_without_skops_says_how_to_install_it(
    pipeline_file, monkeypatch
):
    for name in ("skops", "skops.io"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install skae\[skops\]"):
        skae.load(pipeline_file)


@needs_skops
def test_the_documented_example_runs():
    # docs/reliability.rst ("Whole pipelines") is written as a doctest.
    path = Path(__file__).resolve().parents[1] / "docs" / "reliability.rst"
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(path), module_relative=False, optionflags=flags)
    assert result.attempted >= 5 and result.failed == 0


def test_save_and_load_are_exported():
    assert {"save", "load"} <= set(skae.__all__)
    assert skae.save.__module__ == skae.load.__module__ == "skae._io"
