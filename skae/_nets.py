"""skorch engines: where training behaviour lives.

Each class here is a :class:`skorch.NeuralNet` subclass that changes only
narrow hooks -- how data becomes batches, what the forward step returns and
what the loss is -- and leaves skorch's fit loop, callbacks and history alone.
The public estimators build one of these inside ``fit``.

skorch's private attributes and methods (a leading underscore on a skorch
object) are used here and nowhere else in skae; each use names the skorch
versions it was checked against: 1.2.0 (the floor in
``requirements/minimum.txt``) and 1.4.0 (the locked version).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import contextmanager, nullcontext

import numpy as np
import scipy.sparse as sp
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator
from torch import nn
from torch.nn import functional as F

from ._callbacks import DivergenceGuard
from ._data import (
    BatchIterator,
    ChunkedBatchIterator,
    LazyRowDataset,
    RowDataset,
    SparseBatchIterator,
    SparseRowDataset,
    densify,
    inference_batch_size,
    sparse_batch_rows,
    stage,
)
from ._missing import (
    fill_missing,
    observed_mask,
    observed_mean,
    observed_row_mean,
    observed_row_sum,
)

PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16}


def widest_layer(module: torch.nn.Module) -> int:
    """Largest feature width among a module's parameters (for sizing batches)."""
    return max((p.shape[0] for p in module.parameters() if p.ndim), default=1)


class AutoencoderNet(NeuralNet):
    """skorch net whose target is its input.

    The criterion must be elementwise (``reduction="none"``): the same
    elementwise error gives the training loss (its mean) and the per-sample and
    per-feature reconstruction errors the estimators report.

    Parameters
    ----------
    activity_l1 : float
        Strength of the L1 penalty on the code, ``activity_l1 * mean_i sum_j
        |z_ij|`` (Keras' ``activity_regularizer=l1(...)``), which makes codes sparse.
    precision : {None, "bf16", "fp16"}
        Mixed precision: forward passes run under ``torch.autocast`` in this
        dtype; losses, weights and optimizer state stay float32. ``"fp16"``
        scales the loss with a ``GradScaler`` against gradient underflow.
    masked_loss : bool
        Whether training batches may hold missing cells (NaN): the loss is then
        the mean error over the observed cells only, and a network that is not
        a :class:`~skae._missing.MissingValueInput` sees ``fill_values`` in the
        missing cells. False skips the mask (the data are complete).
    fill_values : array-like of shape (n_features,) or None
        Value a missing cell takes on its way into a network that does not
        handle NaN itself (None: 0).
    """

    def __init__(
        self,
        *args,
        activity_l1: float = 0.0,
        precision: str | None = None,
        masked_loss: bool = False,
        fill_values=None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.activity_l1 = activity_l1
        self.precision = precision
        self.masked_loss = masked_loss
        self.fill_values = fill_values

    # -- how training ends ---------------------------------------------------
    def get_default_callbacks(self):
        # skorch's epoch timer and loss records, plus a stop on NaN/inf losses.
        return [*super().get_default_callbacks(), ("divergence_guard", DivergenceGuard())]

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # skorch's partial_fit swallows KeyboardInterrupt, which is both how
        # EarlyStopping ends training and what Ctrl-C raises. Record which one.
        self.stopped_early_ = self.interrupted_ = False
        try:
            return super().fit_loop(X, y, epochs, **fit_params)
        except KeyboardInterrupt:
            self.stopped_early_ = any(
                isinstance(cb, EarlyStopping) and cb.misses_ >= cb.patience
                for _, cb in self.callbacks_
            )
            self.interrupted_ = not self.stopped_early_
            if self.history and "train_loss" not in self.last_epoch():
                # History is a list of per-epoch dicts (skorch 1.2.0, 1.4.0).
                del self.history[-1]  # an epoch cut short records no loss
            raise

    def continue_incrementally(self) -> None:
        """Train on every row of each later call: no validation split, no early stop.

        ``partial_fit`` trains on whatever chunk it is given: like
        scikit-learn's MLP it holds out no validation rows and never stops
        early. The one way an initialised net (fresh, or fitted by ``fit``)
        goes incremental; the other callbacks keep their state.
        """
        self.train_split = None
        kept = [(n, cb) for n, cb in self.callbacks_ if not isinstance(cb, EarlyStopping)]
        if len(kept) < len(self.callbacks_):
            self.callbacks_ = kept
            self._listeners = {}  # skae's cache of hook listeners (below)

    def last_epoch(self) -> dict:
        """The record of the latest epoch, the dict itself (not a copy).

        skorch's ``History.__getitem__`` copies the whole epoch list on every
        lookup (``to_list``; skorch 1.2.0, 1.4.0); History is a list
        subclass, so plain list indexing gives the record without the copy.
        Writing into the record writes into the history. A history that is
        not a list (skorch's ``DistributedHistory``) is indexed as it is.
        """
        history = self.history
        if isinstance(history, list):
            return list.__getitem__(history, -1)
        return history[-1]

    # -- per-batch overhead: skip work that does nothing -----------------------
    def initialize_callbacks(self):
        super().initialize_callbacks()
        # skae's own cache, not a skorch attribute (skorch 1.2.0 and 1.4.0 have
        # no ``_listeners``); rebuilt whenever callbacks_ changes.
        self._listeners = {}
        return self

    def _listeners_for(self, method_name: str) -> list:
        """Callbacks that override the hook ``method_name`` (cached per fit)."""
        listeners = self._listeners.get(method_name)
        if listeners is None:
            listeners = self._listeners[method_name] = [
                cb
                for _, cb in self.callbacks_
                if getattr(type(cb), method_name, None)
                is not getattr(Callback, method_name, None)
            ]
        return listeners

    def notify(self, method_name, **cb_kwargs):
        # Same calls as skorch's notify, minus callbacks that do not override
        # the hook: calling their no-ops per batch costs as much as a small step.
        getattr(self, method_name)(self, **cb_kwargs)
        for cb in self._listeners_for(method_name):
            getattr(cb, method_name)(self, **cb_kwargs)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        # skorch logs every batch's loss with ``.item()``, which on an
        # accelerator waits for the batch to finish. When no callback reads
        # batch values as they arrive, keep the detached losses on the device
        # and read them all with one transfer at the end of the epoch; the
        # history ends up exactly as skorch writes it.
        if iterator is None:
            return
        if self._listeners_for("on_batch_end"):
            super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
            return
        losses, sizes = [], []
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            # clone: a loss can be a view into a batch-sized buffer (mse_loss's
            # is), which keeping it would hold on to until the epoch ends.
            losses.append(step["loss"].detach().clone())
            sizes.append(len(batch[0]))
            self.on_batch_end(self, batch=batch, training=training, **step)
        if losses:
            values = torch.stack(losses).float().cpu().tolist()
            records = self.last_epoch()["batches"][-len(losses) :]
            for record, loss, size in zip(records, values, sizes, strict=True):
                record[prefix + "_loss"] = loss
                record[prefix + "_batch_size"] = size
        self.history.record(prefix + "_batch_count", len(losses))

    def _set_training(self, training: bool = True) -> None:
        # skorch-private hook (skorch 1.2.0, 1.4.0: sets train/eval on every
        # module and criterion). skorch switches the mode on every batch;
        # walking the module tree each time is pure overhead once it is right.
        if self.module_.training is training and self.criterion_.training is training:
            return
        super()._set_training(training)

    # -- data: tensors converted once, batches by slicing ---------------------
    @property
    def data_device(self) -> torch.device:
        """Where batches go: ``device``, or the accelerator's when skorch leaves it None."""
        if self.device is not None:
            return torch.device(self.device)
        accelerator = getattr(self, "accelerator", None)
        return accelerator.device if accelerator is not None else torch.device("cpu")

    def get_dataset(self, X, y=None) -> RowDataset | LazyRowDataset | SparseRowDataset:
        if isinstance(X, RowDataset | LazyRowDataset | SparseRowDataset):
            return X
        if sp.issparse(X):  # stays sparse; batches are densified one at a time
            return SparseRowDataset(X)
        return RowDataset(stage(X, self.data_device))

    def get_iterator(
        self, dataset, training: bool = False
    ) -> BatchIterator | ChunkedBatchIterator:
        batch_size = self.batch_size
        if training and min(len(dataset), batch_size) < 2 and self._has_batch_norm():
            raise ValueError(
                "batch_norm=True needs at least 2 rows per training batch; got "
                f"batch_size={batch_size} and {len(dataset)} training row(s) after "
                "holding out validation rows. Use batch_size >= 2, more rows, or "
                "batch_norm=False."
            )
        if not training:  # no gradients: bigger batches are cheaper
            batch_size = inference_batch_size(
                batch_size, widest_layer(self.module_), self.data_device
            )
        if isinstance(dataset, SparseRowDataset):
            if not training:  # a dense batch of bounded size
                batch_size = sparse_batch_rows(dataset.n_features, batch_size)
            return SparseBatchIterator(
                dataset, batch_size, shuffle=training, device=self.data_device
            )
        iterator_class = (
            ChunkedBatchIterator if isinstance(dataset, LazyRowDataset) else BatchIterator
        )
        device = self.data_device
        return iterator_class(dataset, batch_size, shuffle=training, device=device)

    # -- mixed precision ----------------------------------------------------------
    def autocast(self):
        """Context that runs forward passes in the ``precision`` dtype (or does nothing)."""
        if self.precision is None:
            return nullcontext()
        return torch.autocast(self.data_device.type, dtype=PRECISIONS[self.precision])

    def initialize(self):
        super().initialize()
        self.grad_scaler_ = None
        if self.precision == "fp16":
            self.grad_scaler_ = torch.amp.GradScaler(self.data_device.type)
        return self

    def train_step_single(self, batch, **fit_params):
        if self.precision is None:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        with self.autocast():
            y_pred = self.infer(Xi, **fit_params)
        # The loss (and BCE, which autocast refuses) is computed in float32.
        y_pred = _to_float32(y_pred)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler = self.grad_scaler_
        (scaler.scale(loss) if scaler is not None else loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        if self.precision is None:
            return super().validation_step(batch, **fit_params)
        self._set_training(False)
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            with self.autocast():
                y_pred = self.infer(Xi, **fit_params)
            y_pred = _to_float32(y_pred)
            loss = self.get_loss(y_pred, yi, X=Xi, training=False)
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        scaler = getattr(self, "grad_scaler_", None)
        if scaler is None:
            return super().train_step(batch, **fit_params)
        # GradScaler cannot step through an optimizer closure: one explicit step.
        # skorch-private: _zero_grad_optimizer() and _optimizers (the names of
        # the net's optimizers, each set as name + "_"), skorch 1.2.0, 1.4.0.
        self._zero_grad_optimizer()
        step = self.train_step_single(batch, **fit_params)
        optimizers = [getattr(self, name + "_") for name in self._optimizers]
        for optimizer in optimizers:
            scaler.unscale_(optimizer)  # callbacks (e.g. clipping) see true gradients
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        for optimizer in optimizers:
            scaler.step(optimizer)
        scaler.update()
        return step

    def _has_batch_norm(self) -> bool:
        return any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.module_.modules()
        )

    # -- forward and loss -------------------------------------------------------
    def infer(self, x, **fit_params):
        if self.masked_loss:
            x = self.fill_input(x)
        code = self.module_.encode(x)
        return self.module_.decode(code), code

    def get_loss(self, y_pred, y_true, X=None, training: bool = False) -> torch.Tensor:
        reconstruction, code = y_pred
        loss = self.mean_error(reconstruction, y_true, self.loss_mask(y_true))
        if self.activity_l1:
            loss = loss + self.activity_l1 * code.abs().sum(dim=1).mean()
        return loss

    # -- missing cells (NaN): the generic mask mechanism ----------------------------
    def loss_mask(self, target: torch.Tensor) -> torch.Tensor | None:
        """Observed-cell mask of a training target, or None when data are complete.

        Losses take this optional mask (``mean_error``, and ``VAENet``'s
        likelihood) and average over the observed cells only.
        """
        return observed_mask(target) if self.masked_loss else None

    def fill_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as the network's input: NaN replaced by the fill values.

        A no-op for a module with a true ``handles_missing`` attribute (such
        as :class:`~skae._missing.MissingValueInput`), which fills and flags
        missing cells itself.
        """
        if getattr(self.module_, "handles_missing", False):
            return x
        fill = self._fill_tensor(x)
        shape = x.shape
        return fill_missing(x.reshape(shape[0], -1), fill).reshape(shape)

    def _fill_tensor(self, x: torch.Tensor) -> torch.Tensor | float:
        if self.fill_values is None:
            return 0.0
        cached = getattr(self, "_fill_cache", None)
        if cached is None or cached.device != x.device or cached.dtype != x.dtype:
            cached = torch.as_tensor(
                np.asarray(self.fill_values, dtype=np.float32), device=x.device
            ).to(x.dtype)
            self._fill_cache = cached
        return cached

    def mean_error(
        self,
        reconstruction: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean of the elementwise criterion, fused where torch has a kernel for it.

        With an observed-cell ``mask`` the mean runs over the observed cells
        only; missing target cells (NaN) neither count nor carry a gradient.
        """
        criterion = self.criterion_
        if mask is not None:
            target = torch.where(mask, target, reconstruction.detach())
            return observed_mean(criterion(reconstruction, target), mask)
        if type(criterion) is nn.MSELoss:
            return F.mse_loss(reconstruction, target)
        if type(criterion) is nn.BCELoss:
            return F.binary_cross_entropy(reconstruction, target)
        return criterion(reconstruction, target).mean()

    # -- inference helpers used by the estimators -------------------------------
    def map_batches(
        self, X: np.ndarray, fn: Callable[[torch.Tensor], torch.Tensor]
    ) -> np.ndarray:
        """Apply ``fn`` to ``X`` in large batches in eval mode; return NumPy.

        Outputs come back as float32 (float64 where ``fn`` returns float64).
        They stay on the device until the end: one transfer back, no
        synchronisation per batch. Non-finite outputs -- float32 overflow on
        inputs far larger than the training data -- raise a ``ValueError``
        instead of being returned.
        """
        module = self.module_
        if module.training:
            # Only the first call after training flips the mode: concurrent
            # inference calls from several threads then never write to the module.
            module.eval()
        dataset = self.get_dataset(X)
        iterator = self.get_iterator(dataset, training=False)
        parts = []
        with torch.inference_mode(), self.autocast():
            for batch, _ in iterator:
                out = fn(batch)
                if out.dtype != torch.float64:
                    out = out.float()
                parts.append(out)
        out = torch.cat(parts) if len(parts) > 1 else parts[0]
        result = out.cpu().numpy()
        if not np.isfinite(result).all():
            raise ValueError(
                "The network's output overflowed to inf/NaN on this input; skae "
                "computes in float32. Scale X the same way as the training data."
            )
        return result

    def elementwise_error(self, x: torch.Tensor) -> torch.Tensor:
        """Criterion between ``x`` and its reconstruction, one value per entry.

        Computed in float64 (where the device has it) and outside autocast, so
        that the squared error of rows with huge values stays finite and BCE,
        which autocast refuses, works under mixed precision. Missing cells
        (NaN in ``x``) get an error of 0: they are not reconstructed against
        anything.
        """
        reconstruction = self.module_(self.fill_input(x))
        target = torch.where(observed_mask(x), x, reconstruction.detach())
        with torch.autocast(x.device.type, enabled=False):
            if x.device.type == "mps":  # no float64 there
                return self.criterion_(reconstruction.float(), target.float())
            return self.criterion_(reconstruction.double(), target.double())

    def row_errors(self, x: torch.Tensor) -> torch.Tensor:
        """Per-row mean error over the observed cells (0 for a row with none)."""
        return observed_row_mean(self.elementwise_error(x), observed_mask(x))


@contextmanager
def training_state_restored_on_failure(net):
    """Undo in-place training of an existing ``net`` if the block raises.

    ``partial_fit`` continues training the fitted net object itself, so
    restoring the estimator's attributes alone would keep weights a failed
    (say, diverged) call left behind: the module's, the optimizers' and the
    gradient scaler's states and the history are put back. ``net=None``
    (nothing to protect) is a no-op.
    """
    if net is None:
        yield
        return
    # skorch-private: _optimizers, the names of the optimizers (skorch 1.2.0, 1.4.0).
    names = ["module", *net._optimizers]
    if getattr(net, "grad_scaler_", None) is not None:
        names.append("grad_scaler")
    saved = {name: copy.deepcopy(getattr(net, name + "_").state_dict()) for name in names}
    n_epochs = len(net.history)
    try:
        yield
    except BaseException:
        for name, state in saved.items():
            getattr(net, name + "_").load_state_dict(state)
        # History is a list of per-epoch dicts (skorch 1.2.0, 1.4.0).
        del net.history[n_epochs:]
        raise


# -- denoising --------------------------------------------------------------------------
NOISE_KINDS = ("gaussian", "mask", "salt_pepper")


def corrupt(
    x: torch.Tensor,
    kind: str,
    level: float,
    value_range: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Return a corrupted copy of ``x``, drawn from torch's default generators.

    - ``"gaussian"``: add noise of standard deviation ``level``;
    - ``"mask"``: set a random fraction ``level`` of the entries to 0;
    - ``"salt_pepper"``: set a random fraction ``level`` of the entries to the
      low or the high end of ``value_range`` (0 and 1 when it is None), half each.

    The result is clipped to ``value_range`` when it is given.
    """
    if kind == "gaussian":
        noisy = x + level * torch.randn_like(x)
    elif kind == "mask":
        noisy = x * (torch.rand_like(x) >= level)
    elif kind == "salt_pepper":
        low, high = value_range if value_range is not None else (0.0, 1.0)
        u = torch.rand_like(x)
        noisy = torch.where(u < level / 2, low, torch.where(u < level, high, x))
    else:
        raise ValueError(f"Unknown noise {kind!r}; expected one of {NOISE_KINDS}.")
    if value_range is not None:
        noisy = noisy.clamp(*value_range)
    return noisy


class DenoisingNet(AutoencoderNet):
    """Autoencoder engine that corrupts each training batch afresh.

    The network sees ``corrupt(X_batch)`` and is scored against the clean
    batch. Only training steps add noise: validation, ``transform`` and every
    other inference see the data as given.

    Parameters
    ----------
    noise, noise_level, value_range
        Passed to :func:`corrupt`.
    """

    def __init__(
        self,
        *args,
        noise: str = "gaussian",
        noise_level: float = 0.5,
        value_range: tuple[float, float] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.noise = noise
        self.noise_level = noise_level
        self.value_range = value_range

    def train_step(self, batch, **fit_params):
        # Corrupt once per optimizer step, in train_step rather than
        # train_step_single: engines layered over this one (Accelerate's mixin)
        # replace train_step_single but keep calling this hook.
        X_clean, y_clean = batch
        X_noisy = corrupt(X_clean, self.noise, self.noise_level, self.value_range)
        return super().train_step((X_noisy, y_clean), **fit_params)


class MaskingNet(AutoencoderNet):
    """Engine that hides a random share of the observed cells of each training batch.

    The hidden cells become missing (NaN) in the network's input and are the
    cells the loss scores: the network learns to predict cells from the other
    observed cells of their row, which is what imputation asks of it (the
    MIDA idea, a denoising autoencoder with masking noise, trained with the
    masked loss). Cells missing in the data are never scored. Validation and
    inference see the rows as given.

    Parameters
    ----------
    mask_rate : float
        Probability that an observed cell is hidden in a training step.
    """

    def __init__(self, *args, mask_rate: float = 0.25, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mask_rate = mask_rate

    def train_step(self, batch, **fit_params):
        # In train_step, as DenoisingNet: engines layered over this one
        # (Accelerate's mixin) replace train_step_single.
        X, _ = batch
        hidden = (torch.rand_like(X) < self.mask_rate) & observed_mask(X)
        X_in = torch.where(hidden, torch.nan, X)
        target = torch.where(hidden, X, torch.nan)
        return super().train_step((X_in, target), **fit_params)


# -- variational ------------------------------------------------------------------------
_LOG_2PI = float(np.log(2 * np.pi))


class VAENet(AutoencoderNet):
    """Variational autoencoder engine: reparameterised sampling and the ELBO loss.

    The module must provide ``encode_distribution(x) -> (mean, log_var)`` and
    ``decode(z)``. In training mode ``infer`` draws ``z = mean + exp(log_var / 2)
    * eps`` (the reparameterisation trick); in eval mode it uses ``z = mean``.
    The loss is the negative evidence lower bound per row, averaged::

        reconstruction negative log-likelihood + beta * KL(q(z|x) || N(0, I))

    with a Gaussian likelihood for ``nn.MSELoss`` criteria and a Bernoulli
    likelihood for ``nn.BCELoss``, both summed over features. The Gaussian's
    variance comes from the module's ``decoder_noise`` submodule (a
    :class:`~skae._architectures.CalibratedGaussian`: the variance that fits
    the errors best), or is 1 for a module without one.

    Parameters
    ----------
    beta : float
        Weight of the KL term (1 gives the ELBO; other values a beta-VAE).
    """

    def __init__(self, *args, beta: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.beta = beta

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # A built-in network standardises its input with the training data's
        # centre and scale, taken once, before its first training step.
        standardizer = getattr(self.module_, "standardizer", None)
        if standardizer is not None and not standardizer.is_set:
            standardizer.set_from(torch.as_tensor(_sample_rows(X)))
        return super().fit_loop(X, y, epochs, **fit_params)

    def infer(self, x, **fit_params):
        if self.masked_loss:
            x = self.fill_input(x)
        mean, log_var = self.module_.encode_distribution(x)
        if self.module_.training:
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        else:
            z = mean
        return self.module_.decode(z), mean, log_var

    def get_loss(self, y_pred, y_true, X=None, training: bool = False) -> torch.Tensor:
        reconstruction, mean, log_var = y_pred
        mask = self.loss_mask(y_true)
        loss = self.negative_elbo(reconstruction, y_true, mean, log_var, mask).mean()
        if self.activity_l1:
            loss = loss + self.activity_l1 * mean.abs().sum(dim=1).mean()
        return loss

    def negative_log_likelihood(
        self,
        reconstruction: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-row reconstruction term: ``-log p(x | z)`` summed over features.

        With an observed-cell ``mask``, the observed cells' mean times the
        number of features (:func:`~skae._missing.observed_row_sum`).
        """
        if mask is not None:
            target = torch.where(mask, target, reconstruction.detach())
        error = self.criterion_(reconstruction, target)
        if isinstance(self.criterion_, nn.MSELoss):  # Gaussian
            noise = getattr(self.module_, "decoder_noise", None)
            if noise is not None:
                return noise(error, target, mask)
            return observed_row_sum(0.5 * (error + _LOG_2PI), mask)  # unit variance
        return observed_row_sum(error, mask)  # Bernoulli: BCE is its NLL

    @staticmethod
    def kl_divergence(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """Per-row ``KL(N(mean, exp(log_var)) || N(0, I))``."""
        return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=1)

    def negative_elbo(
        self,
        reconstruction: torch.Tensor,
        target: torch.Tensor,
        mean: torch.Tensor,
        log_var: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-row loss: reconstruction term plus ``beta`` times the KL term."""
        nll = self.negative_log_likelihood(reconstruction, target, mask)
        return nll + self.beta * self.kl_divergence(mean, log_var)

    def score_rows(self, x: torch.Tensor) -> torch.Tensor:
        """Per-row ELBO (higher = more typical), with the decoder at the posterior mean."""
        mask = observed_mask(x)
        reconstruction, mean, log_var = _to_float32(self.infer(self.fill_input(x)))
        with torch.autocast(x.device.type, enabled=False):  # BCE refuses autocast
            return -self.negative_elbo(reconstruction, x.float(), mean, log_var, mask)


# Rows the standardisation of a VAE's input is computed from, at most, and at
# most this many cells (64 MB of float32), so that a wide sparse matrix is
# never densified whole.
_STANDARDIZE_ROWS = 100_000
_STANDARDIZE_CELLS = 16_000_000


def _sample_rows(data) -> np.ndarray:
    """Training rows spread over the data, as a dense in-memory array."""
    if isinstance(data, RowDataset):
        data = data.X
    if isinstance(data, (LazyRowDataset, SparseRowDataset)):
        n_samples, n_features = len(data), data.n_features
    else:
        n_samples, n_features = data.shape[0], data.shape[1]
    cap = max(1, min(_STANDARDIZE_ROWS, _STANDARDIZE_CELLS // max(n_features, 1)))
    step = max(1, n_samples // cap)
    if isinstance(data, LazyRowDataset):
        return data.read(0, min(n_samples, cap))
    if isinstance(data, SparseRowDataset):
        return data.read_rows(np.arange(0, n_samples, step))
    if sp.issparse(data):
        return densify(data[::step])
    rows = data[::step]
    return rows.cpu().numpy() if isinstance(rows, torch.Tensor) else np.asarray(rows)


def _to_float32(output):
    """Cast the floating tensors of a forward pass's output (nested tuples) to float32."""
    if isinstance(output, torch.Tensor):
        return output.float() if output.is_floating_point() else output
    if isinstance(output, tuple | list):
        return type(output)(_to_float32(o) for o in output)
    if isinstance(output, dict):
        return {k: _to_float32(v) for k, v in output.items()}
    return output
