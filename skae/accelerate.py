"""Multi-GPU (and multi-node) training through Hugging Face Accelerate.

Optional: needs ``pip install skae[accelerate]``. ``import skae`` never imports
this module; it imports ``accelerate`` only when a fit starts.

skorch's :class:`skorch.hf.AccelerateMixin` prepares the network and optimizer
with an :class:`accelerate.Accelerator` (DistributedDataParallel across the
processes started by ``accelerate launch``, mixed precision, gradient
accumulation). skae layers this over each estimator's own engine
(:func:`accelerated_net_class`, whose batches are split between the processes)
and adds :class:`AccelerateEstimatorMixin`, which turns any skae estimator --
:class:`~skae.AutoencoderTransformer`, :class:`~skae.DenoisingAutoencoder`,
:class:`~skae.VAETransformer` -- into an accelerated one::

    from skae import AutoencoderTransformer
    from skae.accelerate import AccelerateEstimatorMixin

    class AcceleratedAutoencoder(AccelerateEstimatorMixin, AutoencoderTransformer):
        pass

The subclass has exactly the parameters of the estimator it extends.
``precision`` becomes the accelerator's ``mixed_precision``; ``device="cpu"``
keeps training on the CPU, any other device lets Accelerate place each
process on its GPU. Accelerate fixes the mixed precision once per process: all
accelerated fits in one process must use the same ``precision``. Fitted
models are unwrapped after training and predict like the plain estimator;
like skorch's accelerated nets they are saved with ``net_.save_params``
rather than pickled.
"""

from __future__ import annotations

from skorch.hf import AccelerateMixin

from ._callbacks import silent
from ._nets import AutoencoderNet

__all__ = ["AccelerateEstimatorMixin", "AcceleratedAutoencoderNet", "accelerated_net_class"]


class _ShardedAccelerateMixin(AccelerateMixin):
    """skorch's :class:`~skorch.hf.AccelerateMixin`, with skae's self-sharding batches.

    Every process draws the same permutation of the rows (same seed) and
    trains on every ``num_processes``-th batch of it, so the processes see
    disjoint batches that together cover each row once per epoch; gradients
    are averaged by DistributedDataParallel.
    """

    def get_iterator(self, dataset, training: bool = False):
        # skorch's mixin would hand the iterator to ``accelerator.prepare``,
        # which only shards torch DataLoaders; skae's iterators shard themselves.
        iterator = AutoencoderNet.get_iterator(self, dataset, training=training)
        if training and self.accelerator.num_processes > 1:
            iterator.shard(self.accelerator.process_index, self.accelerator.num_processes)
        return iterator


_ACCELERATED: dict[type, type] = {}


def accelerated_net_class(net_class: type) -> type:
    """The accelerated version of a skae engine (one class per engine, cached).

    The engine's own training step, loss and parameters (noise for the
    denoiser, the KL term for the VAE, ...) are kept; Accelerate is layered
    over it.

    Parameters
    ----------
    net_class : type
        A subclass of :class:`~skae._nets.AutoencoderNet`.

    Returns
    -------
    accelerated : type
        A subclass of ``net_class`` trained through an ``Accelerator``; it takes
        an extra ``accelerator`` argument and needs ``device=None``.
    """
    if not (isinstance(net_class, type) and issubclass(net_class, AutoencoderNet)):
        raise TypeError(
            f"accelerated_net_class needs a subclass of AutoencoderNet, got {net_class!r}."
        )
    if issubclass(net_class, AccelerateMixin):
        return net_class
    if net_class not in _ACCELERATED:
        name = "Accelerated" + net_class.__name__
        accelerated = type(name, (_ShardedAccelerateMixin, net_class), {})
        accelerated.__module__ = __name__
        # Reachable by name, so that the class pickles by reference.
        globals()[name] = accelerated
        _ACCELERATED[net_class] = accelerated
    return _ACCELERATED[net_class]


#: The accelerated engine of :class:`~skae.AutoencoderTransformer`.
AcceleratedAutoencoderNet = accelerated_net_class(AutoencoderNet)


class AccelerateEstimatorMixin:
    """Mixin that trains a skae estimator through Hugging Face Accelerate.

    Put it left of the estimator class: ``class X(AccelerateEstimatorMixin,
    DenoisingAutoencoder): pass``. The estimator keeps its own engine (its
    loss, noise or KL term); Accelerate is layered over it by
    :func:`accelerated_net_class`. See the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer
    >>> from skae.accelerate import AccelerateEstimatorMixin
    >>> class AcceleratedAutoencoder(AccelerateEstimatorMixin, AutoencoderTransformer):
    ...     pass
    >>> X = np.random.default_rng(0).normal(size=(64, 5))
    >>> ae = AcceleratedAutoencoder(max_epochs=2, random_state=0).fit(X)  # doctest: +SKIP
    >>> ae.transform(X).shape  # doctest: +SKIP
    (64, 2)
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Compose over the engine the estimator itself would build.
        cls._net_class = accelerated_net_class(cls._net_class)

    def _net_params(self) -> dict:
        from accelerate import Accelerator

        params = super()._net_params()
        mixed_precision = params.get("precision") or "no"
        accelerator = Accelerator(
            cpu=str(self.device) == "cpu", mixed_precision=mixed_precision
        )
        # Accelerate owns device placement and autocast; only the main process
        # prints, and only when asked to.
        sink = accelerator.print if self.verbose else silent
        return {
            **params,
            "precision": None,
            "device": None,
            "accelerator": accelerator,
            "callbacks__print_log__sink": sink,
        }
