"""API tests run against the web shell alone: the plug-in extensions (hall, field, video) have
tests of their own, and leaving them out keeps these fast and independent of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from config.settings import Settings
from tests.integration.api.helpers import core_app


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    built = core_app(settings)
    yield built
    built.extensions["cc"].stop()
