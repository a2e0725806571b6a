"""Settings and validated reference data (regions, codes, deadlines) read from ``config/``."""

from __future__ import annotations

from config.errors import ConfigError

__all__ = ["ConfigError"]
