"""The demo simulator: realistic steps through the services, seeded, and a clean stop."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from dispatch.db.models import Assignment, Case
from dispatch.realtime import channels
from dispatch.services import seed
from dispatch.workers.simulator import Simulator

# Both database backends (the default parametrization of database_url).


def test_steps_go_through_the_services(app: Flask) -> None:
    rt = app.extensions["cc"]
    with rt.session_factory.begin() as db:
        seed.seed_reference(db, rt.regions, rt.reference)
    alerts: list[dict[str, Any]] = []
    rt.bus.subscribe(channels.ALERTS, lambda _c, payload: alerts.append(payload))
    sim = Simulator(rt, seed=3)
    for _ in range(80):
        sim.step()
    c = sim.counters
    assert c.failed == 0 and c.created > 20 and c.summoned > 0 and c.accepted > 0 and c.closed > 0
    assert len(alerts) == c.alerts > 0
    with rt.session_factory() as db:
        assert db.query(Case).count() == c.created
        assert db.query(Assignment).count() == c.summoned
        states = {s for (s,) in db.query(Case.state).distinct()}
    assert {"triage", "mediation", "closed"} & states


def test_runs_in_the_background_and_stops(app_factory: Any) -> None:
    app = app_factory(simulator=True)
    rt = app.extensions["cc"]
    sim = rt.extras["simulator"]
    assert sim._thread is not None and sim._thread.is_alive()
    time.sleep(0.2)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 2
    assert sim._thread is not None and not sim._thread.is_alive()
    assert sim.stop in rt.stoppers or not rt.stoppers  # stopped with the app as well
