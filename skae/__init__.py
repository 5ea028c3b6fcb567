"""skae: scikit-learn-compatible autoencoders on PyTorch, trained through skorch."""

from ._autoencoder import AutoencoderTransformer
from ._denoising import DenoisingAutoencoder
from ._persistence import load
from ._vae import VAETransformer

__version__ = "0.1.0"

__all__ = [
    "AutoencoderTransformer",
    "DenoisingAutoencoder",
    "VAETransformer",
    "__version__",
    "load",
]
