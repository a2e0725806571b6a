"""Bus channel names, in one place so publishers and subscribers cannot drift apart."""

from __future__ import annotations

#: Case created, changed, transitioned (payload: case summary + event).
CASES = "cases"
#: Assignment offered, accepted, refused, reported, finished, supervision steps.
ASSIGNMENTS = "assignments"
#: Early-warning alerts raised and acknowledged.
ALERTS = "alerts"
#: KPI figures changed (payload: region code; displays re-read the summary).
KPI = "kpi"
#: Field presence and locations.
PRESENCE = "presence"
#: Camera health (online, offline, fps).
CAMERAS = "cameras"
#: Video calls (ring, accept, decline, hang up).
CALLS = "calls"
#: System-wide mode changes (wartime mode on/off).
MODE = "mode"

ALL = (CASES, ASSIGNMENTS, ALERTS, KPI, PRESENCE, CAMERAS, CALLS, MODE)
