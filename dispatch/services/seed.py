"""Demo data: reference rows (regions, departments, teams), demo users and two years of cases.

The cases are synthetic but shaped like a real centre's load, so every screen has something
true to show: wage arrears peak before the Spring Festival, land disputes in spring, neighbour
quarrels in summer; townships contribute by population; most cases are general and end in a
successful mediation; some are still open, some overdue with a red card, some escalated. They
go through the import writer (``imports.write_cases``), not the ORM: a million cases took 210 s
on SQLite and 245 s on PostgreSQL on the shared, busy two-core machines (bench/README.md).
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.db.models import Department, Team
from dispatch.domain.cases import CaseState
from dispatch.domain.codes import Category, Level, Outcome, Referral, Role, Severity, Source
from dispatch.domain.identity import id_check_char, match_key
from dispatch.domain.jurisdiction import RegionPath
from dispatch.domain.kpi import LOCAL_TZ
from dispatch.domain.supervision import card
from dispatch.realtime import channels
from dispatch.services.deps import Deps
from dispatch.services.imports import CaseRecord, audit_after, gc_paused, write_cases
from dispatch.services.outbox import emit
from dispatch.services.regions import sync_regions

logger = logging.getLogger(__name__)

#: Password of every demo user (documented in bench/README.md and the README).
DEMO_PASSWORD = "demo1234"


class RegionSource(Protocol):
    """What the seeder needs of ``config.regions.RegionTree``."""

    @property
    def city(self) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def get(self, code: str) -> Any: ...

    def at_level(self, level: Level) -> Sequence[Any]: ...

    def children(self, code: str) -> Sequence[Any]: ...

    def path(self, code: str) -> RegionPath: ...

    def random_point(self, code: str, rng: random.Random) -> tuple[float, float]: ...


class ReferenceSource(Protocol):
    """What the seeder needs of ``config.reference.Reference``."""

    @property
    def departments(self) -> Sequence[Any]: ...


# ------------------------------------------------------------------------------------------
# Reference rows and users
# ------------------------------------------------------------------------------------------

#: Teams every township keeps on call: (kind, name suffix, department code they belong to).
TOWNSHIP_TEAMS: tuple[tuple[str, str, str | None], ...] = (
    ("grid", "网格工作队", None),
    ("police_station", "派出所", "police_station"),
    ("justice_office", "司法所", "justice_office"),
    ("volunteer", "和事佬志愿调解队", None),
)


def seed_reference(session: Session, regions: RegionSource, reference: ReferenceSource) -> None:
    """Upsert regions, departments (one per configured department at each region of a level it
    sits at) and the township teams. Safe to run again: existing rows are updated or kept."""
    sync_regions(session, regions, regions.path)
    session.flush()

    departments = {(d.code, d.region_code): d for d in session.scalars(select(Department))}
    for entry in reference.departments:
        for level in entry.levels:
            for region in regions.at_level(level):
                row = departments.get((entry.code, region.code))
                if row is None:
                    row = Department(
                        code=entry.code, name_zh="", name_en="", region_code=region.code
                    )
                    session.add(row)
                    departments[(entry.code, region.code)] = row
                # Township offices carry the township's name: "马鞍街道派出所".
                prefix_zh = region.name_zh if level is not Level.CITY else ""
                row.name_zh = f"{prefix_zh}{entry.zh}"
                row.name_en = f"{entry.en}, {region.name_en}"
    session.flush()

    teams = {(t.kind, t.region_code) for t in session.scalars(select(Team))}
    for township in regions.at_level(Level.TOWNSHIP):
        for kind, zh, dept_code in TOWNSHIP_TEAMS:
            if (kind, township.code) in teams:
                continue
            dept = departments.get((dept_code, township.code)) if dept_code else None
            session.add(
                Team(
                    name=f"{township.name_zh}{zh}",
                    kind=kind,
                    region_code=township.code,
                    department_id=dept.id if dept is not None else None,
                )
            )
    session.flush()


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: Role
    region_code: str
    password: str = DEMO_PASSWORD


def demo_users(regions: RegionSource) -> list[DemoUser]:
    """One demo user per role, each at a region that suits the role (password ``demo1234``).

    City: duty officer, commander, leader, analyst, admin. The first county: department staff.
    Its first township: mediator. That township's first grid: grid worker.
    """
    city = regions.city.code
    county = regions.children(city)[0].code
    township = regions.children(county)[0].code
    grids = regions.children(township)
    grid = grids[0].code if grids else township
    return [
        DemoUser("duty", "值班员小王", Role.DUTY_OFFICER, city),
        DemoUser("commander", "指挥长老李", Role.COMMANDER, city),
        DemoUser("leader", "分管领导赵", Role.LEADER, city),
        DemoUser("analyst", "研判员孙", Role.ANALYST, city),
        DemoUser("admin", "系统管理员", Role.ADMIN, city),
        DemoUser("dept", "人社局联络员周", Role.DEPARTMENT_STAFF, county),
        DemoUser("mediator", "调解员陈", Role.MEDIATOR, township),
        DemoUser("grid", "网格员刘", Role.GRID_WORKER, grid),
    ]


# ------------------------------------------------------------------------------------------
# The case model
# ------------------------------------------------------------------------------------------

#: Share of each category in the case load (weights).
CATEGORY_MIX: dict[Category, float] = {
    Category.NEIGHBOUR: 21,
    Category.MARRIAGE_FAMILY: 15,
    Category.PROPERTY_MGMT: 9,
    Category.TRAFFIC: 9,
    Category.WAGE_ARREARS: 8,
    Category.CONTRACT: 8,
    Category.LABOUR: 7,
    Category.CONSUMER: 7,
    Category.LAND_CONTRACT: 6,
    Category.LAND_ACQUISITION: 3,
    Category.MEDICAL: 3,
    Category.OTHER: 3,
    Category.EPIDEMIC: 1,
}

#: Month factors (1 = average). Wage arrears peak before the Spring Festival (Dec–Jan), land
#: contracting in spring ploughing, neighbour quarrels in the summer heat, family disputes
#: after the holiday reunions.
SEASONALITY: dict[Category, dict[int, float]] = {
    Category.WAGE_ARREARS: {11: 1.6, 12: 3.0, 1: 3.4, 2: 1.3, 6: 0.8, 7: 0.7, 8: 0.7},
    Category.LABOUR: {1: 1.3, 2: 1.4, 3: 1.3, 12: 1.2},
    Category.LAND_CONTRACT: {3: 2.2, 4: 2.5, 5: 1.7, 10: 1.2, 12: 0.5, 1: 0.5},
    Category.LAND_ACQUISITION: {4: 1.3, 5: 1.3, 9: 1.2},
    Category.NEIGHBOUR: {6: 1.5, 7: 1.8, 8: 1.7, 12: 0.8, 1: 0.7, 2: 0.7},
    Category.MARRIAGE_FAMILY: {2: 1.6, 3: 1.3, 10: 1.2},
    Category.TRAFFIC: {1: 1.2, 2: 1.3, 10: 1.3, 12: 1.1},
    Category.PROPERTY_MGMT: {7: 1.2, 8: 1.2, 1: 1.2},
    Category.CONSUMER: {11: 1.4, 12: 1.2, 6: 1.2},
}

SEVERITY_MIX: tuple[tuple[Severity, float], ...] = (
    (Severity.GENERAL, 80.0),
    (Severity.SIGNIFICANT, 15.0),
    (Severity.MAJOR, 4.0),
    (Severity.CRITICAL, 1.0),
)
#: Categories whose disputes run graver (several workers, a whole village, a hospital).
GRAVER = frozenset(
    {Category.WAGE_ARREARS, Category.LAND_ACQUISITION, Category.MEDICAL, Category.LABOUR}
)

SOURCE_MIX: tuple[tuple[Source, float], ...] = (
    (Source.WALK_IN, 30),
    (Source.HOTLINE, 22),
    (Source.GRID, 18),
    (Source.ONLINE, 11),
    (Source.POLICE, 8),
    (Source.PETITION, 4),
    (Source.COURT, 5),
    (Source.WARNING, 2),
)

#: Median days to close an ended mediation, by severity (log-normal spread around it).
MEDIAN_DAYS = {
    Severity.GENERAL: 4.0,
    Severity.SIGNIFICANT: 6.0,
    Severity.MAJOR: 5.0,
    Severity.CRITICAL: 2.5,
}

#: Outcomes of cases that ended: ~98.5% of mediations (success + failure) succeed.
OUTCOME_MIX: tuple[tuple[Outcome, float], ...] = (
    (Outcome.SUCCESS, 93.6),
    (Outcome.FAILURE, 1.4),
    (Outcome.WITHDRAWN, 3.0),
    (Outcome.REFERRED, 2.0),
)

ONLINE_SHARE = 0.20
ESCALATED_SHARE = {
    Severity.GENERAL: 0.01,
    Severity.SIGNIFICANT: 0.05,
    Severity.MAJOR: 0.25,
    Severity.CRITICAL: 0.5,
}
#: Share of cases that got stuck: still open long past their deadline (the red cards).
STUCK_SHARE = 0.004

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌浩宇欣怡子涵雨轩梓"

TOPICS: dict[Category, tuple[str, ...]] = {
    Category.MARRIAGE_FAMILY: ("离婚财产分割", "子女抚养费", "老人赡养", "彩礼返还", "遗产继承"),
    Category.NEIGHBOUR: ("楼上漏水", "噪音扰民", "宅基地界址", "占道堆放杂物", "排水沟堵塞"),
    Category.LABOUR: ("解除劳动合同补偿", "工伤待遇", "社保缴纳", "加班费"),
    Category.WAGE_ARREARS: ("农民工讨薪", "包工头拖欠工资", "工程款拖欠致欠薪", "年底工钱结算"),
    Category.LAND_CONTRACT: ("承包地边界", "土地流转租金", "林地确权", "责任田调整"),
    Category.LAND_ACQUISITION: ("征地补偿款分配", "拆迁安置面积", "搬迁过渡费"),
    Category.PROPERTY_MGMT: ("物业费收缴", "小区停车位", "电梯维修", "维修基金使用"),
    Category.TRAFFIC: ("电动车剐蹭", "追尾事故赔偿", "行人受伤赔偿"),
    Category.MEDICAL: ("手术并发症赔偿", "误诊争议", "医疗费用结算"),
    Category.CONSUMER: ("预付卡退费", "网购质量问题", "装修质量"),
    Category.CONTRACT: ("民间借贷", "房屋租赁押金", "货款拖欠", "装修工程款"),
    Category.EPIDEMIC: ("隔离期间租金", "停业损失"),
    Category.OTHER: ("宠物伤人", "合伙分红", "农机借用"),
}

#: Weight of each local hour of the day (0-23) at intake.
HOUR_WEIGHTS = (
    *(0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.5, 4, 6, 6, 5),
    *(3, 4, 6, 6, 5, 4, 2, 1.5, 1, 0.8, 0.5, 0.3),
)

ROADS = ("人民路", "解放路", "建设路", "新华街", "滨江路", "中山路", "光明巷", "和平街", "幸福路")


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


@dataclass
class _Town:
    code: str
    name: str
    path: RegionPath
    grids: list[str]
    points: list[tuple[float, float]]
    id_prefix: str


class DemoCases:
    """A deterministic generator of demo cases (same seed, same cases)."""

    def __init__(
        self,
        regions: RegionSource,
        deps: Deps,
        now: datetime,
        rng_seed: int = 7,
        days: int = 730,
        pool_size: int = 50_000,
    ) -> None:
        self.rng = random.Random(rng_seed)
        #: Residents per county that parties are drawn from (created on first draw).
        self.pool_size = pool_size
        self.people: dict[
            str, dict[int, tuple[str, str | None, str | None, str | None, str | None]]
        ] = {}
        self.finish = {key: rule.finish for key, rule in deps.deadline_rules.items()}
        self.deps = deps
        self.now = now.astimezone(UTC)
        self.start = self.now - timedelta(days=days)
        townships = list(regions.at_level(Level.TOWNSHIP))
        self.towns: list[_Town] = []
        for t in townships:
            path = regions.path(t.code)
            grids = [g.code for g in regions.children(t.code)]
            # A pool of points per township: random_point does polygon tests, too slow per case.
            points = [regions.random_point(t.code, self.rng) for _ in range(64)]
            assert path.county is not None
            self.towns.append(_Town(t.code, t.name_zh, path, grids, points, path.county[:6]))
        self.town_cum = _cumulative([max(t.population, 1) for t in townships])
        self.parents = {t.code: (t.path.county or "", t.path.city) for t in self.towns}
        self.categories = list(CATEGORY_MIX)
        self.category_cum = _cumulative(list(CATEGORY_MIX.values()))
        # Per category: cumulative weights over the days of the window (season x weekday x a
        # gentle growth as more people learn of the centre).
        first = self.start.astimezone(LOCAL_TZ).date()
        self.days = [first + timedelta(days=i) for i in range(days + 1)]
        self.day_cum: dict[Category, list[float]] = {}
        for category in self.categories:
            months = SEASONALITY.get(category, {})
            weights = []
            for i, day in enumerate(self.days):
                weekday = 0.55 if day.weekday() >= 5 else 1.0
                growth = 0.85 + 0.3 * i / max(days, 1)
                fade = 1.0 if category is not Category.EPIDEMIC else math.exp(-i / 180)
                weights.append(months.get(day.month, 1.0) * weekday * growth * fade)
            self.day_cum[category] = _cumulative(weights)
        # Office hours dominate; the hotline and the police also take calls at night.
        self.hour_cum = _cumulative(HOUR_WEIGHTS)
        self.severity_cum = _cumulative([w for _, w in SEVERITY_MIX])
        self.source_cum = _cumulative([w for _, w in SOURCE_MIX])
        self.outcome_cum = _cumulative([w for _, w in OUTCOME_MIX])
        self._json: dict[Any, str] = {}

    # --- small draws -------------------------------------------------------------------

    def _pick(self, cum: list[float]) -> int:
        return bisect.bisect_left(cum, self.rng.random() * cum[-1])

    def _person(
        self, town: _Town, role: str
    ) -> tuple[str, str, str | None, str | None, str | None, str | None]:
        """A party drawn from the county's residents: the same people come back now and then,
        as they do in life (and as repeat-dispute detection expects)."""
        pool = self.people.setdefault(town.id_prefix, {})
        index = int(self.rng.random() * self.pool_size)
        person = pool.get(index)
        if person is None:
            person = pool[index] = self._new_person(town.id_prefix)
        name, id_number, phone, id_key, phone_key = person
        return name, role, id_number, phone, id_key, phone_key

    def _new_person(
        self, prefix: str
    ) -> tuple[str, str | None, str | None, str | None, str | None]:
        rng = self.rng
        secret = self.deps.match_secret
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2, 2))))
        id_number = None
        if rng.random() < 0.85:
            born = date(1950, 1, 1) + timedelta(days=rng.randrange(20_000))
            first17 = f"{prefix}{born:%Y%m%d}{rng.randrange(1000):03d}"
            id_number = first17 + id_check_char(first17)
        phone = None
        if rng.random() < 0.9:
            phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        return (
            name,
            id_number,
            phone,
            match_key(secret, id_number) if id_number else None,
            match_key(secret, phone) if phone else None,
        )

    def _json_once(self, key: Any, value: dict[str, Any]) -> str:
        text = self._json.get(key)
        if text is None:
            text = self._json[key] = json.dumps(value)
        return text

    # --- one case ----------------------------------------------------------------------

    def case(self) -> CaseRecord:
        rng = self.rng
        category = self.categories[self._pick(self.category_cum)]
        town = self.towns[self._pick(self.town_cum)]
        day = self.days[min(self._pick(self.day_cum[category]), len(self.days) - 1)]
        hour = self._pick(self.hour_cum)
        local = datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL_TZ) + timedelta(
            seconds=int(rng.random() * 3600)
        )
        received_at = local.astimezone(UTC)
        if received_at >= self.now or received_at < self.start:
            received_at = self.now - timedelta(seconds=rng.randrange(1, 86_400 * 30))

        severity = SEVERITY_MIX[self._pick(self.severity_cum)][0]
        if category in GRAVER and severity is Severity.GENERAL and rng.random() < 0.3:
            severity = Severity.SIGNIFICANT
        source = SOURCE_MIX[self._pick(self.source_cum)][0]
        online = source is Source.ONLINE or rng.random() < (ONLINE_SHARE - 0.11) / 0.89
        level = Level.TOWNSHIP
        roll = rng.random()
        if severity is Severity.CRITICAL or (severity is Severity.MAJOR and roll < 0.4):
            level = Level.COUNTY if roll < 0.7 else Level.CITY
        elif roll < 0.12:
            level = Level.COUNTY
        elif roll < 0.15:
            level = Level.CITY
        escalations = 0
        escalated_at = None
        if level is not Level.CITY and rng.random() < ESCALATED_SHARE[severity]:
            # Escalated one level up after a few hours to a couple of days.
            escalations = 1
            escalated_at = received_at + timedelta(hours=rng.uniform(2, 48))
            level = Level.COUNTY if level is Level.TOWNSHIP else Level.CITY
        finish_by = received_at + self.finish[(severity, level)]
        allowed = finish_by - received_at

        # How long it takes: log-normal around the median; ~3% run past the deadline.
        duration = timedelta(days=MEDIAN_DAYS[severity] * math.exp(rng.gauss(0, 0.8)))
        if duration > allowed and rng.random() < 0.8:
            duration = allowed * rng.uniform(0.5, 0.98)
        if escalated_at is not None and received_at + duration <= escalated_at:
            duration = escalated_at - received_at + timedelta(hours=rng.uniform(1, 24))
        end = received_at + duration
        stuck = rng.random() < STUCK_SHARE and finish_by < self.now
        state: CaseState
        outcome: Outcome | None = None
        referral: str | None = None
        closed_at: datetime | None = None
        if end <= self.now and not stuck:
            outcome = OUTCOME_MIX[self._pick(self.outcome_cum)][0]
            closed_at = end
            if outcome is Outcome.REFERRED:
                state = CaseState.REJECTED
                referral = rng.choice(
                    (Referral.COURT, Referral.PETITION_OFFICE, Referral.OTHER_AGENCY)
                ).value
                # Referred cases are turned away at review, within a day or two (and never
                # later than the drawn end, which is not in the future).
                closed_at = min(received_at + timedelta(hours=rng.uniform(1, 40)), end)
                escalated_at = None if escalated_at and escalated_at > closed_at else escalated_at
            elif outcome is Outcome.FAILURE:
                state = CaseState.CLOSED
                referral = rng.choice((Referral.LITIGATION, Referral.ARBITRATION)).value
            else:
                state = CaseState.CLOSED
            if state is not CaseState.REJECTED and (self.now - closed_at).days > 60:
                state = CaseState.ARCHIVED
            elif state is CaseState.CLOSED and (self.now - closed_at).days > 7:
                state = CaseState.VISITED if rng.random() < 0.7 else CaseState.CLOSED
        else:
            progress = (self.now - received_at) / duration if duration else 1.0
            if stuck or progress > 0.6:
                state = rng.choice(
                    (CaseState.MEDIATION, CaseState.AGREEMENT, CaseState.PERFORMANCE)
                )
            elif progress > 0.2:
                state = CaseState.MEDIATION
            else:
                state = rng.choice((CaseState.INTAKE, CaseState.REVIEW, CaseState.TRIAGE))
            if escalated_at is not None and escalated_at > self.now:
                escalated_at = None
        if escalated_at is None and escalations:
            escalations = 0
            level = Level.TOWNSHIP if level is Level.COUNTY else Level.COUNTY
            finish_by = received_at + self.finish[(severity, level)]
        colour = card(received_at, finish_by, self.now, done=closed_at is not None).value

        people = {
            Severity.GENERAL: rng.randint(1, 4),
            Severity.SIGNIFICANT: rng.randint(5, 9),
            Severity.MAJOR: rng.randint(10, 29),
            Severity.CRITICAL: rng.randint(30, 120),
        }[severity]
        amount = None
        if category in (
            Category.WAGE_ARREARS,
            Category.LABOUR,
            Category.CONTRACT,
            Category.CONSUMER,
            Category.TRAFFIC,
            Category.MEDICAL,
            Category.LAND_ACQUISITION,
        ):
            amount = Decimal(int(math.exp(rng.gauss(9.2, 1.1)) * people**0.5)).quantize(
                Decimal("0.01")
            )
        lon, lat = rng.choice(town.points)
        topic = rng.choice(TOPICS[category])
        applicant = self._person(town, "applicant")
        respondent = self._person(town, "respondent")
        parties = [applicant, respondent]
        if rng.random() < 0.15:
            parties.append(self._person(town, "third_party"))
        title = f"{applicant[0][0]}某与{respondent[0][0]}某{topic}纠纷"
        grid = rng.choice(town.grids) if town.grids and rng.random() < 0.6 else None

        # An escalated case was taken in one level below where it is now.
        start_level = level
        if escalated_at is not None:
            start_level = Level.TOWNSHIP if level is Level.COUNTY else Level.COUNTY
        events: list[tuple[str, datetime, str]] = [
            (
                "created",
                received_at,
                self._json_once(
                    ("c", source, start_level), {"source": source, "level": start_level}
                ),
            )
        ]
        if escalated_at is not None:
            events.append(
                (
                    "escalate",
                    escalated_at,
                    self._json_once(
                        ("e", level),
                        {
                            "from": "mediation",
                            "to": "mediation",
                            "from_level": start_level,
                            "to_level": level,
                        },
                    ),
                )
            )
        if closed_at is not None and outcome is not None:
            kind = _END_KIND[outcome]
            events.append(
                (kind, closed_at, self._json_once(("x", kind, referral), {"referral": referral}))
            )
        record = CaseRecord(
            external_id=None,
            title=title,
            description=f"{town.name}{topic}，涉及{people}人。",
            category=category.value,
            source=source.value,
            severity=severity.value,
            state=state.value,
            level=level.value,
            outcome=outcome.value if outcome else None,
            referral=referral,
            city_code=town.path.city,
            county_code=town.path.county or "",
            township_code=town.code,
            grid_code=grid,
            address=f"{town.name}{rng.choice(ROADS)}{rng.randint(1, 300)}号",
            lat=lat,
            lon=lon,
            people_involved=people,
            amount=amount,
            online=online,
            received_at=received_at,
            finish_by=finish_by,
            closed_at=closed_at,
            card=colour,
            escalations=escalations,
            updated_at=closed_at or escalated_at or received_at,
            parties=parties,
            events=events,
            audit=None,
        )
        record.audit = ("case.create", received_at, audit_after(record))
        return record

    def batches(self, n_cases: int, size: int) -> Iterator[list[CaseRecord]]:
        made = 0
        while made < n_cases:
            count = min(size, n_cases - made)
            yield [self.case() for _ in range(count)]
            made += count


_END_KIND = {
    Outcome.SUCCESS: "resolve",
    Outcome.FAILURE: "fail",
    Outcome.WITHDRAWN: "withdraw",
    Outcome.REFERRED: "reject",
}


def seed_demo(
    session: Session,
    deps: Deps,
    regions: RegionSource,
    reference: ReferenceSource | None,
    n_cases: int,
    now: datetime,
    rng_seed: int = 7,
    batch_size: int = 20_000,
) -> int:
    """Write ``n_cases`` demo cases received over the two years before ``now``; return the count.

    Writes in the caller's transaction (the caller commits), with parties, a timeline per case
    (created, escalate, the closing action), an audit row per case and the rollups. Deadlines
    come from ``deps.deadline_rules`` (the reference data); ``reference`` is accepted so callers
    pass what ``seed_reference`` takes, and is otherwise unused today.
    """
    del reference  # deadlines arrive through deps; kept in the signature for the CLI's symmetry
    # Residents per county who bring disputes: some people come back a few times over two
    # years, as they do in life, without a handful of people appearing everywhere.
    pool = max(200, min(50_000, n_cases // 40))
    generator = DemoCases(regions, deps, now, rng_seed, pool_size=pool)
    written = 0
    with gc_paused():
        for batch in generator.batches(n_cases, batch_size):
            # In time order the date-led indexes (received, closed, deadline, case code) take
            # their inserts near each other instead of all over the tree.
            batch.sort(key=lambda r: r.received_at)
            write_cases(session, batch, generator.parents, None)
            written += len(batch)
            logger.info("seeded %s of %s demo cases", written, n_cases)
    if written:
        emit(session, channels.CASES, {"type": "cases_imported", "count": written})
        emit(
            session,
            channels.KPI,
            {"type": "cases_imported", "township_codes": sorted(generator.parents)},
        )
    return written
