"""The one place where video touches cases: events (call log) and attachments.

``DispatchCaseLink`` calls ``dispatch.services.cases.add_timeline_event`` / ``add_attachment``
in a short transaction of its own; ``MemoryCaseLink`` keeps what it was given (tests, standalone).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Protocol

from dispatch.services.context import Actor

logger = logging.getLogger(__name__)


class CaseLink(Protocol):
    def event(self, actor: Actor, case_id: int, kind: str, data: dict[str, Any]) -> None: ...

    def attach(
        self, actor: Actor, case_id: int, kind: str, path: str, mime: str, meta: dict[str, Any]
    ) -> None: ...


class MemoryCaseLink:
    def __init__(self) -> None:
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.attachments: list[tuple[int, str, str, str, dict[str, Any]]] = []

    def event(self, actor: Actor, case_id: int, kind: str, data: dict[str, Any]) -> None:
        self.events.append((case_id, kind, data))

    def attach(
        self, actor: Actor, case_id: int, kind: str, path: str, mime: str, meta: dict[str, Any]
    ) -> None:
        self.attachments.append((case_id, kind, path, mime, meta))


class DispatchCaseLink:
    """Writes through the dispatch services (``add_timeline_event``, ``add_attachment``), each
    in a short transaction of its own. Their errors (unknown case, out of scope) propagate."""

    def __init__(self, session_factory: Any, deps: Any) -> None:
        self._session_factory = session_factory
        self._deps = deps

    def _cases(self) -> Any:
        return importlib.import_module("dispatch.services.cases")

    def event(self, actor: Actor, case_id: int, kind: str, data: dict[str, Any]) -> None:
        with self._session_factory.begin() as session:
            self._cases().add_timeline_event(session, self._deps, actor, case_id, kind, data)

    def attach(
        self, actor: Actor, case_id: int, kind: str, path: str, mime: str, meta: dict[str, Any]
    ) -> None:
        with self._session_factory.begin() as session:
            self._cases().add_attachment(
                session, self._deps, actor, case_id, kind, path, mime, meta
            )
