"""Order of the example gallery: the order of the topics, not alphabetical."""

from __future__ import annotations

from pathlib import Path

ORDER = [
    "plot_ae_vs_pca.py",
    "plot_linear_ae_pca.py",
    "plot_ae_before_tsne.py",
    "plot_deep_shallow_sparse.py",
    "plot_denoising.py",
    "plot_conv_autoencoder.py",
    "plot_vae.py",
    "plot_anomaly_detection.py",
    "plot_gridsearch_pca_vs_ae.py",
    "plot_sequence_anomalies.py",
    "plot_gpu.py",
]


class GalleryOrder:
    """sphinx-gallery sort key: examples in ``ORDER`` first, others after by name."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __repr__(self) -> str:
        return "GalleryOrder"

    def __call__(self, filename: str) -> tuple[int, str]:
        name = Path(filename).name
        return (ORDER.index(name) if name in ORDER else len(ORDER), name)
