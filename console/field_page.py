"""The mobile field page ``/field``: plain HTML/JS over Socket.IO, plus the photo upload.

Served from ``assets/field`` with the vendored Socket.IO client and Bootstrap, so it works with
or without Dash and offline from any CDN.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask, Response, jsonify, request, send_from_directory

from console.runtime import Runtime

ASSETS = Path(__file__).resolve().parent.parent / "assets"
FIELD_ASSETS = ASSETS / "field"
VENDOR_FILES = frozenset({"socket.io.min.js", "bootstrap.min.css"})
#: The page's own routes (public: the page itself asks for a username and password).
FIELD_ENDPOINTS = frozenset({"field_page", "field_asset", "field_vendor", "field_messages"})

#: Photo types accepted from the field, by their first bytes (the client's claim is not trusted).
MAX_PHOTO_BYTES = 5 * 1024 * 1024
_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ".png"),
    (b"WEBP", 8, "image/webp", ".webp"),
)


def sniff_photo(head: bytes) -> tuple[str, str] | None:
    """(mime type, file suffix) of a JPEG, PNG or WebP image, from its first bytes; else None."""
    for magic, offset, mime, suffix in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            if mime == "image/webp" and head[:4] != b"RIFF":
                continue
            return mime, suffix
    return None


def register_field_page(app: Flask, runtime: Runtime) -> None:
    """Routes: the page, its assets, and ``POST /api/v1/field/photos``."""
    from console.auth import require_actor
    from console.i18n import t

    uploads = Path(runtime.settings.data_dir) / "uploads"

    @app.before_request
    def _field_page_is_public() -> Response | None:
        # The field page signs in with its own bearer token (the phone is not a console
        # browser). The Dash shell's session guard, a later before_request, would send it to
        # /login; answering here first keeps /field reachable whatever that guard exempts.
        path = request.path
        if path != "/field" and not path.startswith("/field/"):
            return None
        rule = request.url_rule
        if rule is None or rule.endpoint not in FIELD_ENDPOINTS:
            return None
        view = app.view_functions[rule.endpoint]
        response: Response = app.ensure_sync(view)(**(request.view_args or {}))
        return response

    @app.get("/field")
    def field_page() -> Response:
        return send_from_directory(FIELD_ASSETS, "index.html", max_age=0)

    @app.get("/field/messages.json")
    def field_messages() -> Response:
        from console.i18n import catalog, negotiate

        lang = negotiate(request.headers.get("Accept-Language"), request.args.get("lang"))
        texts = {k: v[lang] for k, v in catalog().items() if k.startswith("field.")}
        return jsonify(texts)

    @app.get("/field/assets/<path:name>")
    def field_asset(name: str) -> Response:
        return send_from_directory(FIELD_ASSETS, name, max_age=0)

    @app.get("/field/vendor/<name>")
    def field_vendor(name: str) -> Response:
        if name not in VENDOR_FILES:
            return Response(status=404)
        return send_from_directory(ASSETS / "vendor", name, max_age=3600)

    @app.get("/api/v1/field/presence")
    def field_presence() -> Response:
        """Online, last seen and location of field users in the caller's jurisdiction."""
        from dispatch.services import delivery, users

        actor = require_actor()
        raw = request.args.get("team_id")
        team_id = int(raw) if raw and raw.isdigit() else None
        with runtime.session_factory() as db:
            visible = users.list_users(db, runtime.deps, actor)
            items = delivery.team_presence(db, visible, runtime.deps.now(), team_id)
        return jsonify(items=items)

    @app.post("/api/v1/field/photos")
    def field_photo() -> tuple[Response, int]:
        actor = require_actor()
        lang = actor.lang
        upload = request.files.get("photo")

        def refuse(code: str, status: int) -> tuple[Response, int]:
            message = t(f"field.errors.{code}", lang)
            return jsonify(error={"code": code, "message": message, "details": {}}), status

        if upload is None:
            return refuse("photo_missing", 422)
        try:
            data = upload.stream.read(MAX_PHOTO_BYTES + 1)
        finally:
            upload.close()  # large uploads are spooled to a temporary file
        if len(data) > MAX_PHOTO_BYTES:
            return refuse("photo_too_large", 413)
        kind = sniff_photo(data[:16])
        if kind is None:
            return refuse("photo_type", 415)
        mime, suffix = kind
        uploads.mkdir(parents=True, exist_ok=True)
        name = f"{actor.user_id}-{secrets.token_hex(12)}{suffix}"
        (uploads / name).write_bytes(data)
        return jsonify(path=f"uploads/{name}", mime=mime, size=len(data)), 201
