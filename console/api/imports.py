"""POST /import: CSV or JSON Lines, idempotent on external_id, all-or-nothing per file."""

from __future__ import annotations

from flask import Response, jsonify, request

from console.api import bp
from console.api.common import transaction
from console.auth import require_actor
from console.runtime import current_runtime
from dispatch.domain.errors import ValidationFailed
from dispatch.services import imports

MAX_IMPORT_BYTES = 200 * 1024 * 1024


def _format(filename: str | None) -> str:
    fmt = request.args.get("format")
    if not fmt and filename:
        fmt = "jsonl" if filename.lower().endswith((".jsonl", ".ndjson", ".json")) else "csv"
    if not fmt:
        fmt = (
            "jsonl"
            if "ndjson" in (request.content_type or "") or "jsonl" in (request.content_type or "")
            else "csv"
        )
    if fmt not in ("csv", "jsonl"):
        raise ValidationFailed(fields={"format": "invalid_choice"})
    return fmt


@bp.post("/import")
def import_cases() -> Response:
    actor = require_actor()
    if request.content_length and request.content_length > MAX_IMPORT_BYTES:
        raise ValidationFailed(fields={"file": "too_large"})
    upload = request.files.get("file")
    data = upload.read() if upload else request.get_data()
    if not data:
        raise ValidationFailed(fields={"file": "required"})
    fmt = _format(upload.filename if upload else None)
    runtime = current_runtime()
    with transaction() as db:
        report = imports.import_cases(db, runtime.deps, actor, data, fmt)  # type: ignore[arg-type]
    if report.errors:
        # Nothing was written; every bad row is listed with its line number.
        raise ValidationFailed(
            "import_rejected",
            count=len(report.errors),
            rows=[{"line": e.line, "fields": e.fields} for e in report.errors],
        )
    return jsonify(report.to_dict())
