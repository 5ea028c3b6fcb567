"""skae: scikit-learn-compatible autoencoders on PyTorch, trained through skorch."""

from ._anomaly import AnomalyDetector
from ._autoencoder import AutoencoderTransformer
from ._denoising import DenoisingAutoencoder
from ._imputer import AutoencoderImputer
from ._persistence import load
from ._vae import VAETransformer

__version__ = "0.1.0"

__all__ = [
    "AnomalyDetector",
    "AutoencoderImputer",
    "AutoencoderTransformer",
    "DenoisingAutoencoder",
    "VAETransformer",
    "__version__",
    "load",
]
