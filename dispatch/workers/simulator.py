"""The demo simulator: a living stream of intake, assignments, acceptances, outcomes,
escalations and alerts, so the hall moves from the first command.

Everything goes through the services (``cases.create_case``, ``assignments.summon`` and
``act``, ``cases.transition``) as the system actor, so the hall sees exactly what real work
produces. Alerts are demo alerts published on the ALERTS channel only (the early-warning issue
will store real ones). Seeded RNG, a daemon thread, stopped through ``runtime.stoppers``; only
started when ``settings.simulator_enabled`` (on in demo, off in production).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.runtime import Runtime
from dispatch.db.models import Assignment, Case, Department
from dispatch.domain.codes import Level, Role
from dispatch.domain.errors import DispatchError
from dispatch.realtime import channels
from dispatch.services import assignments as assignment_service
from dispatch.services import cases as case_service
from dispatch.services.context import Actor, system_actor

logger = logging.getLogger(__name__)

#: Seconds between two simulated steps.
INTERVAL = 4.0
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
#: (category, weight, title pattern, description pattern)
STORIES: tuple[tuple[str, float, str, str], ...] = (
    (
        "neighbour",
        21,
        "{a}某与{b}某相邻通道纠纷",
        "{a}某反映邻居{b}某堆放杂物占用通道，多次协商未果。",
    ),
    (
        "marriage_family",
        15,
        "{a}某与{b}某婚姻家庭纠纷",
        "{a}某与{b}某因离婚后子女抚养费问题发生争执。",
    ),
    (
        "property_mgmt",
        9,
        "{a}某与物业公司物业费纠纷",
        "{a}某等业主对物业服务不满，拒交物业费，物业公司催缴。",
    ),
    (
        "traffic",
        9,
        "{a}某与{b}某交通事故赔偿纠纷",
        "{a}某驾驶电动车与{b}某车辆发生交通事故，就赔偿金额争议。",
    ),
    ("wage_arrears", 8, "{a}某等农民工讨薪纠纷", "{a}某等{n}名农民工反映包工头{b}某拖欠工资。"),
    ("contract", 8, "{a}某与{b}某借款合同纠纷", "{a}某称{b}某借款到期未还，双方对利息有争议。"),
    ("labour", 7, "{a}某与公司解除劳动合同纠纷", "{a}某被公司解除劳动合同，要求支付经济补偿。"),
    ("consumer", 7, "{a}某与商家预付卡退费纠纷", "{a}某要求健身房退还预付卡余额，商家拒绝。"),
    ("land_contract", 6, "{a}某与村委会土地承包纠纷", "{a}某与村委会就承包地调整发生争议。"),
    ("land_acquisition", 3, "{a}某等征地补偿纠纷", "{a}某等{n}户村民对征地补偿标准有异议。"),
    ("medical", 3, "{a}某与医院医疗纠纷", "{a}某家属认为医院诊疗存在过错，要求赔偿。"),
    ("other", 4, "{a}某与{b}某宠物伤人纠纷", "{a}某被{b}某饲养的犬只咬伤，就医药费协商未果。"),
)
ALERT_STORIES: tuple[tuple[str, str], ...] = (
    ("red", "群体性讨薪聚集风险：{area}"),
    ("orange", "婚恋家庭纠纷升级风险：{area}"),
    ("yellow", "重症精神障碍患者随访逾期：{area}"),
    ("blue", "12345 同类诉求集中：{area}"),
)


@dataclass
class Counters:
    created: int = 0
    summoned: int = 0
    accepted: int = 0
    closed: int = 0
    escalated: int = 0
    alerts: int = 0
    failed: int = 0


class Simulator:
    """Takes one random step every ``interval`` seconds (``step`` is callable directly)."""

    def __init__(self, runtime: Runtime, seed: int = 20240601, interval: float = INTERVAL) -> None:
        self.runtime = runtime
        self.rng = random.Random(seed)
        self.interval = interval
        self.counters = Counters()
        self.actor: Actor = system_actor(runtime.regions.city.code)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        towns = runtime.regions.at_level(Level.TOWNSHIP)
        self._towns = [t.code for t in towns]
        self._weights = [max(t.population, 1) for t in towns]
        self._steps: list[tuple[float, Callable[[Session], object]]] = [
            (0.45, self.create),
            (0.18, self.summon),
            (0.14, self.accept),
            (0.14, self.close),
            (0.04, self.escalate),
            (0.05, self.alert),
        ]

    # -- the loop ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="demo-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval * self.rng.uniform(0.5, 1.5)):
            try:
                self.step()
            except Exception:  # the demo must keep going; the error is logged once per step
                self.counters.failed += 1
                logger.exception("simulator step failed")

    def step(self) -> None:
        """One random step (weighted), in its own transaction."""
        action = self.rng.choices([a for _, a in self._steps], [w for w, _ in self._steps])[0]
        with self.runtime.session_factory.begin() as db:
            try:
                action(db)
            except DispatchError as err:  # a race with a person at the console: skip it
                logger.info("simulator step skipped: %s", err.code)

    # -- steps ------------------------------------------------------------------------------
    def create(self, db: Session) -> Case:
        category, _w, title, text = self.rng.choices(STORIES, weights=[s[1] for s in STORIES])[0]
        a, b = self.rng.choice(SURNAMES), self.rng.choice(SURNAMES)
        n = self.rng.randint(3, 40) if category in ("wage_arrears", "land_acquisition") else 2
        town = self.rng.choices(self._towns, weights=self._weights)[0]
        lon, lat = self.runtime.regions.random_point(town, self.rng)
        description = text.format(a=a, b=b, n=n)
        severity = self.runtime.reference.suggest_severity(description, n).value
        payload: dict[str, Any] = {
            "title": title.format(a=a, b=b, n=n),
            "description": description,
            "category": category,
            "source": self.rng.choices(
                ["walk_in", "hotline", "online", "grid", "police", "petition"],
                [30, 25, 15, 18, 7, 5],
            )[0],
            "severity": severity,
            "region_code": town,
            "lat": lat,
            "lon": lon,
            "people_involved": n,
            "online": self.rng.random() < 0.2,
            "level": "township",
            "route_to": "triage" if self.rng.random() < 0.7 else None,
        }
        if payload["route_to"] is None:
            payload.pop("route_to")
        case = case_service.create_case(db, self.runtime.deps, self.actor, payload)
        self.counters.created += 1
        return case

    def _pick(self, db: Session, states: list[str]) -> Case | None:
        rows = db.scalars(
            select(Case).where(Case.state.in_(states)).order_by(Case.received_at.desc()).limit(30)
        ).all()
        return self.rng.choice(rows) if rows else None

    def summon(self, db: Session) -> None:
        case = self._pick(db, ["triage", "intake"])
        if case is None:
            return
        depts = db.scalars(
            select(Department.id).where(
                Department.region_code.in_([case.county_code, case.township_code])
            )
        ).all()
        if not depts:
            return
        target = {
            "kind": "department",
            "id": self.rng.choice(depts),
            "instructions": "请及时接单处置",
        }
        assignment_service.summon(db, self.runtime.deps, self.actor, case.id, {"targets": [target]})
        self.counters.summoned += 1

    def accept(self, db: Session) -> None:
        offered = db.scalars(
            select(Assignment)
            .where(Assignment.state == "offered")
            .order_by(Assignment.offered_at.desc())
            .limit(20)
        ).all()
        if not offered:
            return
        assignment = self.rng.choice(offered)
        staff = Actor(
            user_id=0,
            username="department",
            role=Role.DEPARTMENT_STAFF,
            scope=self.actor.scope,
            department_id=assignment.target_id,
        )
        assignment_service.act(db, self.runtime.deps, staff, assignment.id, {"action": "accept"})
        self.counters.accepted += 1

    def close(self, db: Session) -> None:
        case = self._pick(db, ["mediation"])
        if case is None:
            return
        if self.rng.random() < 0.93:
            payload: dict[str, Any] = {"action": "resolve"}
        else:
            payload = {"action": "fail", "referral": self.rng.choice(["court", "arbitration"])}
        case_service.transition(db, self.runtime.deps, self.actor, case.id, payload)
        self.counters.closed += 1

    def escalate(self, db: Session) -> None:
        case = self._pick(db, ["triage", "mediation"])
        if case is None or case.level == "city":
            return
        case_service.transition(
            db,
            self.runtime.deps,
            self.actor,
            case.id,
            {"action": "escalate", "reason": "化解难度大，提请上级协调"},
        )
        self.counters.escalated += 1

    def alert(self, db: Session) -> None:
        del db  # demo alerts are not stored (the early-warning issue owns alert records)
        level, text = self.rng.choice(ALERT_STORIES)
        town = self.rng.choices(self._towns, weights=self._weights)[0]
        self.counters.alerts += 1
        alert = {
            "id": f"sim-{self.counters.alerts}-{self.rng.randint(1000, 9999)}",
            "level": level,
            "title": text.format(area=self.runtime.regions.name(town)),
            "region_code": town,
            "raised_at": self.runtime.deps.now().isoformat(),
            "demo": True,
        }
        self.runtime.bus.publish(channels.ALERTS, {"type": "alert_raised", "alert": alert})


def init_app(app: Flask, runtime: Runtime) -> None:
    """Start the simulator thread (the app factory calls this only when it is enabled)."""
    if not runtime.settings.simulator_enabled:
        return
    simulator = Simulator(runtime)
    runtime.extras["simulator"] = simulator
    simulator.start()
    runtime.stoppers.append(simulator.stop)
    logger.info("demo simulator started (every ~%.0fs)", simulator.interval)
