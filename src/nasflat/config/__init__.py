"""The composed config, checked before any work: ``validate(cfg, command)`` raises ``ConfigError`` listing every
problem (unknown or missing keys, wrong types, out-of-range numbers), one line each."""

from nasflat.config.schema import ConfigError, validate

__all__ = ["ConfigError", "validate"]
