"""Random action sequences through the real service and database: audit and events stay exact."""

from __future__ import annotations

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from dispatch.db.models import AuditEntry, Case, CaseEvent
from dispatch.domain.cases import CaseAction
from dispatch.domain.errors import DispatchError
from dispatch.services import cases
from dispatch.services.context import system_actor
from tests.integration.api.helpers import TOWN_A, case_payload


def _counts(app: Flask, case_id: int) -> tuple[int, int, str, int]:
    with app.extensions["cc"].session_factory() as db:
        audits = db.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.object_id == str(case_id))
        )
        events = db.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)
        )
        case = db.get(Case, case_id)
        assert case is not None
        return int(audits or 0), int(events or 0), case.state, case.version


@pytest.mark.parametrize("db_backend", ["sqlite", "postgresql"], indirect=True)
def test_every_applied_transition_writes_one_audit_row(app: Flask) -> None:
    runtime = app.extensions["cc"]
    actor = system_actor("990100")
    params = {"reason": "理由", "referral": "court", "satisfaction": 4, "note": ""}

    @settings(
        max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(st.lists(st.sampled_from(list(CaseAction)), min_size=1, max_size=12))
    def run(actions: list[CaseAction]) -> None:
        with runtime.session_factory.begin() as db:
            case_id = cases.create_case(db, runtime.deps, actor, case_payload(TOWN_A)).id
        for action in actions:
            before = _counts(app, case_id)
            try:
                with runtime.session_factory.begin() as db:
                    cases.transition(
                        db, runtime.deps, actor, case_id, {"action": action.value, **params}
                    )
            except DispatchError:
                assert _counts(app, case_id) == before  # illegal: nothing changed
                continue
            after = _counts(app, case_id)
            assert after[0] == before[0] + 1  # exactly one audit row
            assert after[1] == before[1] + 1  # and one timeline event
            assert after[3] == before[3] + 1

    run()
