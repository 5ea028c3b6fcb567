"""skae: scikit-learn-compatible autoencoders on PyTorch, trained through skorch."""

from ._autoencoder import AutoencoderTransformer
from ._persistence import load

__version__ = "0.1.0"

__all__ = ["AutoencoderTransformer", "__version__", "load"]
