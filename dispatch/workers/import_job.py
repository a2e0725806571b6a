"""A case import in a process of its own: the web shell's big uploads run here.

A web process must not run a long, CPU-bound import itself: under the gevent worker of
production mode every socket of the process would stall until it ends, and a process with
threads may not fork the validating child of the parallel path safely
(``import_pool.fork_is_safe``). So the web shell spools the upload to a file and starts
``python -m dispatch.workers.import_job``, which

- reads the job as JSON on stdin (settings, actor, file, format, the request's "now"),
- imports the file in one transaction (on the parallel path: this process has one thread),
  and commits,
- writes the outcome as JSON on stdout: the report, or the domain error that refused it.

The events the import emits are handed back in the outcome instead of being published here:
the embedded default's in-process bus lives in the web process, which publishes them after
this process has committed, exactly as it would have after its own commit.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from config.reference import load_reference
from config.regions import load_regions
from config.settings import Settings
from dispatch.db.session import make_engine, make_session_factory
from dispatch.domain import errors
from dispatch.domain.codes import Level, Role
from dispatch.domain.jurisdiction import Scope
from dispatch.services import imports
from dispatch.services.context import Actor
from dispatch.services.deps import Deps
from dispatch.services.outbox import install_publisher


def actor_to_json(actor: Actor) -> dict[str, Any]:
    return {
        "user_id": actor.user_id,
        "username": actor.username,
        "role": actor.role.value,
        "scope": [actor.scope.level.value, actor.scope.code],
        "department_id": actor.department_id,
        "team_id": actor.team_id,
        "lang": actor.lang,
    }


def actor_from_json(data: dict[str, Any]) -> Actor:
    level, code = data["scope"]
    return Actor(
        user_id=data["user_id"],
        username=data["username"],
        role=Role(data["role"]),
        scope=Scope(Level(level), code),
        department_id=data["department_id"],
        team_id=data["team_id"],
        lang=data["lang"],
    )


def error_to_json(err: errors.DispatchError) -> dict[str, Any]:
    return {"class": type(err).__name__, "code": err.code, "params": err.params}


def error_from_json(data: dict[str, Any]) -> errors.DispatchError:
    kind = getattr(errors, data["class"], errors.DispatchError)
    if not (isinstance(kind, type) and issubclass(kind, errors.DispatchError)):
        kind = errors.DispatchError
    return kind(data["code"], **data["params"])


class _Recorder:
    """A bus that keeps what is published, for the web process to publish for real."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, channel: str, payload: dict[str, Any]) -> None:
        self.events.append((channel, payload))

    def subscribe(self, channel: str, handler: Any) -> None:  # pragma: no cover - unused
        raise NotImplementedError

    def stop(self) -> None:
        pass


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Do one import job (the JSON the web shell sends); return the outcome to send back."""
    settings = Settings(**job["settings"])
    regions = load_regions(settings.config_dir)
    reference = load_reference(settings.config_dir)
    now = datetime.fromisoformat(job["now"])
    deps = Deps(
        deadline_rules=reference.deadline_rules(),
        region_path=regions.path,
        region_level=lambda code: regions.get(code).level,
        match_secret=bytes.fromhex(job["match_secret"]),
        # The import's "now" is the request's, as if it had run in the web process.
        clock=lambda: now,
        deadline_scale=job["deadline_scale"],
    )
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    recorder = _Recorder()
    install_publisher(factory, recorder)
    with open(job["path"], "rb") as upload:
        data = upload.read()
    try:
        with factory.begin() as session:
            report = imports.import_cases(
                session, deps, actor_from_json(job["actor"]), data, job["fmt"]
            )
    except errors.DispatchError as err:
        return {"refused": error_to_json(err)}
    finally:
        engine.dispose()
    return {"report": report.to_dict(), "events": recorder.events}


def main() -> int:
    job = json.load(sys.stdin)
    outcome = run(job)
    json.dump(outcome, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
