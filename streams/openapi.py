"""The video part of the OpenAPI description, for ``/api/v1/openapi.json`` to merge.

``paths()`` returns OpenAPI 3.1 path items keyed like the console's document (relative to
``/api/v1``); ``schemas()`` the request bodies they refer to.
"""

from __future__ import annotations

from typing import Any

_ERR = {"$ref": "#/components/schemas/Error"}


def _responses(ok: str = "OK", *codes: str) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": ok}}
    text = {
        "400": "malformed input (invalid_sdp, bad_request, unsupported_scheme)",
        "401": "not signed in / bad token",
        "403": "role may not do this / bad ticket",
        "404": "unknown, or outside the caller's jurisdiction",
        "409": "not allowed in the call's current state",
        "413": "request or SDP too large",
        "503": "video engine not running here, or too many viewers",
    }
    for code in codes or ("400", "401", "404"):
        out[code] = {"description": text[code], "content": {"application/json": {"schema": _ERR}}}
    return out


def _body(name: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{name}"}
    return {"required": True, "content": {"application/json": {"schema": ref}}}


def _param(name: str, where: str = "path", description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": {"type": "string"},
        "description": description,
    }


CAMERA_ID = _param("camera_id")
CALL_ID = _param("call_id")


def paths() -> dict[str, Any]:
    return {
        "/cameras": {
            "get": {
                "summary": "Cameras in the caller's scope (with health); nearest with near=lon,lat",
                "parameters": [
                    _param("kind", "query", "comma-separated camera kinds"),
                    _param("tag", "query", "school, hospital, ..."),
                    _param("region", "query", "region code (and below)"),
                    _param("near", "query", "lon,lat: the nearest cameras first"),
                    _param("n", "query", "how many nearest (1-16, default 4)"),
                ],
                "responses": _responses("cameras", "400", "401"),
            }
        },
        "/cameras/{camera_id}": {
            "get": {"summary": "One camera", "parameters": [CAMERA_ID], "responses": _responses()}
        },
        "/cameras/{camera_id}/health": {
            "get": {
                "summary": "Online/offline, fps, last frame",
                "parameters": [CAMERA_ID],
                "responses": _responses(),
            }
        },
        "/cameras/{camera_id}/snapshot.jpg": {
            "get": {
                "summary": "The latest frame as JPEG",
                "parameters": [CAMERA_ID],
                "responses": _responses("image/jpeg", "401", "404", "503"),
            }
        },
        "/cameras/{camera_id}/snapshots": {
            "post": {
                "summary": "Snapshot attached to a case",
                "parameters": [CAMERA_ID],
                "requestBody": _body("SnapshotIn"),
                "responses": _responses("created"),
            }
        },
        "/snapshots/{name}": {
            "get": {
                "summary": "A snapshot taken for a case (image/jpeg)",
                "parameters": [_param("name")],
                "responses": _responses("image/jpeg"),
            }
        },
        "/video/stats": {
            "get": {
                "summary": "Viewers and shared encoders of this process",
                "responses": _responses("stats", "401"),
            }
        },
        "/video/offer": {
            "post": {
                "summary": "WebRTC offer for a camera; answers {sdp, type, viewer_id}",
                "requestBody": _body("VideoOffer"),
                "responses": _responses("answer", "400", "401", "404", "413", "503"),
            }
        },
        "/video/viewers/{viewer_id}": {
            "delete": {
                "summary": "Close a viewer (POST also accepted, for sendBeacon)",
                "parameters": [_param("viewer_id")],
                "responses": _responses(),
            }
        },
        "/video/config": {
            "get": {
                "summary": "embedded or ticket mode, and where to post offers",
                "responses": _responses("config", "401"),
            }
        },
        "/video/tickets": {
            "post": {
                "summary": "A 60-second ticket for the separate streams process",
                "requestBody": _body("VideoTicketIn"),
                "responses": _responses("ticket"),
            }
        },
        "/calls": {
            "get": {
                "summary": "Active calls of the caller",
                "responses": _responses("calls", "401"),
            },
            "post": {
                "summary": "Ring 1-8 township stations (a conference when several)",
                "requestBody": _body("CallIn"),
                "responses": _responses("created", "400", "401", "403", "404", "409"),
            },
        },
        "/calls/{call_id}": {
            "get": {"summary": "One call", "parameters": [CALL_ID], "responses": _responses()}
        },
        "/calls/{call_id}/{action}": {
            "post": {
                "summary": "accept | decline | hangup | media (offer -> answer) | recording",
                "parameters": [CALL_ID, _param("action")],
                "requestBody": _body("CallAction"),
                "responses": _responses("call or answer", "400", "401", "403", "404", "409"),
            }
        },
        "/recordings": {
            "get": {
                "summary": "Call recordings the caller may see",
                "parameters": [_param("case_id", "query")],
                "responses": _responses("recordings", "401"),
            }
        },
        "/recordings/{name}": {
            "get": {
                "summary": "A recording (video/webm, Range requests)",
                "parameters": [_param("name")],
                "responses": _responses("video/webm"),
            }
        },
    }


def schemas() -> dict[str, Any]:
    sdp = {"type": "string", "maxLength": 32768}
    return {
        "VideoOffer": {
            "type": "object",
            "required": ["camera_id", "sdp"],
            "properties": {
                "camera_id": {"type": "string"},
                "sdp": sdp,
                "type": {"const": "offer"},
                "size": {"enum": ["tile", "full"], "default": "tile"},
            },
        },
        "VideoTicketIn": {
            "type": "object",
            "required": ["camera_id"],
            "properties": {"camera_id": {"type": "string"}, "size": {"enum": ["tile", "full"]}},
        },
        "SnapshotIn": {
            "type": "object",
            "required": ["case_id"],
            "properties": {"case_id": {"type": "integer", "minimum": 1}},
        },
        "CallIn": {
            "type": "object",
            "required": ["stations"],
            "properties": {
                "stations": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "maxItems": 8,
                },
                "case_id": {"type": "integer", "minimum": 1},
            },
        },
        "CallAction": {
            "type": "object",
            "properties": {
                "station_id": {"type": "string"},
                "sdp": sdp,
                "on": {"type": "boolean"},
            },
        },
    }
