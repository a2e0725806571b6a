"""POST /import: CSV or JSON Lines, idempotent on external_id, all-or-nothing per file.

Small files are imported in the request's own transaction. Files big enough for the parallel
path go to a process of their own (``dispatch.workers.import_job``): under the gevent worker
a long CPU-bound import would stall every socket of this process, and a process with threads
may not fork the validating child. The request waits for that process (cooperatively under
gevent) and answers exactly as an in-process import would.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from flask import Response, jsonify, request

from console.api import bp
from console.api.common import transaction
from console.auth import require_actor
from console.runtime import Runtime, current_runtime
from dispatch.domain.errors import ValidationFailed
from dispatch.services import imports
from dispatch.services.context import Actor
from dispatch.workers import import_job

logger = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 200 * 1024 * 1024
#: Files with at least this many lines are imported by a worker process.
WORKER_MIN_LINES = imports.PARALLEL_MIN_ROWS
_REPO_ROOT = Path(__file__).resolve().parents[2]


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
    if data.count(b"\n") >= WORKER_MIN_LINES:
        report = import_in_worker(runtime, actor, data, fmt)
    else:
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


def import_in_worker(runtime: Runtime, actor: Actor, data: bytes, fmt: str) -> imports.ImportReport:
    """Import ``data`` in a ``dispatch.workers.import_job`` process; publish its events here.

    Raises:
        DispatchError: what refused the import in the worker (``Conflict``, ``Forbidden``).
        RuntimeError: the worker failed (its error output is logged).
    """
    spool = runtime.settings.data_dir / "imports"
    spool.mkdir(mode=0o700, exist_ok=True)
    # Uploads hold personal data: a private file, removed whatever happens.
    with tempfile.NamedTemporaryFile(dir=spool, suffix=".upload", delete=False) as upload:
        upload.write(data)
    job = {
        "settings": runtime.settings.model_dump(mode="json"),
        "actor": import_job.actor_to_json(actor),
        "path": upload.name,
        "fmt": fmt,
        "now": runtime.deps.now().isoformat(),
        "deadline_scale": runtime.deps.deadline_scale,
        "match_secret": runtime.deps.match_secret.hex(),
    }
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(_REPO_ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "dispatch.workers.import_job"],
            input=json.dumps(job).encode(),
            capture_output=True,
            cwd=_REPO_ROOT,
            env=env,
            check=False,
        )
    finally:
        os.unlink(upload.name)
    stderr = done.stderr.decode(errors="replace").strip()
    if done.returncode != 0:
        logger.error("import worker exited with code %s: %s", done.returncode, stderr[-4000:])
        raise RuntimeError(f"import worker exited with code {done.returncode}")
    for line in stderr.splitlines()[-20:]:
        logger.warning("import worker: %s", line)
    outcome = json.loads(done.stdout)
    if "refused" in outcome:
        raise import_job.error_from_json(outcome["refused"])
    for channel, payload in outcome["events"]:
        runtime.bus.publish(channel, payload)
    return imports.ImportReport.from_dict(outcome["report"])
