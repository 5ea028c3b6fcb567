"""skae: scikit-learn-compatible autoencoders on PyTorch, trained through skorch."""

from ._anomaly import AnomalyDetector
from ._autoencoder import AutoencoderTransformer
from ._denoising import DenoisingAutoencoder
from ._imputer import AutoencoderImputer
from ._io import load, save
from ._vae import VAETransformer
from ._version import __version__

__all__ = [
    "AnomalyDetector",
    "AutoencoderImputer",
    "AutoencoderTransformer",
    "DenoisingAutoencoder",
    "VAETransformer",
    "__version__",
    "load",
    "save",
]
