"""One message catalog for every user-facing string; zh-CN by default, English complete.

Catalog files live in ``config/locale/*.yaml``, one per area (core, hall, field, video, ...), so
parts of the product can grow their wording without touching each other. Each key carries both
languages side by side, which keeps translations from drifting (a test checks completeness)::

    errors.not_found:
      zh-CN: 未找到该对象
      en: Not found
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "config" / "locale"


class CatalogError(Exception):
    """A catalog file is malformed (unknown language, missing translation, duplicate key)."""


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, str]]:
    """All messages: key -> {lang: text}. Loaded once; raises CatalogError when incomplete."""
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(LOCALE_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise CatalogError(f"{path.name}: top level must be a mapping of message keys")
        for key, texts in data.items():
            if key in merged:
                raise CatalogError(f"{path.name}: key {key!r} is already defined in another file")
            if not isinstance(texts, dict) or set(texts) != set(LANGUAGES):
                raise CatalogError(f"{path.name}: key {key!r} must have exactly {LANGUAGES}")
            merged[key] = {lang: str(text) for lang, text in texts.items()}
    return merged


def normalise_lang(lang: str | None) -> str:
    """Map 'zh', 'zh_CN', 'en-US', ... to a supported language; default zh-CN."""
    if not lang:
        return DEFAULT_LANG
    lang = lang.strip().replace("_", "-").lower()
    if lang.startswith("en"):
        return "en"
    return DEFAULT_LANG


def negotiate(accept_language: str | None, explicit: str | None = None) -> str:
    """Pick the language from an explicit choice (query/cookie) or an Accept-Language header."""
    if explicit:
        return normalise_lang(explicit)
    if not accept_language:
        return DEFAULT_LANG
    best, best_q = DEFAULT_LANG, -1.0
    for part in accept_language.split(","):
        piece = part.strip().split(";q=")
        try:
            q = float(piece[1]) if len(piece) > 1 else 1.0
        except ValueError:
            q = 0.0
        tag = piece[0].strip().lower()
        if (tag.startswith("zh") or tag.startswith("en")) and q > best_q:
            best, best_q = normalise_lang(tag), q
    return best


def t(key: str, lang: str | None = None, /, **params: Any) -> str:
    """The message ``key`` in ``lang`` with ``{name}`` placeholders filled.

    An unknown key returns the key itself (and logs once) so a missing text is visible, not fatal.
    """
    texts = catalog().get(key)
    if texts is None:
        logger.warning("missing message key %s", key)
        return key
    text = texts[normalise_lang(lang)]
    try:
        return text.format(**params) if params else text
    except (KeyError, IndexError, ValueError):
        return text
