"""REST API /api/v1: one module per resource, all on one blueprint."""

from __future__ import annotations

import importlib

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

RESOURCES = ("auth", "cases", "assignments", "imports", "stats", "regions", "users", "openapi")


def register_all() -> Blueprint:
    """Import the resource modules (each adds its routes to ``bp``) and return the blueprint."""
    for name in RESOURCES:
        importlib.import_module(f"{__name__}.{name}")
    return bp
