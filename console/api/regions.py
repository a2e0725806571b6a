"""Regions: the tree within the caller's jurisdiction, and GeoJSON for maps."""

from __future__ import annotations

from flask import Response, jsonify, request

from console.api import bp
from console.auth import require_actor
from console.runtime import current_runtime
from dispatch.domain.codes import Level
from dispatch.domain.errors import NotFound, ValidationFailed


def _region_json(code: str, lang: str) -> dict[str, object]:
    regions = current_runtime().regions
    region = regions.get(code)
    return {
        "code": region.code,
        "name": regions.name(code, lang),
        "name_zh": region.name_zh,
        "name_en": region.name_en,
        "level": region.level.value,
        "parent": region.parent,
        "centroid": list(region.centroid),
    }


@bp.get("/regions")
def list_regions() -> Response:
    actor = require_actor()
    regions = current_runtime().regions
    level_arg = request.args.get("level")
    try:
        level = Level(level_arg) if level_arg else None
    except ValueError as err:
        raise ValidationFailed(fields={"level": "invalid_choice"}) from err
    codes = [actor.scope.code] + [r.code for r in regions.descendants(actor.scope.code, level)]
    if level is not None:
        codes = [c for c in codes if regions.get(c).level is level]
    return jsonify(items=[_region_json(c, actor.lang) for c in codes])


@bp.get("/regions/<code>")
def get_region(code: str) -> Response:
    actor = require_actor()
    runtime = current_runtime()
    try:
        path = runtime.regions.path(code)
    except KeyError as err:
        raise NotFound(object="region", id=code) from err
    if not actor.scope.covers(path):
        raise NotFound(object="region", id=code)
    body = _region_json(code, actor.lang)
    body["children"] = [_region_json(r.code, actor.lang) for r in runtime.regions.children(code)]
    return jsonify(body)


@bp.get("/regions/geojson")
def geojson() -> Response:
    actor = require_actor()
    try:
        level = Level(request.args.get("level", "township"))
    except ValueError as err:
        raise ValidationFailed(fields={"level": "invalid_choice"}) from err
    return jsonify(current_runtime().regions.feature_collection(level, within=actor.scope.code))
