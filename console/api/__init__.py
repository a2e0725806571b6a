"""REST API /api/v1: one module per resource, all on one blueprint."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def register_all() -> Blueprint:
    """Import the resource modules (each adds its routes to ``bp``) and return the blueprint."""
    from console.api import assignments, auth, cases, imports, openapi, regions, stats, users  # noqa: F401

    return bp
