"""Safe model files: weights as safetensors, everything else as JSON.

``est.save(path)`` writes one `safetensors <https://huggingface.co/docs/safetensors>`_
file. Its tensors are the arrays of the estimator (network weights, fitted
arrays); its ``__metadata__`` holds a JSON document with the class name, the
parameters, the other fitted attributes, the versions of skae, torch,
scikit-learn, skorch and numpy, a format version and a SHA-256 checksum over the
document and every tensor. :func:`load` parses that JSON and those tensors and
nothing else: it never unpickles and never imports or calls anything named in
the file. Only registered classes (every subclass of :class:`PersistenceMixin`:
skae's estimators and users' subclasses of them, once defined) and a few
scikit-learn scalers can be named; anything else is a ``ValueError``.

An estimator takes part through two optional hooks, so meta-estimators that
hold other estimators, scalers and thresholds need no code here:

``_get_persist_state(self) -> dict``
    The fitted state to store, as plain values, NumPy arrays, torch tensors,
    tuples/lists/dicts of them, or whitelisted estimators (stored recursively).
    Default: every public attribute ending in ``_`` (scikit-learn's fitted
    attributes) plus the ``set_output`` configuration.
``_set_persist_state(self, state: dict) -> None``
    Restore that state on an instance built from the saved parameters.
    Default: ``setattr`` for each item.

A renamed parameter is declared in the class attribute ``_renamed_params``
(``{old name: new name}``): a file written before the rename, which sets the old
name, loads with its value under the new name; the ``"deprecated"`` placeholder
that files written while the old name is deprecated hold is dropped.

:mod:`skae._io` (``skae.save``/``skae.load``) writes the same kind of file for a
scikit-learn pipeline holding skae estimators, its scikit-learn parts stored
through skops.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import re
import struct
from typing import Any

import numpy as np
import torch

from ._version import __version__

FORMAT_NAME = "skae"
# The newest format version this skae reads and writes. A file holding one
# estimator is written as version 1 (readable by every skae); a file holding a
# scikit-learn composite with skae steps (skae._io) as version 2.
FORMAT_VERSION = 2
ESTIMATOR_FORMAT_VERSION = 1

# scikit-learn classes a file may name (e.g. the scaler inside AnomalyDetector).
_SKLEARN_CLASSES = {
    "sklearn.preprocessing.StandardScaler",
    "sklearn.preprocessing.RobustScaler",
    "sklearn.preprocessing.MinMaxScaler",
    "sklearn.preprocessing.MaxAbsScaler",
}

_NEVER_PICKLE_ADVICE = (
    "save() stores only plain parameters (numbers, strings, None, tuples, lists, "
    "dicts, skae estimators and torch.optim optimizer classes) so that loading "
    "never runs code. Use the built-in names instead (e.g. optimizer='adam'), or "
    "pickle/joblib -- and then load only files you trust."
)


# Every class that mixes in PersistenceMixin, registered when it is defined: a
# file can name only classes that exist in the loading process already, and this
# module never imports the package above it.
_REGISTRY: dict[str, type] = {}


def _registry_key(cls: type) -> str:
    """The name a file stores for ``cls``.

    skae's own classes keep the bare class name files have always used; any
    other class (a user's subclass) is named by its module and qualified name.
    """
    if cls.__module__ == "skae" or cls.__module__.startswith("skae."):
        return cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


def register_class(cls: type) -> type:
    """Allow ``cls`` (a scikit-learn estimator) to be named in model files."""
    _REGISTRY[_registry_key(cls)] = cls
    return cls


def _whitelist() -> dict[str, type]:
    """Classes a model file may name: registered estimators and a few scalers."""
    import sklearn.preprocessing

    classes = dict(_REGISTRY)
    for qualname in _SKLEARN_CLASSES:
        classes[qualname] = getattr(sklearn.preprocessing, qualname.rsplit(".", 1)[1])
    return classes


def _class_key(cls: type, whitelist: dict[str, type]) -> str:
    for key, known in whitelist.items():
        if known is cls:
            return key
    raise TypeError(
        f"{cls.__module__}.{cls.__qualname__} cannot be saved with save(): only "
        "estimators that inherit skae's PersistenceMixin (skae's estimators and "
        f"their subclasses) and {sorted(_SKLEARN_CLASSES)} can be stored. "
        + _NEVER_PICKLE_ADVICE
    )


_OPTIMIZER_PATH = re.compile(r"torch\.optim\.([A-Z][A-Za-z0-9_]*)")


def _optimizer_path(cls) -> str | None:
    """``"torch.optim.NAME"`` for an optimizer class of ``torch.optim``, else None."""
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        return None
    if getattr(torch.optim, cls.__name__, None) is not cls:
        return None
    return f"torch.optim.{cls.__name__}"


def _optimizer_class(path) -> type:
    """The ``torch.optim`` optimizer class a file names; anything else is refused."""
    match = _OPTIMIZER_PATH.fullmatch(path) if isinstance(path, str) else None
    cls = getattr(torch.optim, match.group(1), None) if match else None
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ValueError(
            f"The file names optimizer {_short_repr(path)}, which skae does not load: "
            "only optimizer classes of torch.optim (for example "
            "'torch.optim.Adam') can be restored."
        )
    return cls


def default_persist_state(estimator) -> dict[str, Any]:
    """Public attributes ending in ``_`` plus the ``set_output`` configuration."""
    state = {
        k: v
        for k, v in vars(estimator).items()
        if k.endswith("_") and not k.startswith("_")
    }
    if "_sklearn_output_config" in vars(estimator):
        state["_sklearn_output_config"] = estimator._sklearn_output_config
    return state


# -- encoding: Python values -> JSON + named tensors ----------------------------------
class _Encoder:
    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.whitelist = _whitelist()

    def estimator(self, est, path: str) -> dict:
        from sklearn.base import BaseEstimator

        if not isinstance(est, BaseEstimator):
            raise TypeError(f"save() needs a scikit-learn estimator, got {type(est)!r}.")
        name = _class_key(type(est), self.whitelist)
        params = est.get_params(deep=False)
        get_state = getattr(est, "_get_persist_state", None)
        state = get_state() if get_state is not None else default_persist_state(est)
        fitted = any(k.endswith("_") and not k.startswith("_") for k in state)
        return {
            "$estimator": name,
            "params": {
                k: self.value(v, f"{path}.{k}", param=True) for k, v in params.items()
            },
            "state": {k: self.value(v, f"{path}.{k}") for k, v in state.items()}
            if fitted or state
            else None,
        }

    def value(self, v, path: str, param: bool = False):
        from sklearn.base import BaseEstimator

        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            v = float(v)
            return v if math.isfinite(v) else {"$float": repr(v)}
        if isinstance(v, tuple):
            return {
                "$tuple": [self.value(x, f"{path}[{i}]", param) for i, x in enumerate(v)]
            }
        if isinstance(v, list):
            return [self.value(x, f"{path}[{i}]", param) for i, x in enumerate(v)]
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"$dict": {k: self.value(x, f"{path}.{k}", param) for k, x in v.items()}}
        if isinstance(v, BaseEstimator):
            return self.estimator(v, path)
        optimizer = _optimizer_path(v) if param else None
        if optimizer is not None:
            return {"$optimizer": optimizer}
        if isinstance(v, torch.Tensor) and not param:
            self.tensors[path] = v.detach().cpu().contiguous().clone()
            return {"$tensor": path}
        if isinstance(v, np.ndarray) and not param:
            if v.dtype.kind in "biuf":
                array = np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("="))
                self.tensors[path] = torch.from_numpy(array.copy())
                return {"$array": path}
            if v.dtype.kind in "OU" and all(isinstance(x, str) for x in v.ravel()):
                return {"$str_array": v.tolist(), "dtype": v.dtype.str}
        what = "parameter" if param else "fitted attribute"
        raise TypeError(
            f"Cannot save {what} {path.split('.', 1)[-1]} = {_short_repr(v)}: a "
            f"{type(v).__module__}.{type(v).__qualname__} is not JSON-representable. "
            + _NEVER_PICKLE_ADVICE
        )


def _short_repr(v) -> str:
    text = " ".join(repr(v).split())
    return text if len(text) <= 60 else text[:57] + "..."


# -- decoding: JSON + named tensors -> Python values -----------------------------------
# Attributes a file may set: scikit-learn's fitted attributes and set_output's config.
_STATE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*_|_sklearn_output_config")


def _all_strings(values) -> bool:
    if isinstance(values, list):
        return all(_all_strings(v) for v in values)
    return isinstance(values, str)


def _rename_params(cls: type, params: dict, name: str) -> dict:
    """Saved ``params`` with the parameters ``cls`` renamed since under their new names."""
    renamed = getattr(cls, "_renamed_params", None) or {}
    params = dict(params)
    for old, new in renamed.items():
        if old not in params:
            continue
        value = params.pop(old)
        if isinstance(value, str) and value == "deprecated":
            continue  # written while the old name was deprecated: new name in use
        default = inspect.signature(cls).parameters[new].default
        if new in params and not _same_value(params[new], default):
            raise ValueError(
                f"The file sets both {old} and {new} on {name}; {old} is the former "
                f"name of {new}, so only one can be given."
            )
        params[new] = value
    return params


def _same_value(a, b) -> bool:
    try:
        return bool(type(a) is type(b) and a == b)
    except (TypeError, ValueError):  # e.g. arrays
        return False


class _Decoder:
    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors
        self.whitelist = _whitelist()

    def estimator(self, doc: dict):
        name = doc.get("$estimator")
        cls = self.whitelist.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(
                f"The file names class {name!r}, which skae does not load; allowed: "
                f"{sorted(self.whitelist)}."
            )
        params = {str(k): self.value(v) for k, v in doc["params"].items()}
        params = _rename_params(cls, params, name)
        try:
            est = cls(**params)
        except TypeError as exc:
            raise ValueError(f"Saved parameters do not fit {name}: {exc}") from None
        state = doc.get("state")
        if state is not None:
            bad = [k for k in state if not _STATE_NAME.fullmatch(str(k))]
            if bad:
                raise ValueError(
                    f"The file sets attributes {bad} on {name}; only fitted attributes "
                    "(names ending in '_') can be restored."
                )
            state = {str(k): self.value(v) for k, v in state.items()}
            set_state = getattr(est, "_set_persist_state", None)
            if set_state is not None:
                set_state(state)
            else:
                for k, v in state.items():
                    setattr(est, k, v)
        return est

    def value(self, v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict) or len(v) not in (1, 2, 3):
            raise ValueError(f"Malformed value in the model file: {_short_repr(v)}")
        if "$estimator" in v:
            return self.estimator(v)
        if "$tuple" in v:
            return tuple(self.value(x) for x in v["$tuple"])
        if "$dict" in v:
            return {str(k): self.value(x) for k, x in v["$dict"].items()}
        if "$optimizer" in v:
            return _optimizer_class(v["$optimizer"])
        if "$float" in v and v["$float"] in ("nan", "inf", "-inf"):
            return float(v["$float"])
        if "$str_array" in v:
            strings = v["$str_array"]
            if not _all_strings(strings):
                raise ValueError("Malformed string array in the model file.")
            # object dtype (as scikit-learn's feature_names_in_), else NumPy's str dtype
            return np.asarray(strings, dtype=object if v.get("dtype") == "|O" else str)
        for key in ("$array", "$tensor"):
            if key in v:
                try:
                    tensor = self.tensors[v[key]]
                except (KeyError, TypeError):
                    raise ValueError(
                        f"The model file lacks the tensor {v[key]!r} its JSON refers to."
                    ) from None
                return tensor.numpy() if key == "$array" else tensor
        raise ValueError(f"Malformed value in the model file: {_short_repr(v)}")


# -- the file -------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    import safetensors
    import sklearn
    import skorch

    return {
        "skae": __version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
    }


def _checksum(document: str, tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256(document.encode())
    for name in sorted(tensors):
        t = tensors[name]
        digest.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        if t.numel():
            digest.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def write_model_file(
    path: str | os.PathLike,
    content: dict,
    tensors: dict[str, torch.Tensor],
    *,
    format_version: int = ESTIMATOR_FORMAT_VERSION,
    versions: dict[str, str] | None = None,
) -> None:
    """Write a model file: ``content`` (JSON) and ``tensors``, with a checksum."""
    from safetensors.torch import save

    body = {
        "format": FORMAT_NAME,
        "format_version": format_version,
        "versions": {**_versions(), **(versions or {})},
        **content,
    }
    document = json.dumps(body, allow_nan=False, sort_keys=True)
    metadata = {"skae": document, "sha256": _checksum(document, tensors)}
    data = save(tensors, metadata=metadata)
    with open(path, "wb") as f:
        f.write(data)


def save_estimator(estimator, path: str | os.PathLike) -> None:
    """Write ``estimator`` to ``path`` (see the module docstring for the format)."""
    encoder = _Encoder()
    content = {"estimator": encoder.estimator(estimator, "estimator")}
    write_model_file(path, content, encoder.tensors)


def _read_header(data: bytes, path) -> dict:
    if len(data) < 8:
        raise ValueError(f"{path} is not a skae model file (it is only {len(data)} bytes).")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise ValueError(
            f"{path} is truncated or not a skae model file: its header announces "
            f"{size} bytes but the file has {len(data) - 8} after the length."
        )
    try:
        header = json.loads(data[8 : 8 + size])
        metadata = header["__metadata__"]
        document, checksum = metadata["skae"], metadata["sha256"]
        body = json.loads(document)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ValueError(
            f"{path} is not a skae model file (no valid skae metadata in its header)."
        ) from None
    if not isinstance(body, dict) or body.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not a skae model file.")
    return {"document": document, "checksum": checksum, "body": body}


def read_model_file(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    """The JSON body and the tensors of a skae model file, checked but not decoded.

    Refuses, with a ``ValueError``, files that are not skae model files, are
    truncated, were written in a newer format version or changed after saving.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    with open(path, "rb") as f:
        data = f.read()
    header = _read_header(data, path)
    body = header["body"]
    version = body.get("format_version")
    if not isinstance(version, int):
        raise ValueError(f"{path} has no valid format_version.")
    if version > FORMAT_VERSION:
        versions = body.get("versions")
        written_by = versions.get("skae") if isinstance(versions, dict) else None
        written_by = written_by or "a newer version"
        raise ValueError(
            f"{path} was written by skae {written_by} in model-file format version "
            f"{version}; this skae ({__version__}) reads format versions up to "
            f"{FORMAT_VERSION}. Upgrade skae to load it."
        )
    try:
        tensors = load_tensors(data)
    except (SafetensorError, RuntimeError, ValueError) as exc:
        raise ValueError(f"{path} is truncated or corrupted: {exc}") from None
    if _checksum(header["document"], tensors) != header["checksum"]:
        raise ValueError(
            f"{path} was modified or corrupted after it was saved: its checksum does "
            "not match its contents."
        )
    return body, tensors


def decode_estimator(doc, tensors: dict[str, torch.Tensor], path) -> Any:
    """The estimator a file's JSON ``doc`` describes (``path`` names it in errors)."""
    if not isinstance(doc, dict):
        raise ValueError(f"{path} holds no estimator.")
    try:
        return _Decoder(tensors).estimator(doc)
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"{path} holds a malformed estimator description: {exc}") from None


def load(path: str | os.PathLike):
    """Load one estimator written by ``est.save`` -- without running code from the file.

    The file is parsed as JSON plus safetensors tensors; no pickle, no imports
    named by the file. Only registered classes (skae's estimators and their
    subclasses) and the scikit-learn scalers they may hold can be
    reconstructed. The network is rebuilt on the CPU whatever device it was
    trained on; the ``device`` parameter keeps its saved value (set it with
    ``set_params`` before refitting elsewhere). :func:`skae.load` also reads
    the files of :func:`skae.save` that hold a scikit-learn pipeline.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``save``.

    Returns
    -------
    estimator : skae estimator
        The estimator, fitted if it was fitted when saved, giving the same
        outputs as the saved one.

    Raises
    ------
    ValueError
        If the file is not a skae model file, is truncated or was modified after
        saving, was written in a newer format version, names a class skae does
        not load, or holds weights that do not match its parameters.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from skae import AutoencoderTransformer
    >>> from skae._persistence import load
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> ae = AutoencoderTransformer(max_epochs=2, random_state=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.safetensors")
    ...     ae.save(path)
    ...     loaded = load(path)
    >>> bool(np.array_equal(loaded.transform(X), ae.transform(X)))
    True
    """
    body, tensors = read_model_file(path)
    if "composite" in body:
        raise ValueError(
            f"{path} holds a scikit-learn estimator with skae steps, written by "
            "skae.save(); load it with skae.load()."
        )
    return decode_estimator(body.get("estimator"), tensors, path)


class PersistenceMixin:
    """Adds :meth:`save`; loading is :func:`skae.load`.

    Every subclass is registered when it is defined, so that a file can name
    it: skae's estimators, and a user's subclass of one of them, once the module
    defining it has been imported.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        register_class(cls)

    def save(self, path: str | os.PathLike) -> None:
        """Save the estimator to ``path`` in skae's safe format (no pickle).

        Weights and fitted arrays are stored as safetensors, parameters and
        metadata (class, versions, feature names, fitted attributes) as JSON.
        Load it with :func:`skae.load`, which never executes code from the file.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write; ``.safetensors`` is a good suffix.

        Raises
        ------
        TypeError
            If a parameter is not JSON-representable (a torch module, callback
            objects, an optimizer class from outside ``torch.optim``, a
            ``RandomState`` instance).
        """
        save_estimator(self, path)
