"""The message catalog is complete in both languages and negotiation picks the right one."""

from __future__ import annotations

import re

from console.i18n import LANGUAGES, catalog, negotiate, t


def test_every_key_has_both_languages_and_same_placeholders() -> None:
    for key, texts in catalog().items():
        assert set(texts) == set(LANGUAGES), key
        zh, en = (set(re.findall(r"{(\w+)}", texts[lang])) for lang in LANGUAGES)
        assert zh == en, key


def test_negotiation() -> None:
    assert negotiate(None) == "zh-CN"
    assert negotiate("en-US,en;q=0.9") == "en"
    assert negotiate("fr-FR, en;q=0.5, zh;q=0.8") == "zh-CN"
    assert negotiate("zh-CN", explicit="en") == "en"
    assert t("errors.not_found", "en").startswith("Not found")
    assert t("no.such.key", "en") == "no.such.key"
