"""Training that goes wrong: failed refits, divergence, Ctrl-C, how training ended.

Runs over every public estimator (``tests/_skae_estimators.py``); for a
meta-estimator the training parameters go to its inner estimator.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _skae_estimators import (
    CLASS_IDS,
    CLASSES,
    check_output,
    make,
    row_methods,
    set_training_params,
    training_data,
)
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback, EarlyStopping, GradientNormClipping

from skae.exceptions import TrainingDivergedError, TrainingInterruptedWarning

per_estimator = pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)

X = training_data(n_samples=48)


def outputs(est, X):
    return {m: getattr(est, m)(X) for m in row_methods(est)}


def trainer(est):
    """The estimator that trains a network: ``est`` or its fitted inner estimator."""
    return getattr(est, "estimator_", est)


class FailAt(Callback):
    """Raise ``exc`` at the end of batch ``batch`` of epoch ``epoch``."""

    def __init__(self, exc, epoch=2, batch=1):
        self.exc, self.epoch, self.batch = exc, epoch, batch

    def on_batch_end(self, net, training=False, **kwargs):
        row = net.history[-1]
        if training and row["epoch"] == self.epoch and len(row["batches"]) == self.batch:
            raise self.exc


class PoisonWeights(Callback):
    """Set every weight to NaN after the last epoch (its losses were finite)."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == net.max_epochs:
            with torch.no_grad():
                for p in net.module_.parameters():
                    p.fill_(float("nan"))


class InterruptBeforeTraining(Callback):
    """Ctrl-C before skorch's training loop (which would catch it) starts."""

    def on_train_begin(self, net, **kwargs):
        raise KeyboardInterrupt


# -- a failed fit leaves a fitted model as it was --------------------------------------
FAILURES = {
    # at validation, before any training
    # (NaN is a missing cell for the autoencoders; infinity is refused by all)
    "infinite_input": (dict(), np.where(X > 0.9, np.inf, X), ValueError, "infinity"),
    # during training: loss becomes inf/NaN
    "divergence": (
        dict(optimizer="sgd", lr=1e6),
        X * 100,
        TrainingDivergedError,
        "diverged",
    ),
    # during training: an error in a user callback at epoch 2
    "callback_error": (
        dict(callbacks=[FailAt(RuntimeError("disk full"))]),
        X,
        RuntimeError,
        "disk full",
    ),
    # Ctrl-C outside the training loop: propagates, and nothing changes
    "interrupt_before_training": (
        dict(callbacks=[InterruptBeforeTraining()]),
        X,
        KeyboardInterrupt,
        None,
    ),
}


@per_estimator
@pytest.mark.parametrize("failure", FAILURES, ids=list(FAILURES))
def test_failed_refit_keeps_the_previous_model(cls, failure):
    params, X_bad, exc, message = FAILURES[failure]
    est = make(cls).fit(X)
    before = outputs(est, X)
    attributes = dict(vars(est))
    set_training_params(est, **params)
    with pytest.raises(exc, match=message):
        est.fit(X_bad)
    fitted_now = {k: v for k, v in vars(est).items() if k.endswith("_")}
    assert fitted_now.keys() == {k for k in attributes if k.endswith("_")}
    assert all(v is attributes[k] for k, v in fitted_now.items())  # the very same objects
    after = outputs(est, X)
    for method, value in before.items():
        np.testing.assert_array_equal(after[method], value, err_msg=method)


@per_estimator
@pytest.mark.parametrize("failure", FAILURES, ids=list(FAILURES))
def test_failed_first_fit_leaves_the_estimator_unfitted(cls, failure):
    params, X_bad, exc, message = FAILURES[failure]
    est = make(cls, **params)
    with pytest.raises(exc, match=message):
        est.fit(X_bad)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


# -- divergence ---------------------------------------------------------------------
@per_estimator
def test_divergence_is_a_clear_error_with_advice(cls):
    est = make(cls, optimizer="sgd", lr=1e6, max_epochs=5)
    with pytest.raises(TrainingDivergedError) as info:
        est.fit(X * 100)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    for hint in (
        "diverged",
        "epoch",
        "lr=1000000.0",
        "StandardScaler",
        "GradientNormClipping",
    ):
        assert hint in message, (hint, message)


def test_the_remedies_the_error_suggests_prevent_the_divergence():
    from skae import AutoencoderTransformer

    params = dict(hidden_layer_sizes=(4,), max_epochs=3, optimizer="sgd", random_state=0)
    with pytest.raises(TrainingDivergedError):
        AutoencoderTransformer(lr=1e3, **params).fit(X * 100)
    clip = GradientNormClipping(gradient_clip_value=1.0)
    remedies = [
        AutoencoderTransformer(lr=1e3, callbacks=[clip], **params).fit(X * 100),
        AutoencoderTransformer(lr=1e-3, **params).fit(X * 100),
    ]
    for est in remedies:
        assert np.isfinite(est.transform(X)).all()


@per_estimator
def test_nan_weights_after_finite_losses_are_caught(cls):
    est = make(cls, max_epochs=2, callbacks=[PoisonWeights()])
    with pytest.raises(TrainingDivergedError, match="weights became NaN"):
        est.fit(X)


# -- Ctrl-C, early stopping, max_epochs ------------------------------------------------
@per_estimator
@pytest.mark.parametrize("batch", [1, 3], ids=["mid_epoch", "end_of_epoch"])
def test_keyboard_interrupt_keeps_a_usable_model_and_says_so(cls, batch):
    # 48 rows in batches of 16: three batches per epoch; interrupt in epoch 3.
    est = make(cls, max_epochs=10, callbacks=[FailAt(KeyboardInterrupt(), 3, batch)])
    with pytest.warns(TrainingInterruptedWarning, match="interrupted .* after 2 complete"):
        est.fit(X)
    inner = trainer(est)
    assert inner.interrupted_ and not inner.stopped_early_
    assert inner.n_epochs_ == len(inner.history_) == 2
    assert len(inner.history_[:, "train_loss"]) == 2  # the cut epoch is not recorded
    for method, value in outputs(est, X).items():
        check_output(est, method, X, value)


@per_estimator
def test_early_stopping_and_max_epochs_are_recorded(cls):
    full = make(cls, max_epochs=3).fit(X)
    inner = trainer(full)
    assert (inner.n_epochs_, inner.stopped_early_, inner.interrupted_) == (3, False, False)

    # tol=1 asks for a 100% improvement per epoch: patience runs out at once.
    stopped = make(cls, max_epochs=20, early_stopping=True, n_iter_no_change=1, tol=1.0)
    inner = trainer(stopped.fit(X))
    assert inner.stopped_early_ and not inner.interrupted_
    assert inner.n_epochs_ < 20

    patient = make(cls, max_epochs=3, early_stopping=True, n_iter_no_change=50)
    inner = trainer(patient.fit(X))
    assert (inner.n_epochs_, inner.stopped_early_, inner.interrupted_) == (3, False, False)


def test_a_users_own_early_stopping_callback_counts_as_early_stopping():
    from skae import AutoencoderTransformer

    stopper = EarlyStopping(monitor="train_loss", patience=1, threshold=1.0, sink=print)
    est = AutoencoderTransformer(
        hidden_layer_sizes=(4,), max_epochs=20, callbacks=[stopper], random_state=0
    ).fit(X)
    assert est.stopped_early_ and not est.interrupted_ and est.n_epochs_ < 20


def test_failed_partial_fit_keeps_the_weights_it_started_from():
    # partial_fit trains the fitted net in place: a diverging call must not
    # leave NaN weights behind (the estimator's attributes alone are not enough).
    from skae import AutoencoderTransformer

    ae = AutoencoderTransformer(
        hidden_layer_sizes=(4,), batch_size=8, max_epochs=2, optimizer="sgd", random_state=0
    ).fit(X)
    before, n_epochs = ae.transform(X), ae.n_epochs_
    ae.net_.set_params(lr=1e8)
    with pytest.raises(TrainingDivergedError):
        ae.partial_fit(X * 1000)
    np.testing.assert_array_equal(ae.transform(X), before)
    assert ae.n_epochs_ == len(ae.history_) == n_epochs
