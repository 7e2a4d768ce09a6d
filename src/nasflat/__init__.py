"""nasflat: flatness-aware neural architecture search (NA-RS, NA-DARTS, GeNAS, A2M and baselines)."""

__version__ = "0.1.0"
