"""The version of skae, in one place (read by setuptools without importing skae)."""

__version__ = "0.2.0.dev0"
