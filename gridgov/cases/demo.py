"""Demo cases: a year of cases for the demo county, each with the timeline the services would have written.

``load_cases`` fills a demo tree (gridgov.areas.demo, residents optional) with cases filed over the past year:

- channels in the proportions of a county's platform: grid workers' reports most, then the hotline (民情热线),
  residents' self-reports (随手拍), walk-in petitions (信访), the deputies' office, video AI alarms and Open311;
- the eight domains of 八抓八防, disputes and risks most common, floods in summer and fires in the dry season,
  within each domain its seeded categories (any other active category too);
- most cases closed, fixed mostly on time, a few closed not fixed with the reason, refused or merged, a few
  reworked, rated mostly 满意; some escalated, so that the level resolved spreads over grid, village, town and
  county, most at grid and village (小事不出格); recent ones still open, a few overdue or supervised;
- a handful of cases placed for the demo logins (the county and town operators, the village staff, the grid
  worker, the water department's handler, the leader), so that each of their inbox tabs shows something.

Each case is simulated action by action through ``workflow.TRANSITIONS`` (every action checked against the
table) with the effects of ``services.case_act``'s handlers: desk, holder, mode, assignments, deadlines from the
working-day calendar (``case_deadline`` on one snapshot of ``gridgov.core.calendar``), closed_on_time and the
level resolved, urge/rework/escalation counts. The deadline sweep (``services.cases_sweep_deadlines``) is
simulated too, as if it ran every ``SWEEP_MINUTES``: its warnings, automatic urges and escalations appear in the
timelines as the system's. An action whose time would lie after now is not taken: recent cases stay open in
whatever state they had reached. Notifications are written for the last ``NOTIFY_DAYS`` days only.

Actors: the user who would act where the demo has one (the grid's workers, the department's handler, the demo
logins on their posts); desks and units the demo staffs with nobody act under the unit's name, without a user.

Speed: rows are built as plain values and written in batches with one prepared INSERT (SQLite) or COPY
(PostgreSQL), as the resident loader does; case primary keys are given here (the sequence is reset at the end).
Phone numbers are sealed once for a pool of callers.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import json
import math
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from gridgov.areas.demo import GIVEN_FIRST, GIVEN_SECOND, GIVEN_SINGLE, MOBILE_PREFIXES, SURNAMES
from gridgov.areas.models import GRID_KINDS, Area, Department, Post, Rank, Staff
from gridgov.areas.scope import ROLE_PERMS, Perm
from gridgov.cases import derived
from gridgov.cases.models import (
    OPEN_STATES,
    AssignmentRole,
    Case,
    CaseAction,
    CaseAssignment,
    CaseSource,
    Category,
    Channel,
    Mode,
    Notification,
    Outcome,
    Rating,
    State,
    Urgency,
)
from gridgov.cases.services import TRACKING_ALPHABET, URGENCY_MAX_DAYS
from gridgov.cases.workflow import BY_VERB, WORKING
from gridgov.core import audit, calendar, crypto
from gridgov.core.errors import ApplicationError
from gridgov.core.idnumber import mask_phone
from gridgov.registry.models import Household

ACTOR = "gridgov demo"
CASES_PER_SCALE = {"tiny": 200, "county": 4_000, "city": 8_000}
BATCH_CASES = 5_000
SWEEP_MINUTES = 15  # the deadline sweep's period assumed for the timelines
NOTIFY_DAYS = 14  # notifications are written for this many days back
PHONE_POOL = 2_000  # callers whose phone numbers are sealed once and reused
US = 1_000_000  # times are integer microseconds since the epoch (UTC)
HOUR, DAY = 3600 * US, 86400 * US
LOCAL_OFFSET = 8 * HOUR  # Asia/Shanghai, no daylight saving
TRACKING_SPACE, TRACKING_MULTIPLIER = 32**10, 0x9E3779B97F4A7C15 % 32**10 | 1
RANK_ORDER = {Rank.VILLAGE: 0, Rank.TOWN: 1, Rank.COUNTY: 2, Rank.CITY: 3}
SYSTEM = (None, "system")  # audit.actor_label(None): the deadline sweep
LIVE = frozenset(OPEN_STATES - {State.SUSPENDED, State.REPORTED})  # what the sweep looks at
ESCALATE_FROM = BY_VERB["escalate"].sources

# --- proportions ------------------------------------------------------------------------------------

CHANNELS = [(Channel.GRID_WORKER, 52), (Channel.HOTLINE, 18), (Channel.SELF_REPORT, 11), (Channel.PETITION, 6),
            (Channel.DEPUTIES, 3), (Channel.VIDEO_AI, 7), (Channel.OPEN311, 3)]
# Domain weights, and the months in which a domain is three times (or a third as) frequent.
DOMAINS = {"risk": 30, "dispute": 27, "security": 10, "policy": 9, "ecology": 7, "relapse": 6, "flood": 6,
           "forest": 5}
SEASONS = {"flood": ({6, 7, 8, 9}, {11, 12, 1, 2, 3}), "forest": ({11, 12, 1, 2, 3, 4}, {6, 7, 8})}
CATEGORY_WEIGHTS = {
    "policy_enquiry": 7, "policy_complaint": 3,
    "flood_hazard": 4, "flood_evacuation": 2, "flood_relief": 4,
    "relapse_lead": 7, "relapse_hardship": 3,
    "dispute_neighbour": 45, "dispute_family": 20, "dispute_land": 20, "dispute_wages": 15,
    "security_case": 3, "security_suspicious": 4, "security_special_group": 3,
    "forest_fire": 2, "forest_open_fire": 8,
    "risk_emergency": 3, "risk_safety": 25, "risk_road": 30, "risk_water": 20, "risk_environment": 22,
    "ecology_logging": 4, "ecology_pollution": 3, "ecology_building": 3,
}
# Where each kind of case goes when a town or the county hands it to a department.
DEPARTMENTS_FOR = {
    "policy": ["人社局", "民政局", "农业农村局"], "flood": ["水务局", "应急管理局"],
    "relapse": ["乡村振兴局", "民政局"], "dispute": ["司法局"], "security": ["公安局"],
    "forest": ["林业局", "应急管理局"], "ecology": ["自然资源局", "林业局"],
    "risk_water": ["水务局"], "risk_road": ["交通运输局", "住建局"], "risk_safety": ["应急管理局", "住建局"],
    "risk_environment": ["住建局"], "risk_emergency": ["应急管理局"],
}
# Who resolves a grid worker's report (the village desk's choices) and a public report (the county's).
GRID_ROUTES = [("self", 50), ("grid", 14), ("village", 20), ("town", 11), ("county", 4), ("refuse", 1)]
PUBLIC_ROUTES = [("grid", 20), ("village", 30), ("town", 25), ("department", 12), ("county", 4),
                 ("not_fixed", 4), ("refuse", 3), ("merge", 2)]
ON_TIME = {"grid": 0.95, "village": 0.93, "town": 0.88, "department": 0.84, "county": 0.84}
RATINGS = [(Rating.SATISFIED, 86), (Rating.BASICALLY, 10), (Rating.UNSATISFIED, 4)]
RATED = {Channel.GRID_WORKER: 0.75, Channel.VIDEO_AI: 0.0}  # others 0.85
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 14, 16, 16, 14, 9, 10, 14, 15, 14, 12, 9, 7, 5, 4, 2, 1]

# --- texts ----------------------------------------------------------------------------------------------

DESCRIPTIONS = {
    "policy_enquiry": ["{village}{surname}某来电咨询城乡居民养老保险缴费标准和补缴政策。",
                       "群众咨询{village}高龄补贴的申领条件和办理流程。",
                       "{surname}某咨询医保报销比例和异地就医备案办法。"],
    "policy_complaint": ["{village}{surname}某反映耕地地力保护补贴未发放到位，要求核实。",
                         "群众反映{village}低保评议过程不公开，要求公示评议结果。",
                         "{surname}某反映危房改造补助资金迟迟未拨付。"],
    "flood_hazard": ["{place}河道水位快速上涨，漫过便桥，下游农户有被淹风险。",
                     "{place}后山出现裂缝并有少量滑塌，坡下住有{n}户群众。",
                     "{place}沟道发生泥石流，冲毁道路约{n}0米。"],
    "flood_evacuation": ["{place}临河低洼处{n}户群众需在强降雨前转移避险，请组织人员和车辆。",
                         "{place}地灾隐患点受威胁群众{n}户需临时转移安置。"],
    "flood_relief": ["{place}{surname}某家房屋因连续降雨后墙倒塌，需灾后救助。",
                     "{place}强降雨冲毁{surname}某家{n}亩农田，申请救灾补助。"],
    "relapse_lead": ["{place}{surname}某家因病产生大额医疗费用，存在返贫风险，建议纳入监测。",
                     "{place}脱贫户{surname}某家主要劳动力务工受伤，家庭收入骤减。",
                     "{place}{surname}某家因子女上学开支增加，生活困难。"],
    "relapse_hardship": ["{place}{surname}某家突发火灾，房屋及财物受损严重，生活无着。",
                         "{place}{surname}某突发重病住院，家庭无力承担医疗费用。"],
    "dispute_neighbour": ["{place}{surname}家与邻居因宅基地边界和排水沟发生争执，双方情绪激动。",
                          "{place}两户村民因院墙滴水问题产生纠纷，多次争吵。",
                          "{place}{surname}某反映邻居家的狗多次咬伤鸡鸭，协商未果。",
                          "{place}村民因门前道路堆放柴草发生口角。"],
    "dispute_family": ["{place}{surname}某夫妻因家庭琐事长期争吵，女方提出离婚，情绪不稳定。",
                       "{place}{surname}家兄弟因赡养老人问题发生矛盾。",
                       "{place}{surname}某老人反映儿子长期不支付赡养费。"],
    "dispute_land": ["{place}两户村民因承包地边界不清发生争议，要求重新确权。",
                     "{place}{surname}某与组里因山林权属发生纠纷，双方各持证明材料。",
                     "{place}村民反映集体土地流转租金分配不公。"],
    "dispute_wages": ["{place}{n}名务工人员反映某建筑工地拖欠工资约{n}万元。",
                      "{place}{surname}某反映在茶厂务工的工资被拖欠{n}个月。"],
    "security_case": ["{place}村民反映夜间有人盗窃电动车，已报警。",
                      "{place}有人酒后在村委会门前滋事，打伤一人。",
                      "{place}{surname}某家中被盗，丢失现金和手机。"],
    "security_suspicious": ["{place}近日有陌生人员挨家挨户推销保健品，疑似诈骗。",
                            "{place}发现有人在村口长时间逗留拍照，形迹可疑。"],
    "security_special_group": ["{place}社区矫正对象{surname}某未按时报到，联系不上。",
                               "{place}严重精神障碍患者{surname}某近期病情波动，家属管控困难。"],
    "forest_fire": ["{place}后山林地发现明火和浓烟，火势有蔓延趋势。",
                    "{place}山坡有烟点，疑似祭祀用火引燃荒草。"],
    "forest_open_fire": ["{place}村民在林缘焚烧秸秆和杂草。", "{place}有人上坟烧纸放炮，存在火灾隐患。"],
    "risk_emergency": ["{place}道路发生交通事故，一辆货车侧翻，有人员受伤。",
                       "{place}一处民房发生燃气泄漏，已疏散周边群众。"],
    "risk_safety": ["{place}{surname}家老旧土木房屋墙体开裂，存在倒塌风险。",
                    "{place}小卖部私拉电线，存在用电安全隐患。",
                    "{place}路边变压器护栏损坏，儿童容易靠近。"],
    "risk_road": ["{place}通组道路路面塌陷约{n}平方米，车辆通行困难。", "{place}路灯损坏{n}盏，夜间出行不便。",
                  "{place}村道护栏被撞坏，存在安全隐患。", "{place}桥面伸缩缝破损，车辆经过颠簸。"],
    "risk_water": ["{place}自来水管破裂，路面积水，部分农户停水。",
                   "{place}{n}户群众反映近一周自来水时有时无。",
                   "{place}饮水井水质浑浊，群众担心饮水安全。"],
    "risk_environment": ["{place}垃圾收集点长期未清运，异味严重。", "{place}河道边有人倾倒建筑垃圾。",
                         "{place}养殖场粪污直排沟渠，群众反映强烈。"],
    "ecology_logging": ["{place}后山发现有人砍伐林木，现场有新鲜树桩{n}处。",
                        "{place}有人无证采挖野生兰草和树桩。"],
    "ecology_pollution": ["{place}小作坊排放污水进入河道，水体发黑。",
                          "{place}选矿厂尾矿渣堆放在河滩，存在污染风险。"],
    "ecology_building": ["{place}有人在基本农田上违规建房。", "{place}河道管理范围内有人违规搭建彩钢棚。"],
}
VIDEO_AI = {  # what the cameras recognise, by category
    "forest_fire": "【视频AI预警】{place}林区监控识别到烟火，请立即核实。",
    "forest_open_fire": "【视频AI预警】{place}监控识别到野外用火。",
    "risk_environment": "【视频AI预警】{place}监控识别到垃圾堆积。",
    "risk_road": "【视频AI预警】{place}监控识别到路面障碍物。",
    "risk_safety": "【视频AI预警】{place}监控识别到人员进入危险区域。",
    "ecology_building": "【视频AI预警】{place}监控识别到疑似新增建筑。",
    "ecology_logging": "【视频AI预警】{place}林区监控识别到疑似砍伐。",
    "flood_hazard": "【视频AI预警】{place}河道监控识别到水位超警戒线。",
    "security_suspicious": "【视频AI预警】{place}监控识别到人员异常聚集。",
}
REPORTS = {
    "policy": ["已电话答复政策内容，群众表示清楚。", "已核实情况并协调落实，群众认可。"],
    "flood": ["已组织人员转移并设置警戒，险情已排除。", "已清理淤积，恢复通行。", "已发放救灾物资和临时救助金。"],
    "relapse": ["已入户核实，纳入防返贫监测并落实帮扶措施。", "已申请临时救助，帮扶干部持续跟进。"],
    "dispute": ["已组织双方调解，达成和解。", "已上门调解，双方签订调解协议书。", "经人民调解委员会调解，矛盾已化解。"],
    "security": ["派出所已出警处置，现场已平稳。", "已核查，系正常人员，已告知群众。", "已落实稳控措施，专人跟进。"],
    "forest": ["火情已扑灭，已安排人员看守余火。", "已制止违规用火，并开展防火宣传。"],
    "risk": ["已维修完毕，恢复正常。", "已整改到位，隐患消除。", "已联系相关单位清运处理。"],
    "ecology": ["已责令停止违法行为，并立案查处。", "已恢复原状，持续巡查。"],
}
NOTES = {
    "refuse": ["信息不全，无法核实，已电话告知。", "不属于受理范围，已告知向相关部门反映。",
               "重复反映，已告知办理进度。"],
    "escalate": ["本级调解未果，申请上级协调处理。", "涉及多个部门职能，超出本级处置能力。"],
    "send_back": ["不属于本单位职责范围，请重新派遣。", "地址有误，非本辖区，请核实后改派。"],
    "reassign": ["原承办单位反映非其职责，改派。"],
    "assist_report": ["已配合做好现场工作。", "已协助做好群众思想工作。"],
    "rework": ["现场核查问题未彻底解决，请返工处理。", "群众反映仍未解决，请重新处置。"],
    "suspend": ["当事人外出务工，待其返乡后继续调处。", "涉及诉讼，待法院判决后处理。"],
    "supervise": ["事件超期未办结，请于督办期限内办结并报告。"],
    "supervision_report": ["已加派人员，预计近日办结。"],
    "urge": ["请抓紧办理。", "群众再次来电催问，请加快办理。"],
    "reopen": ["群众对处理结果不满意，重新办理。"],
    Outcome.NOT_RESPONSIBLE: ["经核实不属于本级职责，已告知群众依法解决的途径。"],
    Outcome.CANNOT_FIX: ["受客观条件限制暂无法解决，已向群众解释说明。"],
    Outcome.DUPLICATE: ["与已办结事件重复。"],
    Outcome.REFERRED: ["已引导当事人通过诉讼途径解决。", "已转信访部门依法处理。"],
    Rating.UNSATISFIED: ["问题还没有彻底解决。", "处理太慢。"],
}
NOT_FIXED = [(Outcome.NOT_RESPONSIBLE, 40), (Outcome.REFERRED, 35), (Outcome.CANNOT_FIX, 20),
             (Outcome.DUPLICATE, 5)]


# --- result ---------------------------------------------------------------------------------------------


@dataclass
class CasesResult:
    counts: dict[str, int]
    states: dict[str, int]
    resolved: dict[str, int]  # closed cases by the level name they were resolved at
    seconds: float
    stopped: int = 0  # cases whose plan the deadline sweep overtook (left where the sweep put them)


class CasesNotEmpty(ApplicationError):
    def __init__(self) -> None:
        super().__init__("demo_cases_not_empty",
                         "The database already holds cases; the demo cases load only into an empty case table.")


class NoGrids(ApplicationError):
    def __init__(self) -> None:
        super().__init__("demo_cases_no_grids", "The area tree has no grids: load the demo areas first.")


def load_cases(*, scale: str = "county", seed: int = 2026, count: int | None = None,
               now: dt.datetime | None = None) -> CasesResult:
    """Fills the demo tree with ``count`` cases (default: by ``scale``, tiny 200, county 4,000, city 8,000)
    filed over the year before ``now``, in one transaction."""
    started = time.perf_counter()
    count = CASES_PER_SCALE[scale] if count is None else count
    if count < 0:
        raise ApplicationError("demo_cases_count", "The number of cases cannot be negative.")
    with transaction.atomic():
        if Case.objects.exists():
            raise CasesNotEmpty()
        now = now or timezone.now()
        loader = _Loader(random.Random(seed), _to_us(now))
        with _large_page_cache():
            result = loader.run(count)
            derived.rebuild()  # the rows the services keep for each case, written here in one pass
        result.seconds = time.perf_counter() - started
        audit.record(actor=ACTOR, action="demo.cases", data={"scale": scale, "seed": seed, **result.counts})
    return result


# --- time ------------------------------------------------------------------------------------------------


def _to_us(moment: dt.datetime) -> int:
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * US + delta.microseconds


def _local_day(t: int) -> int:
    """The Asia/Shanghai day of a moment, as days since 1970-01-01."""
    return (t + LOCAL_OFFSET) // DAY


EPOCH_DATE = dt.date(1970, 1, 1)


def _date(day: int) -> dt.date:
    return EPOCH_DATE + dt.timedelta(days=day)


def _end_of_local_day(day: int) -> int:
    return (day + 1) * DAY - LOCAL_OFFSET - 1  # 23:59:59.999999 local


def _local_time(day: int, seconds: float) -> int:
    return day * DAY - LOCAL_OFFSET + int(seconds * US)


class _Clock:
    """Deadlines from one snapshot of the working-day calendar, memoised: ``services.case_deadline`` exactly."""

    def __init__(self):
        self.calendar = calendar.current()
        self.memo: dict[tuple[int, int], int] = {}

    def add_days(self, day: int, days: int) -> int:
        key = (day, days)
        if key not in self.memo:
            self.memo[key] = (self.calendar.add_working_days(_date(day), days) - EPOCH_DATE).days
        return self.memo[key]

    def deadline(self, start: int, *, days: int | None = None, hours: int | None = None) -> int:
        if hours is not None:
            return start + hours * HOUR
        return _end_of_local_day(self.add_days(_local_day(start), days))

    def case_deadline(self, category: _Category | None, urgency: str, start: int) -> int:
        days = category.days if category is not None else settings.CASE_DEFAULT_DEADLINE_DAYS
        hours = category.hours if category is not None else None
        cap = URGENCY_MAX_DAYS.get(urgency)
        if cap is not None and (days is None or days > cap):
            days = cap if hours is None else None
        if hours is not None:
            return self.deadline(start, hours=hours)
        return self.deadline(start, days=days)

    def is_workday(self, day: int) -> bool:
        return self.calendar.is_workday(_date(day))


# --- the world the cases happen in ---------------------------------------------------------------------


@dataclass(eq=False)
class _Area:
    pk: int
    parent: int | None
    path: str
    name: str
    rank: str
    level_name: str
    kind: str
    bbox: tuple[float, float, float, float] | None
    up: int | None = None  # where an escalation from here goes: the nearest level above with a desk
    village: int | None = None  # for grids: the nearest village, town and county above
    town: int | None = None
    county: int | None = None
    handlers: list[tuple[int, str]] = field(default_factory=list)  # (user, actor name) with CASE_HANDLE here
    desk: list[tuple[int, str]] = field(default_factory=list)  # … with CASE_DISPATCH here
    supervisors: list[tuple[int, str]] = field(default_factory=list)  # … with CASE_SUPERVISE here
    reporters: list[tuple[int, str]] = field(default_factory=list)  # … with CASE_REPORT here (not grid staff)
    households: list[tuple[int, int | None]] = field(default_factory=list)  # (household, head) in a grid


@dataclass(eq=False)
class _Category:
    pk: int
    code: str
    domain: int
    domain_code: str
    urgency: str
    days: int | None
    hours: int | None


class _World:
    def __init__(self, rng: random.Random, today: dt.date):
        self.rng = rng
        rows = Area.objects.order_by("path").values_list(
            "pk", "parent_id", "path", "name", "level__rank", "level__name", "kind",
            "min_lng", "min_lat", "max_lng", "max_lat")
        self.areas: dict[int, _Area] = {}
        for pk, parent, path, name, rank, level_name, kind, x0, y0, x1, y1 in rows:
            bbox = (x0, y0, x1, y1) if x0 is not None else None
            self.areas[pk] = _Area(pk, parent, path, name, rank, level_name or "", kind, bbox)
        self.root = next((a for a in self.areas.values() if a.parent is None), None)
        self.grids = [a for a in self.areas.values() if a.kind in GRID_KINDS]
        if self.root is None or not self.grids:
            raise NoGrids()
        for area in self.areas.values():  # workflow.escalation_target: sub-village levels have no desk
            area.up = next((pk for pk in self._ancestors(area) if self.areas[pk].rank != Rank.BELOW_VILLAGE), None)
        for grid in self.grids:
            for pk in self._ancestors(grid):
                rank = self.areas[pk].rank
                if rank == Rank.VILLAGE and grid.village is None:
                    grid.village = pk
                elif rank == Rank.TOWN and grid.town is None:
                    grid.town = pk
                elif rank in (Rank.COUNTY, Rank.CITY) and grid.county is None:
                    grid.county = pk
            grid.village = grid.village or grid.county or self.root.pk
            grid.town = grid.town or grid.village
            grid.county = grid.county or self.root.pk
        self._load_people(today)
        weights = [1.8 if self.areas[g.village].name.endswith("社区") else 1.0 for g in self.grids]
        self.grid_cum = _cumulative(weights)
        self.names = _Names(rng)

    def _ancestors(self, area: _Area):
        """The ids of ``area``'s ancestors, nearest first."""
        pk = area.parent
        while pk is not None:
            yield pk
            pk = self.areas[pk].parent

    def _load_people(self, today: dt.date) -> None:
        posts = (Post.objects.filter(staff__active=True, staff__user__isnull=False, staff__user__is_active=True,
                                     start_date__lte=today)
                 .filter(Q(end_date__isnull=True) | Q(end_date__gt=today))
                 .order_by("area_id", "slot", "pk")
                 .values_list("area_id", "role", "staff__user_id", "staff__user__username", "staff__name"))
        for area_id, role, user_id, username, name in posts:
            area = self.areas.get(area_id)
            if area is None:
                continue
            perms = ROLE_PERMS.get(role, frozenset())
            actor = (user_id, f"{username} ({name})")  # audit.actor_label of a user with staff
            if Perm.CASE_HANDLE in perms:
                area.handlers.append(actor)
            if Perm.CASE_DISPATCH in perms:
                area.desk.append(actor)
            if Perm.CASE_SUPERVISE in perms:
                area.supervisors.append(actor)
            if Perm.CASE_REPORT in perms and area.kind not in GRID_KINDS:
                area.reporters.append(actor)
        self.departments: dict[tuple[int, str], int] = {}  # (county area, name) → department
        self.department_names: dict[int, str] = {}
        for pk, area_id, name in Department.objects.order_by("pk").values_list("pk", "area_id", "name"):
            self.departments.setdefault((area_id, name), pk)
            self.department_names[pk] = name
        self.department_staff: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for dept, user_id, username, name in (Staff.objects.filter(active=True, department__isnull=False,
                                                                    user__isnull=False, user__is_active=True)
                                              .order_by("pk")
                                              .values_list("department_id", "user_id", "user__username", "name")):
            self.department_staff[dept].append((user_id, f"{username} ({name})"))
        for pk, area_id, head in Household.objects.order_by("pk").values_list("pk", "area_id", "head_id"):
            area = self.areas.get(area_id)
            if area is not None and len(area.households) < 50:
                area.households.append((pk, head))

    def grid(self) -> _Area:
        return self.grids[bisect.bisect_right(self.grid_cum, self.rng.random() * self.grid_cum[-1])]

    def county_of(self, area: _Area) -> _Area:
        if area.kind in GRID_KINDS:
            return self.areas[area.county]
        for pk in [area.pk, *self._ancestors(area)]:
            if self.areas[pk].rank in (Rank.COUNTY, Rank.CITY):
                return self.areas[pk]
        return self.root

    # Actors: a user who would act, or the unit's name.

    def desk_actor(self, area: _Area) -> tuple[int | None, str]:
        if area.desk:
            return area.desk[0]
        suffix = "两委" if area.rank == Rank.VILLAGE else "综治中心"
        return None, area.name + suffix

    def handler_actor(self, area: _Area) -> tuple[int | None, str]:
        if area.handlers:
            return area.handlers[0] if area.kind not in GRID_KINDS else self.rng.choice(area.handlers[:2])
        return self.desk_actor(area)

    def department_actor(self, dept: int) -> tuple[int | None, str]:
        staff = self.department_staff.get(dept)
        return staff[0] if staff else (None, self.department_names[dept])

    def superior_actor(self, desk: _Area) -> tuple[int | None, str]:
        """Someone with CASE_SUPERVISE over the desk: a supervisor on it or above it, or the desk itself."""
        for pk in [desk.pk, *self._ancestors(desk)]:
            area = self.areas[pk]
            leaders = [s for s in area.supervisors if s not in area.desk]
            if leaders and self.rng.random() < 0.6:
                return self.rng.choice(leaders)
            if area.supervisors:
                return area.supervisors[0]
        return self.desk_actor(desk)

    def leader_actor(self, desk: _Area) -> tuple[int | None, str]:
        """The first supervisor who is not a desk (the county's leader), on the desk or above it."""
        for pk in [desk.pk, *self._ancestors(desk)]:
            area = self.areas[pk]
            leaders = [s for s in area.supervisors if s not in area.desk]
            if leaders:
                return leaders[0]
        return self.superior_actor(desk)

    def unit_users(self, area: _Area | None, dept: int | None) -> list[int]:
        if dept is not None:
            return [u for u, _n in self.department_staff.get(dept, ())]
        return [u for u, _n in area.handlers] if area is not None else []

    def desk_users(self, area: _Area) -> list[int]:
        return [u for u, _n in area.desk]


class _Names:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def person(self) -> str:
        given = self.rng.choice(GIVEN_SINGLE) if self.rng.random() < 0.3 else \
            self.rng.choice(GIVEN_FIRST) + self.rng.choice(GIVEN_SECOND)
        return self.rng.choice(SURNAMES) + given

    def mobile(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"


def _cumulative(weights) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


class _Choice:
    """A weighted choice, drawn with one random number."""

    def __init__(self, table):
        self.values = [v for v, _w in table]
        self.cum = _cumulative(w for _v, w in table)

    def __call__(self, rng: random.Random):
        return self.values[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]


CHANNEL_CHOICE = _Choice(CHANNELS)
GRID_ROUTE_CHOICE = _Choice(GRID_ROUTES)
PUBLIC_ROUTE_CHOICE = _Choice(PUBLIC_ROUTES)
NOT_FIXED_CHOICE = _Choice(NOT_FIXED)
RATING_CHOICE = _Choice(RATINGS)
SUSPENDED_OUTCOME_CHOICE = _Choice([(Outcome.CANNOT_FIX, 2), (Outcome.REFERRED, 1)])


# --- one case, action by action --------------------------------------------------------------------------


class _Stop(Exception):  # noqa: N818  (control flow, not an error)
    """The next action would happen after now (or after the plan's last step): the case stays as it is."""


class _Diverged(Exception):  # noqa: N818
    """The sweep moved the case (an automatic escalation) so that the plan's next action is not possible."""


class _Sim:
    """One case, moved only through ``workflow.TRANSITIONS`` with the effects of the services' handlers."""

    def __init__(self, loader: _Loader, pk: int, created: int, channel: str, area: _Area, placed: bool,
                 category: _Category | None):
        self.loader, self.world, self.clock = loader, loader.world, loader.clock
        self.pk, self.created, self.channel, self.area, self.placed = pk, created, channel, area, placed
        self.category = category
        self.urgency = category.urgency if category is not None else Urgency.NORMAL
        self.now = loader.now
        self.t = created
        self.state = ""
        self.desk = self._intake_desk()
        self.holder_area: _Area | None = None
        self.holder_dept: int | None = None
        self.mode = ""
        self.resolved: _Area | None = None
        self.deadline: int | None = None
        self.supervision_deadline: int | None = None
        self.review_on: int | None = None
        self.closed_at: int | None = None
        self.outcome = ""
        self.closed_on_time: bool | None = None
        self.rating = ""
        self.rated_at: int | None = None
        self.duplicate_of: int | None = None
        self.urge_count = self.rework_count = self.escalation_count = 0
        self.warned_at = self.auto_urged_at = self.auto_escalated_at = None
        self.assignments: list[list] = []  # [role, area, dept, created, reported, report, active]
        self.actions: list[tuple] = []
        self.number = f"{_date(_local_day(created)):%Y%m%d}{pk:06d}"
        self.title = ""

    def _intake_desk(self) -> _Area:
        """``services.intake_desk``: a grid worker's report goes to the village, the public's to the county."""
        if not self.placed:
            return self.area
        grid = self.area
        return self.world.areas[grid.village if self.channel == Channel.GRID_WORKER else grid.county]

    # --- the door ---

    def act(self, verb: str, at: int, actor: tuple[int | None, str], note: str = "", data: dict | None = None,
            system: bool = False) -> None:
        if not system:
            escalated = self.auto_escalated_at
            self.sweep(min(at, self.now))
            if self.auto_escalated_at != escalated:  # the plan's actor and unit were chosen for another desk
                raise _Diverged
        if at > self.now:
            raise _Stop
        at = max(at, self.t)
        transition = BY_VERB[verb]
        if self.state not in transition.sources or (transition.note_required and not note):
            if system:
                raise AssertionError(f"the sweep took {verb} from {self.state}")
            raise _Diverged
        from_state = self.state
        self._note = note
        data = self._apply(verb, at, **(data or {}))
        if transition.target is not None:
            self.state = transition.target
        self.t = at
        self._record(verb, actor, from_state, self.state, note, data, at)

    def _record(self, verb, actor, from_state, to_state, note, data, at) -> None:
        self.actions.append((verb, actor[0], actor[1], from_state, to_state, note, data, at))

    def create(self, actor: tuple[int | None, str]) -> None:
        self.state = State.SUBMITTED
        self._record("create", actor, "", State.SUBMITTED, "", {"channel": self.channel, "placed": self.placed},
                     self.created)

    def _apply(self, verb: str, at: int, **p) -> dict:
        handler = getattr(self, "_" + verb, None)
        return handler(at, **p) if handler is not None else {}

    # --- the handlers' effects (services.py) ---

    def _set_taxonomy(self, category: _Category | None, urgency: str | None) -> dict:
        changed = {}
        if category is not None:
            if self.category is None or category.pk != self.category.pk:
                changed["category"] = category.code
            self.category = category
        if urgency:
            if urgency != self.urgency:
                changed["urgency"] = urgency
            self.urgency = urgency
        return changed

    def _accept(self, at, category=None, urgency=None):
        self._set_taxonomy(category, urgency)
        return {}

    def _register(self, at, category=None, urgency=None):
        changed = self._set_taxonomy(category, urgency)
        self.deadline = self.clock.case_deadline(self.category, self.urgency, at)
        return {**changed, "deadline_at": _iso(self.deadline)}

    def _self_handle(self, at):
        self.holder_area, self.holder_dept, self.mode = self.area, None, Mode.DIRECT
        if self.category is not None or self.deadline is None:
            self.deadline = self.clock.case_deadline(self.category, self.urgency, at)
        self.assignments.append([AssignmentRole.LEAD, self.area.pk, None, at, None, "", True])
        return {"holder": self.area.name}

    def _dispatch(self, at, area: _Area | None = None, dept: int | None = None, assists=()):
        for a in self.assignments:
            a[6] = False
        self.holder_area, self.holder_dept = area, dept
        if assists:
            self.mode = Mode.ASSIST
        elif area is not None and area.pk == self.desk.pk:
            self.mode = Mode.DIRECT
        else:
            self.mode = Mode.TRANSFER
        self.assignments.append([AssignmentRole.LEAD, area.pk if area else None, dept, at, None, "", True])
        for assist in assists:
            self.assignments.append([AssignmentRole.ASSIST, assist.pk, None, at, None, "", True])
        if self.deadline is None:
            self.deadline = self.clock.case_deadline(self.category, self.urgency, at)
        lead = self._unit_label(area, dept)
        self.loader.notify(self, at, [(area, dept), *[(a, None) for a in assists]], "dispatched")
        return {"mode": self.mode, "lead": lead, "assist": [a.name for a in assists],
                "deadline_at": _iso(self.deadline)}

    _reassign = _dispatch

    def _unit_label(self, area, dept) -> str:
        return area.name if area is not None else self.world.department_names.get(dept, "") if dept else ""

    def _clear_holder(self):
        for a in self.assignments:
            a[6] = False
        self.holder_area = self.holder_dept = None
        self.mode = ""

    def _send_back(self, at):
        holder = self._unit_label(self.holder_area, self.holder_dept)
        self._clear_holder()
        self.loader.notify_desk(self, at, "sent_back")
        return {"from": holder}

    def _escalate(self, at, automatic=False):
        target = self._escalation_target()
        previous = self.desk.name
        self._clear_holder()
        self.desk = target
        self.escalation_count += 1
        self.loader.notify_desk(self, at, "escalated")
        return {"from": previous, "to": target.name, "automatic": automatic}

    def _assist_report(self, at, units=()):
        done = []
        for a in self.assignments:
            if a[0] == AssignmentRole.ASSIST and a[6] and a[1] in units:
                a[4], a[5] = at, self._note
                done.append(self.world.areas[a[1]].name)
        return {"units": done}

    def _report(self, at):
        for a in self.assignments:
            if a[0] == AssignmentRole.LEAD and a[6]:
                a[4], a[5] = at, self._note
        self.loader.notify_desk(self, at, "reported")
        return {}

    def _rework(self, at):
        self.rework_count += 1
        self.loader.notify(self, at, [(self.holder_area, self.holder_dept)], "rework")
        return {"rework": self.rework_count}

    def _close(self, at, outcome=Outcome.FIXED):
        self.outcome = outcome
        self.closed_at = at
        self.closed_on_time = self.deadline is None or at <= self.deadline
        self.resolved = self.holder_area or self.desk
        for a in self.assignments:
            a[6] = False
        return {"outcome": outcome, "on_time": self.closed_on_time, "resolved_at": self.resolved.name}

    def _rate(self, at, rating=Rating.SATISFIED):
        self.rating, self.rated_at = rating, at
        if rating == Rating.UNSATISFIED:
            self.loader.notify_desk(self, at, "unsatisfied")
        return {"rating": rating}

    def _reopen(self, at):
        previous = {"outcome": self.outcome, "rating": self.rating}
        self.outcome = self.rating = ""
        self.closed_at = self.rated_at = self.closed_on_time = None
        self.resolved = None
        self.holder_area = self.holder_dept = None
        self.mode = ""
        self.deadline = self.clock.case_deadline(self.category, self.urgency, at)
        return previous

    def _urge(self, at):
        self.urge_count += 1
        self.loader.notify(self, at, [(self.holder_area, self.holder_dept)], "urged")
        if self.holder_area is None and self.holder_dept is None:
            self.loader.notify_desk(self, at, "urged")
        return {"urged": self.urge_count}

    def _supervise(self, at, deadline=0):
        self.supervision_deadline = deadline
        self.loader.notify(self, at, [(self.holder_area, self.holder_dept)], "supervised")
        return {"deadline_at": _iso(deadline)}

    def _suspend(self, at, review_on=0):
        self._clear_holder()
        self.review_on = review_on
        return {"review_on": _date(review_on).isoformat()}

    def _resume(self, at):
        self.review_on = None
        return {}

    def _merge(self, at, original=None):
        self._clear_holder()
        self.duplicate_of = original[0]
        return {"original": original[1]}

    # --- the deadline sweep (services.cases_sweep_deadlines), run every SWEEP_MINUTES ---

    def sweep(self, until: int) -> None:
        """Every action the sweep would have taken from the last action until ``until``."""
        if self.deadline is None or self.state not in LIVE:
            return
        while True:
            event = self._next_sweep(until)
            if event is None:
                return
            at, verb = event
            if verb == "warn":
                self.act("warn", at, SYSTEM, self.loader.text["warn"], system=True)
                self.warned_at = at
            elif verb == "urge":
                self.act("urge", at, SYSTEM, self.loader.text["urge"], system=True)
                self.auto_urged_at = at
            else:
                self.act("escalate", at, SYSTEM, self.loader.text["escalate"], {"automatic": True}, system=True)
                self.deadline = self.clock.case_deadline(self.category, self.urgency, at)
                self.auto_escalated_at, self.auto_urged_at, self.warned_at = at, None, None

    def _next_sweep(self, until: int):
        if self.state not in LIVE or self.deadline is None:
            return None
        tick = SWEEP_MINUTES * 60 * US
        after = self.t + 1
        d = self.deadline
        candidates = []
        if self.warned_at is None:
            s = -(-max(after, d - settings.CASE_WARN_HOURS * HOUR) // tick) * tick
            if s < d:
                candidates.append((s, 0, "warn"))
        if self.auto_urged_at is None and self.state != State.SUBMITTED:
            candidates.append((-(-max(after, d + 1) // tick) * tick, 1, "urge"))
        if self.state in ESCALATE_FROM and self._escalation_target() is not None:
            since = self.auto_escalated_at or d
            threshold = self.clock.deadline(since, days=settings.CASE_ESCALATION_GRACE_DAYS)
            candidates.append((-(-max(after, threshold, d + 1) // tick) * tick, 2, "escalate"))
        if not candidates:
            return None
        at, _order, verb = min(candidates)
        if at >= until:
            return None
        return at, verb

    def _escalation_target(self) -> _Area | None:
        """``workflow.escalation_target``: from the holding area while it is worked, from the desk otherwise."""
        base = self.holder_area if self.state in WORKING else self.desk
        if base is None or base.parent is None or base.up is None:
            return None
        return self.world.areas[base.up]

    # --- the row ---

    _note = ""  # the note of the action being applied (handlers that store it read it here)


_LOGS: dict[tuple[float, float], tuple[float, float]] = {}


def _log_bounds(low: float, high: float) -> tuple[float, float]:
    _LOGS[low, high] = (math.log(low), math.log(high) - math.log(low))
    return _LOGS[low, high]


_ISO_DAYS: dict[int, str] = {}


def _iso(t: int | None) -> str | None:
    """``datetime.isoformat()`` of the moment in Asia/Shanghai time, as the services write deadlines."""
    if t is None:
        return None
    seconds, micro = divmod(t + LOCAL_OFFSET, US)
    day, second = divmod(seconds, 86400)
    text = _ISO_DAYS.get(day)
    if text is None:
        text = _ISO_DAYS[day] = _date(day).isoformat() + "T"
    text += f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
    if micro:
        text += f".{micro:06d}"
    return text + "+08:00"


# --- plans: what happens to a case -----------------------------------------------------------------------


class _Loader:
    def __init__(self, rng: random.Random, now: int):
        self.rng, self.now = rng, now
        self.today = _date(_local_day(now))
        self.clock = _Clock()
        self.world = _World(rng, self.today)
        self.categories = self._categories()
        self.sources = self._sources()
        self.tables = _Tables()
        self.notifications: list[tuple] = []
        self.notify_from = now - NOTIFY_DAYS * DAY
        # What the services write, translated once (their msgids, in the active language).
        self.text = {
            "new": _("New case %(number)s: %(title)s"),
            "dispatched": _("Case %(number)s was dispatched to you: %(title)s"),
            "sent_back": _("Case %(number)s was sent back: %(note)s"),
            "escalated": _("Case %(number)s was escalated to you: %(title)s"),
            "reported": _("Case %(number)s was reported done; verify it."),
            "rework": _("Case %(number)s was sent back for rework: %(note)s"),
            "unsatisfied": _("Case %(number)s was rated unsatisfied; consider reopening it."),
            "urged": _("Case %(number)s is urged (催办)."),
            "supervised": _("Case %(number)s is under formal supervision (督办)."),
            "warn": _("The deadline is near."),
            "urge": _("Overdue: urged automatically."),
            "escalate": _("Still overdue: escalated automatically."),
            "reporter": _("reporter"),
        }
        self.last_public = None  # the last public case registered: (pk, created, number, grid, category)
        self.phones = self._phone_pool()
        self.states: Counter = Counter()
        self.resolved: Counter = Counter()
        self.stopped = 0
        self.counts = Counter()
        self.tracking_offset = rng.randrange(TRACKING_SPACE)
        self.day_cum: list[float] = []
        self.hour_cum = _cumulative(HOUR_WEIGHTS)

    def _categories(self) -> dict[str, list[tuple[_Category, float]]]:
        by_domain: dict[str, list[tuple[_Category, float]]] = defaultdict(list)
        rows = Category.objects.filter(active=True).order_by("domain__order", "code").values_list(
            "pk", "code", "domain_id", "domain__code", "urgency", "deadline_days", "deadline_hours")
        for pk, code, domain, domain_code, urgency, days, hours in rows:
            category = _Category(pk, code, domain, domain_code, urgency, days, hours)
            by_domain[domain_code].append((category, CATEGORY_WEIGHTS.get(code, 1)))
        if not by_domain:
            raise ApplicationError("demo_cases_no_categories", "There are no active case categories.")
        self.by_code = {c.code: c for cats in by_domain.values() for c, _w in cats}
        self.category_choice = {domain: _Choice(cats) for domain, cats in by_domain.items()}
        self.domain_choices: dict[int, _Choice] = {}
        return by_domain

    def _domain_choice(self, month: int) -> _Choice:
        if month not in self.domain_choices:
            table = []
            for domain, weight in DOMAINS.items():
                if domain in self.categories:
                    high, low = SEASONS.get(domain, ((), ()))
                    table.append((domain, weight * (3 if month in high else 1 / 3 if month in low else 1)))
            table += [(domain, 2) for domain in self.categories if domain not in DOMAINS]
            self.domain_choices[month] = _Choice(table)
        return self.domain_choices[month]

    def _sources(self) -> dict[str, int]:
        out = {}
        for channel, name in ((Channel.VIDEO_AI, "视频AI智能预警平台"), (Channel.OPEN311, "12345政务服务便民热线")):
            source = CaseSource.objects.filter(channel=channel).order_by("pk").first()
            if source is None:
                source = CaseSource.objects.create(name=name, channel=channel)
            out[channel] = source.pk
        return out

    def _phone_pool(self) -> list[tuple[str, str, str]]:
        names = self.world.names
        pool = []
        for _i in range(PHONE_POOL):
            phone = names.mobile()
            pool.append((names.person(), crypto.encrypt(phone), mask_phone(phone)))
        return pool

    # --- the run ---

    def run(self, count: int) -> CasesResult:
        first_pk = (Case.objects.aggregate(m=Max("pk"))["m"] or 0) + 1
        featured = self._featured()
        moments = sorted([(self._created(), None) for _i in range(count)]
                         + [(plan["created"], plan) for plan in featured], key=lambda pair: pair[0])
        for i, (created, plan) in enumerate(moments):
            if plan is None:
                sim = self._random_case(first_pk + i, created)
            else:
                sim = self._featured_case(first_pk + i, created, plan)
            self._write(sim)
            if (i + 1) % BATCH_CASES == 0:
                self.tables.flush()
        self.tables.flush()
        self._write_notifications()
        if connection.vendor == "postgresql" and moments:
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), [Case]):
                    cursor.execute(sql)
        counts = {"cases": self.tables.count("case"), "actions": self.tables.count("action"),
                  "assignments": self.tables.count("assignment"), "notifications": self.counts["notifications"],
                  "featured": len(featured)}
        return CasesResult(counts=counts, states=dict(self.states), resolved=dict(self.resolved), seconds=0.0,
                           stopped=self.stopped)

    def _created(self) -> int:
        """A moment in the year before now: fewer on weekends and holidays and at night."""
        if not self.day_cum:
            first = _local_day(self.now) - 365
            self.first_day = first
            weights = []
            for day in range(first, first + 366):
                w = 1.0 if self.clock.is_workday(day) else 0.6
                weights.append(w)
            self.day_cum = _cumulative(weights)
        rng = self.rng
        while True:
            day = self.first_day + bisect.bisect_right(self.day_cum, rng.random() * self.day_cum[-1])
            hour = bisect.bisect_right(self.hour_cum, rng.random() * self.hour_cum[-1])
            t = _local_time(day, hour * 3600 + rng.random() * 3600)
            t -= t % US
            if t < self.now - 60 * US:
                return t

    # --- choosing ---

    def _category(self, created: int, channel: str) -> _Category:
        rng = self.rng
        month = _date(_local_day(created)).month
        if channel == Channel.VIDEO_AI:
            codes = [c for c in VIDEO_AI if c in self.by_code]
            if codes:
                return self.by_code[rng.choice(codes)]
        return self.category_choice[self._domain_choice(month)(rng)](rng)

    def _description(self, category: _Category, grid: _Area, channel: str) -> str:
        rng = self.rng
        village = self.world.areas[grid.village].name
        if channel == Channel.VIDEO_AI and category.code in VIDEO_AI:
            template = VIDEO_AI[category.code]
        else:
            template = rng.choice(DESCRIPTIONS.get(category.code, ["{place}群众反映的问题，请核实处理。"]))
        place = grid.name if channel == Channel.GRID_WORKER else village + grid.name
        return template.format(place=place, village=village, surname=rng.choice(SURNAMES), n=rng.randint(2, 9))

    def _dur(self, low_minutes: float, high_minutes: float) -> int:
        """A log-uniform duration between the bounds, in µs (whole seconds)."""
        low, span = _LOGS.get((low_minutes, high_minutes)) or _log_bounds(low_minutes, high_minutes)
        return int(math.exp(low + span * self.rng.random()) * 60) * US

    # --- a random case ---

    def _random_case(self, pk: int, created: int) -> _Sim:
        rng = self.rng
        world = self.world
        channel = CHANNEL_CHOICE(rng)
        grid = world.grid()
        county = world.areas[grid.county]
        reporter = (None, "system")
        if channel in (Channel.HOTLINE, Channel.PETITION, Channel.DEPUTIES):
            if county.reporters:
                reporter = county.reporters[0]
            else:
                channel = Channel.SELF_REPORT  # nobody to type it in: the resident files it
        category = self._category(created, channel)
        route = GRID_ROUTE_CHOICE(rng) if channel == Channel.GRID_WORKER else PUBLIC_ROUTE_CHOICE(rng)
        original = None
        if route == "merge":  # a second caller about a problem reported in the last days: same place and kind
            original = self.last_public
            if original is None or original[1] < created - 3 * DAY or channel == Channel.VIDEO_AI:
                route, original = "village", None
            else:
                grid, category = original[3], original[4]
        placed = original is not None or not (channel in (Channel.HOTLINE, Channel.SELF_REPORT)
                                              and rng.random() < 0.01)
        area = grid if placed else world.root
        if channel == Channel.GRID_WORKER:
            reporter = world.handler_actor(grid)
        sim = _Sim(self, pk, created, channel, area, placed, category if channel in (
            Channel.GRID_WORKER, Channel.VIDEO_AI) else None)
        self._fill(sim, grid, category, reporter)
        try:
            if channel == Channel.GRID_WORKER:
                self._grid_plan(sim, grid, category, reporter, route)
            else:
                self._public_plan(sim, grid, category, route, original)
        except _Stop:
            pass
        except _Diverged:
            self.stopped += 1
        sim.sweep(self.now)
        return sim

    def _fill(self, sim: _Sim, grid: _Area, category: _Category, reporter) -> None:
        """What the reporter gives: the text, the place, the reporter."""
        rng = self.rng
        sim.description = self._description(category, grid, sim.channel)
        sim.title = sim.description[:60]
        sim.reporter = reporter
        sim.reporter_name = sim.phone_sealed = sim.phone_masked = sim.address = ""
        sim.lng = sim.lat = None
        sim.household = sim.person = None
        sim.source = self.sources.get(sim.channel)
        if sim.placed and grid.bbox is not None and sim.channel != Channel.PETITION:
            x0, y0, x1, y1 = grid.bbox
            sim.lng = round(x0 + (x1 - x0) * rng.uniform(0.05, 0.95), 6)
            sim.lat = round(y0 + (y1 - y0) * rng.uniform(0.05, 0.95), 6)
        if sim.channel in (Channel.HOTLINE, Channel.SELF_REPORT, Channel.PETITION, Channel.DEPUTIES, Channel.OPEN311):
            sim.reporter_name, sim.phone_sealed, sim.phone_masked = rng.choice(self.phones)
            if sim.placed:
                village = self.world.areas[grid.village]
                sim.address = f"{self.world.areas[grid.town].name}{village.name}{grid.name}"
        if sim.channel == Channel.GRID_WORKER and category.domain_code in ("relapse", "dispute") \
                and grid.households and rng.random() < 0.6:
            sim.household, sim.person = rng.choice(grid.households)
        sim.create(reporter)

    def _notify_new(self, sim: _Sim) -> None:
        """case_create notifies the desk, unless the grid's own staff handle the report directly."""
        self.notify_desk(sim, sim.created, "new")

    def _grid_plan(self, sim: _Sim, grid: _Area, category: _Category, reporter, route: str) -> None:
        rng, world = self.rng, self.world
        fast = category.hours is not None or category.urgency == Urgency.CRITICAL
        village = sim.desk
        if route == "self":
            self._after_create_self_handle(sim, reporter)
            self._work(sim, "grid", fast)
            return
        self._notify_new(sim)
        desk = world.desk_actor(village)
        t = sim.created + (self._dur(2, 20) if fast else self._dur(5, 300))
        if route == "refuse":
            sim.act("refuse", t, desk, rng.choice(NOTES["refuse"]))
            return
        sim.act("accept", t, desk)
        t = sim.t + self._dur(1, 30 if not fast else 5)
        sim.act("register", t, desk)
        self._maybe_suspend(sim, desk)
        target = RANK_ORDER[Rank.TOWN if route == "town" else Rank.COUNTY] if route in ("town", "county") else 0
        while RANK_ORDER.get(sim.desk.rank, 9) < target and sim.desk.up is not None:
            t = sim.t + (self._dur(5, 60) if fast else self._dur(60, 2 * 1440))
            sim.act("escalate", t, world.desk_actor(sim.desk), rng.choice(NOTES["escalate"]))
        self._dispatch(sim, grid, route, fast)
        self._work(sim, route, fast)

    def _after_create_self_handle(self, sim: _Sim, reporter) -> None:
        # case_create(handle_directly=True) takes self_handle in the same transaction as the create.
        sim.act("self_handle", sim.created, reporter)

    def _public_plan(self, sim: _Sim, grid: _Area, category: _Category, route: str, original) -> None:
        rng, world = self.rng, self.world
        fast = category.hours is not None or category.urgency == Urgency.CRITICAL
        desk = world.desk_actor(sim.desk)
        self._notify_new(sim)
        t = sim.created + (self._dur(2, 15) if fast else self._dur(5, 240))
        if route == "refuse":
            sim.act("refuse", t, desk, rng.choice(NOTES["refuse"]))
            return
        urgency = category.urgency if rng.random() < 0.97 else Urgency.URGENT
        sim.act("accept", t, desk, data={"category": category, "urgency": urgency})
        if route == "merge":
            sim.act("merge", sim.t + self._dur(1, 30), desk, data={"original": (original[0], original[2])})
            return
        if route == "not_fixed":
            outcome = NOT_FIXED_CHOICE(rng)
            if outcome != Outcome.REFERRED:
                sim.act("register", sim.t + self._dur(1, 20), desk)
            sim.act("close", sim.t + self._dur(30, 1440), desk, rng.choice(NOTES[outcome]),
                    {"outcome": outcome})
            self._rate(sim, 0.3)
            return
        if sim.placed:
            self.last_public = (sim.pk, sim.created, sim.number, grid, category)
        sim.act("register", sim.t + self._dur(1, 5 if fast else 30), desk)
        self._dispatch(sim, grid, route, fast)
        self._work(sim, route, fast)

    def _maybe_suspend(self, sim: _Sim, desk) -> None:
        rng = self.rng
        if sim.category is None or sim.category.domain_code != "dispute" or rng.random() >= 0.04:
            return
        t = sim.t + self._dur(60, 3 * 1440)
        review = _local_day(t) + rng.randint(20, 60)
        sim.act("suspend", t, desk, rng.choice(NOTES["suspend"]), {"review_on": review})
        if rng.random() < 0.25:
            t = _local_time(review, 9.5 * 3600)
            outcome = SUSPENDED_OUTCOME_CHOICE(rng)
            sim.act("close", t, desk, rng.choice(NOTES[outcome]), {"outcome": outcome})
            raise _Stop
        sim.act("resume", _local_time(review, 9 * 3600 + rng.random() * 3600), desk)
        # The deadline set at registration has long passed: the sweep urges the case at once and, past the
        # grace, escalates it (a village's to its town). The plan goes on from wherever that leaves it.
        sim.sweep(min(self.now, sim.t + 2 * SWEEP_MINUTES * 60 * US))

    def _dispatch(self, sim: _Sim, grid: _Area, route: str, fast: bool, verb: str = "dispatch") -> None:
        """The desk hands the case to the unit that resolves it at the level the route names."""
        rng, world = self.rng, self.world
        desk = world.desk_actor(sim.desk)
        area, dept, assists = self._target(sim, grid, route)
        t = sim.t + (self._dur(2, 15) if fast else self._dur(5, 180))
        note = rng.choice(NOTES["reassign"]) if verb == "reassign" else ""
        sim.act(verb, t, desk, note, {"area": area, "dept": dept, "assists": assists})

    def _target(self, sim: _Sim, grid: _Area, route: str):
        rng, world = self.rng, self.world
        desk = sim.desk
        village = world.areas[grid.village]
        town = world.areas[grid.town]
        if route == "grid" and grid.path.startswith(desk.path):
            return grid, None, []
        if route == "village" and village.path.startswith(desk.path):
            return village, None, []
        if route == "town" and desk.rank == Rank.TOWN:
            if rng.random() < 0.5:
                return desk, None, []
            route = "department"
        elif route == "town" and town.path.startswith(desk.path):
            return town, None, []
        if route in ("department", "county"):
            dept = self._department(sim, desk)
            if dept is not None and (route == "department" or rng.random() < 0.7):
                assists = [village] if village.path.startswith(desk.path) and village.pk != desk.pk \
                    and rng.random() < 0.35 else []
                return None, dept, assists
        return desk, None, []

    def _department(self, sim: _Sim, desk: _Area) -> int | None:
        county = self.world.county_of(desk)
        category = sim.category
        names = DEPARTMENTS_FOR.get(category.code) or DEPARTMENTS_FOR.get(category.domain_code) or []
        found = [self.world.departments[county.pk, n] for n in names if (county.pk, n) in self.world.departments]
        return self.rng.choice(found) if found else None

    def _holder_actor(self, sim: _Sim):
        if sim.holder_dept is not None:
            return self.world.department_actor(sim.holder_dept)
        return self.world.handler_actor(sim.holder_area)

    def _work(self, sim: _Sim, route: str, fast: bool, *, on_time: bool | None = None, again: bool = False) -> None:
        """From the dispatch to the rating: take on, assist, report (perhaps again after rework), close, rate."""
        rng, world = self.rng, self.world
        holder = self._holder_actor(sim)
        desk = world.desk_actor(sim.desk)
        domain = sim.category.domain_code if sim.category is not None else "risk"
        level = route if route in ON_TIME else "grid"
        if on_time is None:
            on_time = rng.random() < ON_TIME[level]
        start = sim.t if sim.state == State.HANDLING else sim.t + (self._dur(2, 15) if fast else self._dur(10, 360))
        deadline = sim.deadline
        if on_time and deadline > start:
            close = start + int((deadline - start) * rng.uniform(0.2, 0.97))
        else:
            base = max(start, deadline)
            grace_end = self.clock.deadline(deadline, days=settings.CASE_ESCALATION_GRACE_DAYS)
            if grace_end > base:  # late, but reported before the sweep escalates it
                close = base + int((grace_end - base) * rng.uniform(0.05, 0.8))
            else:
                close = start + self._dur(60, 600)
        gap = min(self._dur(10, 360), (close - start) // 3)
        report = close - gap
        steps: list[tuple[int, str, dict]] = []
        if sim.state == State.DISPATCHED:
            steps.append((start, "start", {}))
        assists = [a[1] for a in sim.assignments if a[0] == AssignmentRole.ASSIST and a[6]]
        for unit in assists:
            steps.append((start + int((report - start) * rng.uniform(0.2, 0.8)), "assist_report", {"unit": unit}))
        rework = not again and rng.random() < 0.04 and report - start > 4 * HOUR
        if rework:
            first = start + (report - start) // 2
            steps.append((first, "report", {}))
            steps.append((first + (report - first) // 3, "rework", {}))
        steps.append((report, "report", {}))
        late = deadline < report
        if late and rng.random() < 0.5 and deadline + HOUR < report:
            steps.append((deadline + int((report - deadline) * rng.uniform(0.2, 0.6)), "urge", {}))
        if (late and rng.random() < 0.12) or rng.random() < 0.01:
            at = max(start, deadline - DAY) + int((report - max(start, deadline - DAY)) * 0.3)
            steps.append((at, "supervise", {}))
            steps.append((at + (report - at) // 2, "supervision_report", {}))
        steps.sort(key=lambda s: s[0])
        for at, verb, p in steps:
            if verb == "start":
                sim.act("start", at, holder)
            elif verb == "assist_report":
                unit = world.areas[p["unit"]]
                sim.act("assist_report", at, world.handler_actor(unit), rng.choice(NOTES["assist_report"]),
                        {"units": (unit.pk,)})
            elif verb == "report":
                sim.act("report", at, holder, rng.choice(REPORTS.get(domain, REPORTS["risk"])))
            elif verb == "rework":
                sim.act("rework", at, desk, rng.choice(NOTES["rework"]))
            elif verb == "urge":
                sim.act("urge", at, world.superior_actor(sim.desk), rng.choice(NOTES["urge"]))
            elif verb == "supervise":
                sim.act("supervise", at, world.superior_actor(sim.desk), NOTES["supervise"][0],
                        {"deadline": self.clock.deadline(at, days=3)})
            elif verb == "supervision_report" and sim.supervision_deadline is not None:
                sim.act("supervision_report", at, holder, NOTES["supervision_report"][0])
        sim.act("close", close, desk)
        self._rate(sim, RATED.get(sim.channel, 0.85), route=route, fast=fast)

    def _rate(self, sim: _Sim, probability: float, *, route: str = "", fast: bool = False) -> None:
        rng = self.rng
        if rng.random() >= probability or sim.state != State.CLOSED:
            return
        rating = RATING_CHOICE(rng)
        note = rng.choice(NOTES[Rating.UNSATISFIED]) if rating == Rating.UNSATISFIED else ""
        t = sim.t + self._dur(60, 3 * 1440)
        public = sim.channel != Channel.GRID_WORKER and sim.phone_masked and rng.random() < 0.5
        actor = (None, self.text["reporter"]) if public else self.world.desk_actor(sim.desk)
        sim.act("rate", t, actor, note, {"rating": rating})
        if rating == Rating.UNSATISFIED and route and rng.random() < 0.4:
            desk = self.world.desk_actor(sim.desk)
            sim.act("reopen", sim.t + self._dur(60, 2 * 1440), desk, NOTES["reopen"][0])
            grid = sim.area if sim.area.kind in GRID_KINDS else self.world.grids[0]
            self._dispatch(sim, grid, route if route != "self" else "grid", fast)
            self._work(sim, route, fast, on_time=True, again=True)

    # --- the cases placed for the demo logins ---

    def _featured(self) -> list[dict]:
        """Plans for a few recent cases in the demo logins' areas, each stopped in a state that fills a tab."""
        from django.contrib.auth import get_user_model

        User = get_user_model()
        logins = {u.username: u.pk for u in User.objects.filter(username__in=[
            "county_operator", "town_operator", "village_staff", "grid_worker", "dept_handler", "leader",
            "town_admin2"])}
        if "county_operator" not in logins:
            return []
        posts = dict(Post.objects.filter(staff__user_id__in=logins.values()).values_list("staff__user__username",
                                                                                        "area_id"))
        areas = self.world.areas
        county = areas.get(posts.get("county_operator"))
        fushui = areas.get(posts.get("town_operator"))
        community = areas.get(posts.get("village_staff"))
        own_grid = areas.get(posts.get("grid_worker"))
        xianghe = areas.get(posts.get("town_admin2"))
        if None in (county, fushui, community, own_grid, xianghe):
            return []

        def grid_in(area: _Area, avoid: _Area | None = None) -> _Area:
            grids = [g for g in self.world.grids if g.path.startswith(area.path) and g is not avoid]
            return grids[len(grids) // 2] if grids else own_grid

        water = self.world.departments.get((county.pk, "水务局"))
        f_grid, x_grid, c_grid = grid_in(fushui, own_grid), grid_in(xianghe), grid_in(community, own_grid)
        if c_grid.village == f_grid.village:
            f_grid = next((g for g in self.world.grids if g.path.startswith(fushui.path)
                           and g.village != community.pk), f_grid)
        h = HOUR
        now = self.now
        plans = [
            # The county centre: new reports waiting for acceptance (待受理).
            dict(channel=Channel.SELF_REPORT, grid=c_grid, category="risk_road", created=now - 2 * h, steps=[]),
            dict(channel=Channel.HOTLINE, grid=x_grid, category="dispute_wages", created=now - h, steps=[]),
            dict(channel=Channel.VIDEO_AI, grid=f_grid, category="forest_open_fire", created=now - h // 2, steps=[]),
            # The county centre's 待办: accepted, registered, and reported back by the water department.
            dict(channel=Channel.HOTLINE, grid=f_grid, category="risk_safety", created=now - 5 * h,
                 steps=[("accept", 30)]),
            dict(channel=Channel.PETITION, grid=x_grid, category="dispute_land", created=now - 26 * h,
                 steps=[("accept", 40), ("register", 10)]),
            dict(channel=Channel.HOTLINE, grid=c_grid, category="risk_water", created=now - 30 * h,
                 steps=[("accept", 20), ("register", 5), ("dispatch", 10, {"dept": water, "assists": [community]}),
                        ("start", 30), ("assist_report", 120, {"unit": community}), ("report", 240)]),
            # Overdue and supervised by the leader: held by 湘河镇.
            dict(channel=Channel.SELF_REPORT, grid=x_grid, category="risk_environment", overdue=True,
                 steps=[("accept", 30), ("register", 5), ("dispatch", 20, {"area": xianghe}), ("start", 60),
                        ("supervise", "after_deadline")]),
            # The town centre (富水镇): escalated by a village, dispatched to the town, the town's own dispatch.
            dict(channel=Channel.GRID_WORKER, grid=f_grid, category="dispute_land", created=now - 50 * h,
                 steps=[("accept", 60), ("register", 10), ("escalate", 300)]),
            dict(channel=Channel.HOTLINE, grid=f_grid, category="dispute_neighbour", created=now - 4 * h,
                 steps=[("accept", 20), ("register", 5), ("dispatch", 15, {"area": fushui})]),
            dict(channel=Channel.GRID_WORKER, grid=f_grid, category="risk_safety", created=now - 30 * h,
                 steps=[("accept", 30), ("register", 5), ("escalate", 120), ("dispatch", 30, {"area": fushui}),
                        ("start", 60)]),
            dict(channel=Channel.GRID_WORKER, grid=own_grid, category="risk_water", created=now - 28 * h,
                 steps=[("accept", 30), ("register", 5), ("escalate", 60),
                        ("dispatch", 30, {"dept": water, "assists": [community]}), ("start", 60)]),
            # The community (富水街社区): reports waiting, registered, and a grid's report to verify.
            dict(channel=Channel.GRID_WORKER, grid=c_grid, category="dispute_neighbour", created=now - 3 * h,
                 steps=[]),
            dict(channel=Channel.GRID_WORKER, grid=own_grid, category="risk_environment", created=now - 40 * 60 * US,
                 steps=[]),
            dict(channel=Channel.GRID_WORKER, grid=c_grid, category="relapse_lead", created=now - 6 * h,
                 steps=[("accept", 60), ("register", 10)]),
            dict(channel=Channel.GRID_WORKER, grid=own_grid, category="risk_road", created=now - 20 * h,
                 steps=[("self_handle", 0), ("report", 600)]),
            # The grid worker: handling his own report, one dispatched to him, and one overdue.
            dict(channel=Channel.GRID_WORKER, grid=own_grid, category="dispute_family", created=now - 2 * h,
                 steps=[("self_handle", 0)]),
            dict(channel=Channel.GRID_WORKER, grid=own_grid, category="risk_safety", created=now - 7 * h,
                 steps=[("accept", 30), ("register", 5), ("dispatch", 10, {"area": own_grid})]),
            dict(channel=Channel.GRID_WORKER, grid=own_grid, category="dispute_neighbour", overdue=True,
                 steps=[("self_handle", 0), ("urge", "after_deadline")]),
            # The water department: a case dispatched to it by the county.
            dict(channel=Channel.HOTLINE, grid=x_grid, category="risk_water", created=now - 3 * h,
                 steps=[("accept", 20), ("register", 5), ("dispatch", 10, {"dept": water})]),
            # Suspended at the village (挂起).
            dict(channel=Channel.GRID_WORKER, grid=f_grid, category="dispute_family", created=now - 10 * 24 * h,
                 steps=[("accept", 60), ("register", 10), ("suspend", 1440)]),
        ]
        out = []
        for plan in plans:
            if plan["category"] not in self.by_code or (water is None and plan["category"] == "risk_water"):
                continue
            if plan.pop("overdue", False):
                plan["created"] = self._overdue_start(self.by_code[plan["category"]])
            out.append(plan)
        return out

    def _overdue_start(self, category: _Category) -> int:
        """A morning from which the category's deadline has passed but the sweep's grace has not."""
        grace = settings.CASE_ESCALATION_GRACE_DAYS
        for back in range(1, 60):
            start = _local_time(_local_day(self.now) - back, 9 * 3600)
            deadline = self.clock.case_deadline(category, category.urgency, start + 3 * HOUR)
            if deadline < self.now - 3 * HOUR and self.clock.deadline(deadline, days=grace) > self.now + 3 * HOUR:
                return start
        return self.now - 2 * HOUR

    def _featured_case(self, pk: int, created: int, plan: dict) -> _Sim:
        world = self.world
        grid, category, channel = plan["grid"], self.by_code[plan["category"]], plan["channel"]
        county = world.areas[grid.county]
        reporter = (None, "system")
        if channel == Channel.GRID_WORKER:
            reporter = world.handler_actor(grid)
            if grid.handlers:
                reporter = grid.handlers[0]
        elif channel in (Channel.HOTLINE, Channel.PETITION, Channel.DEPUTIES) and county.reporters:
            reporter = county.reporters[0]
        sim = _Sim(self, pk, created, channel, grid, True,
                   category if channel in (Channel.GRID_WORKER, Channel.VIDEO_AI) else None)
        self._fill(sim, grid, category, reporter)
        if not plan["steps"] or plan["steps"][0][0] != "self_handle":
            self._notify_new(sim)
        t = created
        try:
            for step in plan["steps"]:
                verb, wait, params = step[0], step[1], (step[2] if len(step) > 2 else {})
                t = (max(sim.deadline + HOUR, sim.t + 60 * US) if wait == "after_deadline"
                     else sim.t + wait * 60 * US)
                t = min(t, self.now - 60 * US)
                self._featured_step(sim, verb, t, category, params, reporter)
        except (_Stop, _Diverged):
            self.stopped += 1
        sim.sweep(self.now)
        return sim

    def _featured_step(self, sim: _Sim, verb: str, t: int, category: _Category, params: dict, reporter) -> None:
        world, rng = self.world, self.rng
        desk = world.desk_actor(sim.desk)
        if verb == "self_handle":
            sim.act("self_handle", sim.created, reporter)
        elif verb == "accept":
            sim.act("accept", t, desk, data={"category": category, "urgency": category.urgency}
                    if sim.category is None else {})
        elif verb == "register":
            sim.act("register", t, desk)
        elif verb == "escalate":
            sim.act("escalate", t, desk, NOTES["escalate"][0])
        elif verb == "dispatch":
            area = params.get("area")
            sim.act("dispatch", t, desk, "", {"area": area, "dept": params.get("dept") if area is None else None,
                                              "assists": params.get("assists", [])})
        elif verb == "start":
            sim.act("start", t, self._holder_actor(sim))
        elif verb == "assist_report":
            unit = params["unit"]
            sim.act("assist_report", t, world.handler_actor(unit), NOTES["assist_report"][0], {"units": (unit.pk,)})
        elif verb == "report":
            sim.act("report", t, self._holder_actor(sim), rng.choice(REPORTS[category.domain_code]))
        elif verb == "supervise":
            sim.act("supervise", t, world.leader_actor(sim.desk), NOTES["supervise"][0],
                    {"deadline": self.clock.deadline(t, days=3)})
        elif verb == "urge":
            sim.act("urge", t, world.superior_actor(sim.desk), NOTES["urge"][0])
        elif verb == "suspend":
            sim.act("suspend", t, desk, NOTES["suspend"][0], {"review_on": _local_day(self.now) + 30})

    # --- notifications ---

    def notify(self, sim: _Sim, at: int, units, key: str) -> None:
        """The notice the services send the users of ``units`` (kept only for the last NOTIFY_DAYS)."""
        if at < self.notify_from:
            return
        users = []
        for area, dept in units:
            users += self.world.unit_users(area, dept)
        if users:
            message = self._message(sim, key)
            self.notifications += [(user, sim, message, at) for user in users]

    def notify_desk(self, sim: _Sim, at: int, key: str) -> None:
        if at < self.notify_from:
            return
        users = self.world.desk_users(sim.desk)
        if users:
            message = self._message(sim, key)
            self.notifications += [(user, sim, message, at) for user in users]

    def _message(self, sim: _Sim, key: str) -> str:
        return (self.text[key] % {"number": sim.number, "title": sim.title, "note": sim._note})[:255]

    def _write_notifications(self) -> None:
        table = self.tables.notification
        for user, sim, message, at in self.notifications:
            read = None
            if sim.state not in OPEN_STATES or at < self.now - 2 * DAY:
                read = min(self.now, at + self._dur(10, 1440))
            table.add(user, sim.pk, message, self.tables.ts(at), self.tables.ts(read))
        self.counts["notifications"] = len(self.notifications)
        self.tables.flush()

    # --- rows ---

    def _tracking_code(self, pk: int) -> str:
        """Ten characters of the tracking alphabet, distinct for distinct ids (an odd multiplier is a bijection
        modulo 32**10) and random-looking; no lookups, unlike ``new_tracking_code`` which draws and may repeat."""
        n = (pk * TRACKING_MULTIPLIER + self.tracking_offset) % TRACKING_SPACE
        out = []
        for _i in range(10):
            n, digit = divmod(n, 32)
            out.append(TRACKING_ALPHABET[digit])
        return "".join(out)

    def _write(self, sim: _Sim) -> None:
        self.states[sim.state] += 1
        if sim.state == State.CLOSED:
            self.resolved[sim.resolved.level_name] += 1
        tables = self.tables
        reporter_id = sim.reporter[0]
        updated = sim.actions[-1][7]
        ts = tables.ts
        category = sim.category
        tables.case.add_row((
            sim.pk, self._tracking_code(sim.pk), sim.title, sim.description, category.domain if category else None,
            category.pk if category else None, sim.urgency, sim.channel, sim.source, sim.state, sim.area.pk,
            sim.placed, sim.desk.pk, sim.holder_area.pk if sim.holder_area else None, sim.holder_dept, sim.mode,
            sim.resolved.pk if sim.resolved else None, sim.lng, sim.lat, sim.address, reporter_id,
            sim.reporter_name, sim.phone_sealed, sim.phone_masked, sim.household, sim.person, None,
            ts(sim.created), ts(updated), ts(sim.deadline), ts(sim.supervision_deadline),
            _date(sim.review_on).isoformat() if sim.review_on is not None else None, ts(sim.closed_at),
            sim.outcome, sim.closed_on_time, sim.rating, ts(sim.rated_at), sim.duplicate_of, sim.urge_count,
            sim.rework_count, sim.escalation_count, ts(sim.warned_at), ts(sim.auto_urged_at),
            ts(sim.auto_escalated_at),
        ))
        add = tables.action.add_row
        dumps = _dumps
        for verb, actor_id, actor_name, from_state, to_state, note, data, at in sim.actions:
            add((sim.pk, verb, actor_id, actor_name[:150], from_state, to_state, note, dumps(data), ts(at)))
        for role, area, dept, created, reported, report, active in sim.assignments:
            tables.assignment.add(case_id=sim.pk, role=role, area_id=area, department_id=dept,
                                  created_at=ts(created), reported_at=ts(reported), report=report, active=active)


_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # one encoder: json.dumps(…, ensure_ascii=False) makes one a call


def _dumps(data: dict) -> str:
    return _ENCODE(data) if data else "{}"


# --- writing --------------------------------------------------------------------------------------------


class _Table:
    """Rows of one model written as bulk_create would write them (values already prepared for the database):
    ``executemany`` of one INSERT on SQLite, COPY on PostgreSQL."""

    def __init__(self, model, columns: list[str] | None = None):
        fields = [f for f in model._meta.concrete_fields if not (f.primary_key and model is not Case)]
        if columns is not None:
            by_name = {f.attname: f for f in fields}
            if set(columns) != set(by_name):
                raise RuntimeError(f"{model.__name__} changed: update gridgov/cases/demo.py ({sorted(by_name)})")
            fields = [by_name[c] for c in columns]
        self.columns = [f.attname for f in fields]
        self.defaults = [None if f.primary_key else f.get_db_prep_save(f.get_default(), connection) for f in fields]
        self.index = {c: i for i, c in enumerate(self.columns)}
        quote = connection.ops.quote_name
        table, cols = quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields)
        self.sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
        self.copy = f"COPY {table} ({cols}) FROM STDIN"
        self.rows: list = []
        self.count = 0

    def add(self, *values, **named) -> None:
        if values:
            self.rows.append(values)
            return
        row = list(self.defaults)
        index = self.index
        for name, value in named.items():
            row[index[name]] = value
        self.rows.append(row)

    def add_row(self, row: tuple) -> None:
        self.rows.append(row)

    def flush(self, cursor) -> None:
        if not self.rows:
            return
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(self.copy) as copy:
                for row in self.rows:
                    copy.write_row(row)
        else:
            cursor.executemany(self.sql, self.rows)
        self.count += len(self.rows)
        self.rows = []


CASE_COLUMNS = [
    "id", "tracking_code", "title", "description", "domain_id", "category_id", "urgency", "channel", "source_id",
    "state", "area_id", "placed", "desk_area_id", "holder_area_id", "holder_department_id", "mode",
    "resolved_area_id", "lng", "lat", "address", "reporter_id", "reporter_name", "reporter_phone_sealed",
    "reporter_phone_masked", "household_id", "person_id", "client_key", "created_at", "updated_at", "deadline_at",
    "supervision_deadline_at", "review_on", "closed_at", "outcome", "closed_on_time", "rating", "rated_at",
    "duplicate_of_id", "urge_count", "rework_count", "escalation_count", "warned_at", "auto_urged_at",
    "auto_escalated_at",
]


class _Tables:
    def __init__(self):
        self.case = _Table(Case, CASE_COLUMNS)
        self.action = _Table(CaseAction, ["case_id", "verb", "actor_id", "actor_name", "from_state", "to_state",
                                          "note", "data", "at"])
        self.assignment = _Table(CaseAssignment)
        self.notification = _Table(Notification, ["user_id", "case_id", "message", "created_at", "read_at"])
        self.postgres = connection.vendor == "postgresql"
        self._days: dict[int, str] = {}
        self._times = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]

    def ts(self, t: int | None):
        """A moment as the database takes it: UTC text, with the zone for PostgreSQL (as bulk_create sends)."""
        if t is None:
            return None
        seconds, micro = divmod(t, US)
        day, second = divmod(seconds, 86400)
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = (EPOCH_DATE + dt.timedelta(days=day)).isoformat() + " "
        text += self._times[second]
        if micro:
            text += f".{micro:06d}"
        return text + "+00:00" if self.postgres else text

    def flush(self) -> None:
        with connection.cursor() as cursor:
            for table in (self.case, self.action, self.assignment, self.notification):
                table.flush(cursor)

    def count(self, name: str) -> int:
        return getattr(self, name).count


@contextlib.contextmanager
def _large_page_cache():
    """On SQLite, a page cache of 256 MB for this connection while the load runs (as the resident loader)."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (before,) = cursor.fetchone()
        cursor.execute("PRAGMA cache_size = -262144")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(before)}")
