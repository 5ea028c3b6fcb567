"""skae: scikit-learn-compatible autoencoders on PyTorch, trained through skorch."""

from ._anomaly import AnomalyDetector
from ._autoencoder import AutoencoderTransformer

__version__ = "0.1.0"

__all__ = ["AnomalyDetector", "AutoencoderTransformer", "__version__"]
