"""Multi-GPU (and multi-node) training through Hugging Face Accelerate.

Optional: needs ``pip install skae[accelerate]``. ``import skae`` never imports
this module; it imports ``accelerate`` only when a fit starts.

skorch's :class:`skorch.hf.AccelerateMixin` prepares the network and optimizer
with an :class:`accelerate.Accelerator` (DistributedDataParallel across the
processes started by ``accelerate launch``, mixed precision, gradient
accumulation). skae adds the engine :class:`AcceleratedAutoencoderNet`, whose
batches are split between the processes, and :class:`AccelerateEstimatorMixin`,
which turns any skae estimator built on :class:`~skae._nets.AutoencoderNet`
into an accelerated one::

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

from ._nets import AutoencoderNet

__all__ = ["AccelerateEstimatorMixin", "AcceleratedAutoencoderNet"]


class AcceleratedAutoencoderNet(AccelerateMixin, AutoencoderNet):
    """:class:`~skae._nets.AutoencoderNet` trained through an ``Accelerator``.

    Every process draws the same permutation of the rows (same seed) and
    trains on every ``num_processes``-th batch of it, so the processes see
    disjoint batches that together cover each row once per epoch; gradients
    are averaged by DistributedDataParallel.

    Parameters
    ----------
    accelerator : accelerate.Accelerator
        The accelerator that prepares module and optimizer.
    **kwargs
        As for :class:`~skae._nets.AutoencoderNet`; ``device`` must be None.
    """

    def get_iterator(self, dataset, training: bool = False):
        # skorch's mixin would hand the iterator to ``accelerator.prepare``,
        # which only shards torch DataLoaders; skae's iterators shard themselves.
        iterator = AutoencoderNet.get_iterator(self, dataset, training=training)
        if training and self.accelerator.num_processes > 1:
            iterator.shard(self.accelerator.process_index, self.accelerator.num_processes)
        return iterator


class AccelerateEstimatorMixin:
    """Mixin that trains a skae estimator through Hugging Face Accelerate.

    Put it left of the estimator class: ``class X(AccelerateEstimatorMixin,
    AutoencoderTransformer): pass``. See the module docstring.

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

    _net_class = AcceleratedAutoencoderNet

    def _net_params(self) -> dict:
        from accelerate import Accelerator

        params = super()._net_params()
        mixed_precision = params.get("precision") or "no"
        accelerator = Accelerator(
            cpu=str(self.device) == "cpu", mixed_precision=mixed_precision
        )
        # Accelerate owns device placement and autocast; only the main process
        # prints, and only when asked to.
        sink = accelerator.print if self.verbose else _silent
        return {
            **params,
            "precision": None,
            "device": None,
            "accelerator": accelerator,
            "callbacks__print_log__sink": sink,
        }


def _silent(*args, **kwargs) -> None:
    """A sink that prints nothing."""
