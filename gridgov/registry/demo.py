"""The demo county's residents: persons, households, houses, places, tags and colours, in Shangnan's proportions.

Shangnan (商南县) registers about 93,000 households and 248,500 people (2.67 per household); its 三色管理 counts
2,977 yellow (关心户) and 1,144 red (连心户) households. ``load_residents`` fills the basic grids of a demo
tree (gridgov.areas.demo) with as many, at the same shares:

- each household has one head (born 1950–1990) and members by relation (spouse, children, parents, an
  adult child with his or her spouse and grandchildren …) with birth dates that fit the relation;
- every person has a valid citizen ID number (GB 11643: address code 611023 for most, a neighbouring or
  distant county for in-laws and floating residents, a sequence whose parity is the sex, the check digit)
  sealed, hashed and masked by the registry's own helpers, and adults a mobile phone likewise;
- a house per household (about 5% rented out, mostly to floating households) and a few vacant ones;
- a few places per village (九小场所, co-operatives, the village clinic and school …) and one per dedicated
  grid, most with a valid unified social credit code (GB 32100);
- tags (care groups, a few sensitive special groups) with start dates, some already ended;
- a yearly income per person and years as 平安家庭 chosen so that the household classification gives
  exactly the intended red and yellow households: red ones carry a red-rule tag (脱贫不稳定, 监测, 三留守,
  社区矫正, 独居老人); yellow ones an income below the village average or fewer than two 平安家庭 years; the
  others an income at or above the average of their village and two years or more. (Under a rule "below the
  village average" any spread-out income distribution makes half the households yellow, so the incomes of
  the others lie in a narrow band just above the average that the few low incomes pull down.)
- one 一连一 pair of helpers per red household: its grid worker and a party member of the village.

Speed (the county, 1.1 million rows, is meant to load in about a minute): rows are built as plain values and
written in batches of 2,000 by one prepared INSERT (SQLite) or COPY (PostgreSQL), each value prepared by its
model field as bulk_create would (see ``_Table``); primary keys of houses, households and persons are given
here, so that a household names its head before the persons are written (the foreign keys are deferred to
the commit; the sequences are reset at the end). Sealing costs about as much as all the rest, so above
20,000 persons it runs in forked worker processes, a village at a time (``_Sealer``). Every person gets a
"registered" PersonEvent and a HouseholdMembership.

Colours are evaluated by the registry's evaluator against the village averages the registry computes, and
written with their HouseholdClassChange rows, as ``household_create`` would; then
``services.households_reclassify`` re-evaluates a sample of the households (all with ``verify=None``: it
takes about 2 ms a household) and must find nothing to change.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import itertools
import math
import multiprocessing
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace

from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Count, Max
from django.utils import timezone

from gridgov.areas.demo import MOBILE_PREFIXES, SURNAMES
from gridgov.areas.models import Area, AreaKind, Post, Rank, Role, Slot
from gridgov.areas.selectors import subtree
from gridgov.core import audit
from gridgov.core.errors import ApplicationError
from gridgov.core.idnumber import USCC_CHARS, USCC_WEIGHTS, check_char
from gridgov.registry import services
from gridgov.registry.classification import GREEN_REASON, VillageAverages, evaluate
from gridgov.registry.models import (
    EventKind,
    HelperKind,
    House,
    Household,
    HouseholdClass,
    HouseholdClassChange,
    HouseholdHelper,
    HouseholdMembership,
    HouseType,
    HouseUse,
    IdType,
    Person,
    PersonEvent,
    PersonTag,
    Place,
    PlaceType,
    Relation,
    ResidenceType,
    Tag,
)

ACTOR = "gridgov demo"
BATCH_SIZE = 2000
DEFAULT_VERIFY = 500

# --- sizes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResidentScale:
    households: int  # per county (per area given to load_residents)
    persons: int


SHANGNAN_HOUSEHOLDS, SHANGNAN_PERSONS = 93_000, 248_500
SHANGNAN_RED, SHANGNAN_YELLOW = 1_144, 2_977
RESIDENT_SCALES = {
    "tiny": ResidentScale(144, 385),  # 12 basic grids: a dozen households, about 32 persons a grid
    "county": ResidentScale(SHANGNAN_HOUSEHOLDS, SHANGNAN_PERSONS),
    # Eight counties holding one Shangnan between them, so that the city loads like a county.
    "city": ResidentScale(SHANGNAN_HOUSEHOLDS // 8, SHANGNAN_PERSONS // 8),
}
HOUSEHOLD_SIZES = {1: 0.21, 2: 0.31, 3: 0.23, 4: 0.15, 5: 0.07, 6: 0.03}  # mean 2.65, then adjusted
FLOATING_SHARE = 0.04  # households of floating residents, most in rented houses
RENTED_SHARE = 0.05  # of houses
VACANT_SHARE = 0.02  # extra houses nobody lives in
COMMUNITY_WEIGHT = 1.8  # a community's grid holds more households than a village's

# --- names and dictionaries -----------------------------------------------------------------------

# Given names by sex and generation (born before 1970, 1970–1994, from 1995).
GIVEN = {
    True: (
        ["建国", "建华", "国强", "志强", "德明", "永福", "长生", "文兴", "福贵", "金山", "振华", "建军", "卫国",
         "德胜", "万福", "有才", "保平", "国庆", "国平", "宝山", "成林", "明德", "忠义", "学文", "强", "军", "明"],
        ["伟", "磊", "涛", "斌", "鹏", "超", "杰", "浩", "勇", "波", "辉", "海", "建伟", "志刚", "晓东", "小龙",
         "海涛", "俊杰", "文博", "建波", "亚军", "红伟", "永强", "少华", "海波", "小军", "东升", "向阳"],
        ["浩宇", "子轩", "宇航", "俊熙", "梓豪", "浩然", "子豪", "皓轩", "思远", "博文", "锦程", "家豪", "明轩",
         "天佑", "睿", "泽宇", "子墨", "宇轩", "铭", "一鸣", "嘉懿", "煜", "奕辰", "沐阳"],
    ),
    False: (
        ["桂兰", "秀英", "玉兰", "秀兰", "桂英", "凤英", "淑珍", "玉梅", "秀珍", "桂芳", "翠花", "春花", "玉珍",
         "兰英", "金凤", "素芳", "彩霞", "红梅", "秀芳", "冬梅", "芳", "兰", "英", "梅"],
        ["娜", "敏", "静", "丽", "艳", "娟", "芳", "燕", "霞", "婷", "丹", "晶", "小红", "晓燕", "丽娟", "海燕",
         "春燕", "艳红", "雪梅", "丽萍", "慧", "琳", "倩", "晓丽"],
        ["子涵", "梓萱", "欣怡", "诗涵", "雨桐", "可馨", "佳怡", "思琪", "雨萱", "梓涵", "若曦", "一诺", "欣妍",
         "语桐", "紫萱", "佳琪", "梦瑶", "心怡", "雅琪", "悦", "思雨", "安然"],
    ),
}
# Where in-laws and floating residents come from (GB/T 2260 county codes): 商洛's other counties, the
# neighbours across the Henan and Hubei borders, and farther cities.
NEIGHBOUR_CODES = ["611002", "611021", "611022", "611024", "611025", "611026", "411323", "411326", "420304",
                   "420322"]
DISTANT_CODES = ["610102", "610113", "610402", "610702", "610902", "411302", "420303", "500101", "510104",
                 "612301"]
ETHNICITIES = [("汉族", 0.993), ("回族", 0.003), ("满族", 0.0015), ("土家族", 0.0015), ("蒙古族", 0.001)]
EDUCATION_BY_ERA = [  # (born before year, [(education, weight), …])
    (1960, [("文盲或半文盲", 18), ("小学", 50), ("初中", 25), ("高中", 6), ("中专", 1)]),
    (1980, [("小学", 25), ("初中", 48), ("高中", 15), ("中专", 6), ("大专", 4), ("本科", 2)]),
    (2002, [("小学", 5), ("初中", 38), ("高中", 18), ("中专", 10), ("大专", 15), ("本科", 13), ("研究生", 1)]),
]
EDUCATION_YOUNG = [("高中", 30), ("中专", 10), ("大专", 30), ("本科", 28), ("研究生", 2)]
HOUSE_TYPES = [(HouseType.BRICK, 70), (HouseType.EARTH_WOOD, 15), (HouseType.FRAME, 12), (HouseType.OTHER, 3)]
TAG_SOURCES = {
    "left_behind_child": "村委会摸排", "left_behind_woman": "村委会摸排", "left_behind_elderly": "村委会摸排",
    "living_alone_elderly": "村委会摸排", "empty_nest_elderly": "村委会摸排", "unstable_after_poverty": "乡村振兴局",
    "monitored": "乡村振兴局", "dibao": "民政局", "wubao": "民政局", "disabled": "县残联",
    "community_correction": "司法所", "released_prisoner": "司法所", "mental_disorder": "卫健局",
    "drug_user": "公安局", "hiv_risk": "卫健局", "key_youth": "团县委",
}
DISABILITIES = ["肢体残疾", "视力残疾", "听力残疾", "言语残疾", "智力残疾", "精神残疾"]
HELPER_DUTY = {
    HelperKind.GRID_WORKER: "每周至少电话联系一次，每月上门走访",
    HelperKind.PARTY_MEMBER: "每月至少联系一次，帮办急事难事",
}
PRODUCTS = ["茶叶", "香菇", "木耳", "核桃", "板栗", "中药材", "生猪", "魔芋"]
# Places of a village: type, name patterns, and the first two characters of their unified social credit code
# (registering authority and kind: 92 个体工商户, 93 农民专业合作社, 91 企业, 12 事业单位, 71 宗教活动场所).
# The first two are in every village, then a random choice of the others.
PLACES = [
    (PlaceType.NINE_SMALL, ["{surname}记小卖部", "{surname}记便民超市", "{stem}日杂店"], "92"),
    (PlaceType.NINE_SMALL, ["{stem}农家乐", "{surname}家小饭馆", "{surname}记面馆"], "92"),
    (PlaceType.NINE_SMALL, ["{surname}家理发店", "{stem}小旅馆", "{surname}记农资店"], "92"),
    (PlaceType.HOSPITAL, ["{stem}{clinic}"], "12"),
    (PlaceType.ENTERPRISE, ["{county}{stem}{product}专业合作社"], "93"),
    (PlaceType.SCHOOL, ["{stem}小学", "{stem}幼儿园", "{stem}教学点"], "12"),
    (PlaceType.ENTERPRISE, ["{county}{stem}建材有限公司", "{county}{stem}农业开发有限公司"], "91"),
    (PlaceType.RELIGIOUS_SITE, ["{stem}观音庙", "{stem}土地庙", "{stem}关帝庙"], "71"),
    (PlaceType.MARKET, ["{stem}集贸市场"], "93"),
]

# --- the plan of one household --------------------------------------------------------------------


@dataclass(eq=False)
class _Member:
    relation: str
    male: bool
    birth: dt.date
    code6: str = ""
    residence: str = ResidenceType.REGISTERED
    surname: str = ""
    name: str = ""
    pk: int = 0
    tags: list[tuple[str, dt.date, dt.date | None, str]] = field(default_factory=list)  # code, start, end, note


@dataclass(eq=False)
class _Home:
    """One household as planned: its grid, members, money and the colour it is meant to get."""

    pk: int
    grid: object
    village: object
    members: list[_Member]
    floating: bool
    target: str  # green, yellow (low income and/or few 平安家庭 years) or red
    number: str = ""
    low_income: bool = False
    few_safe_years: bool = False
    income: Decimal = Decimal(0)
    safe_years: int = 0
    colour: str = ""


@dataclass
class ResidentsResult:
    counts: dict[str, int]
    classes: dict[str, int]
    intended: dict[str, int]
    verified: int  # households the service re-evaluated
    reclassified: int  # … of which it changed (0 when the loader and the rules agree)
    seconds: float


class ResidentsNotEmpty(ApplicationError):
    def __init__(self) -> None:
        super().__init__(
            "demo_residents_not_empty",
            "The database already holds residents; the demo residents load only into an empty registry.",
        )


def load_residents(*, scale: str = "county", seed: int = 2026, areas: Iterable | None = None,
                   verify: int | None = DEFAULT_VERIFY) -> ResidentsResult:
    """Fills the basic grids under each of ``areas`` (default: every root of the tree, i.e. the demo's
    counties) with residents at ``scale`` (tiny, county, city), in one transaction.

    ``verify``: how many households ``services.households_reclassify`` re-evaluates after the load, which must
    change none (a random sample: a tenth red, a fifth yellow, the rest green; all of them when there are no
    more; None: all). The registry's batch takes about 2 ms a household, 3 minutes for a whole county.
    """
    started = time.perf_counter()
    with transaction.atomic():
        if Person.objects.exists() or Household.objects.exists():
            raise ResidentsNotEmpty()
        roots = list(areas) if areas is not None else list(Area.objects.filter(parent=None).order_by("path"))
        loader = _Loader(RESIDENT_SCALES[scale], random.Random(seed))
        with _large_page_cache():
            result = loader.run(roots, verify=verify)
        result.seconds = time.perf_counter() - started
        audit.record(actor=ACTOR, action="demo.residents",
                     data={"scale": scale, "seed": seed, **result.counts, "classes": result.classes})
    return result


class _Loader:
    def __init__(self, scale: ResidentScale, rng: random.Random):
        self.scale, self.rng = scale, rng
        self.today = timezone.localdate()
        self.now = timezone.now()
        self.tags = {t.code: t.pk for t in Tag.objects.all()}
        self.next_pk = {model: (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1
                        for model in (House, Household, Person)}
        self.used_ids: set[str] = set()
        self.tables = {
            House: _Table(House, with_pk=True), Household: _Table(Household, with_pk=True, prepared=("class_reasons",)),
            Person: _Table(Person, with_pk=True), HouseholdMembership: _Table(HouseholdMembership, with_pk=False),
            PersonEvent: _Table(PersonEvent, with_pk=False, prepared=("data",)),
            PersonTag: _Table(PersonTag, with_pk=False), Place: _Table(Place, with_pk=False),
            HouseholdHelper: _Table(HouseholdHelper, with_pk=False),
            HouseholdClassChange: _Table(HouseholdClassChange, with_pk=False),
        }
        self.green_reasons = self.tables[Household].prepare("class_reasons", [GREEN_REASON])
        self.event_data: dict[str, object] = {}  # grid code → the prepared JSON of its persons' first event
        self.addresses: dict[int, str] = {}  # grid pk → its address from the town down
        self.sealer = _Sealer(self.tables[Person])
        self.homes: list[_Home] = []
        self.party_members: dict[int, list[tuple[str, str]]] = defaultdict(list)  # village pk → (name, phone)
        self.rules = services.active_rules()
        self.sizes, self.weights = zip(*HOUSEHOLD_SIZES.items(), strict=True)

    # --- the run ---

    def run(self, roots, *, verify: int | None) -> ResidentsResult:
        workers = {
            post.area_id: post.staff
            for post in Post.objects.filter(role=Role.GRID_WORKER, slot=Slot.A, end_date=None).select_related("staff")
        }
        with self.sealer.workers(processes=_seal_processes(self.scale.persons * len(roots))):
            for root in roots:
                self._load_county(root)
            self.sealer.drain(keep=0)
        self._flush(final=True)
        intended = Counter(home.target for home in self.homes)
        classes = self._classify()
        self._add_helpers(workers)
        self._flush(final=True)
        self._reset_sequences()
        verified, changed = self._verify(verify)
        names = {Household: "households", Person: "persons", House: "houses", Place: "places",
                 PersonTag: "person_tags", HouseholdMembership: "memberships", PersonEvent: "person_events",
                 HouseholdHelper: "helpers", HouseholdClassChange: "class_changes"}
        counts = {name: self.tables[model].count for model, name in names.items()}
        if changed:
            classes = dict(Household.objects.values_list("household_class").annotate(n=Count("id")).order_by())
        classes = {c: classes.get(c, 0) for c in HouseholdClass.values}
        return ResidentsResult(counts=counts, classes=classes,
                               intended={c: intended.get(c, 0) for c in HouseholdClass.values},
                               verified=verified, reclassified=changed, seconds=0.0)

    def _load_county(self, root) -> None:
        areas = list(Area.objects.filter(subtree(root)).select_related("level").order_by("path"))
        by_pk = {a.pk: a for a in areas}
        village_of: dict[int, object] = {}
        grids_by_village: dict[int, list] = defaultdict(list)
        dedicated = []
        for area in areas:
            if area.level.rank == Rank.VILLAGE:
                village_of[area.pk] = area
            elif area.parent_id in village_of:
                village_of[area.pk] = village_of[area.parent_id]
            if area.kind == AreaKind.GRID:
                # A grid outside any village (not in the demo tree) counts its parent as its village.
                village = village_of.get(area.pk) or by_pk.get(area.parent_id) or area
                grids_by_village[village.pk].append(area)
            elif area.kind == AreaKind.DEDICATED_GRID:
                dedicated.append(area)
        if not grids_by_village:
            return
        villages = [by_pk[pk] for pk in grids_by_village]
        code6 = root.code[:6]
        self.county_code = code6 if code6.isdigit() and len(code6) == 6 else "611023"
        self.county_name = root.name if root.level.rank == Rank.COUNTY else "商南县"
        self.names = {a.pk: a.name for a in areas}
        self.parents = {a.pk: a.parent_id for a in areas}
        self.root_pk = root.pk

        weights = [(COMMUNITY_WEIGHT if village.name.endswith("社区") else 1.0) * self.rng.uniform(0.6, 1.4)
                   for village in villages for _grid in grids_by_village[village.pk]]
        per_grid = iter(_apportion(self.scale.households, weights))
        sizes = self._household_sizes(self.scale.households, self.scale.persons)
        n = self.scale.households
        order = list(range(n))
        self.rng.shuffle(order)
        n_red = max(1, round(n * SHANGNAN_RED / SHANGNAN_HOUSEHOLDS))
        n_yellow = max(1, round(n * SHANGNAN_YELLOW / SHANGNAN_HOUSEHOLDS))
        targets = ["red"] * n_red + ["yellow"] * n_yellow + ["green"] * (n - n_red - n_yellow)
        target_of = dict(zip(order, targets, strict=True))
        floating = set(self.rng.sample(range(n), round(n * FLOATING_SHARE)))

        index = 0
        for village in villages:
            homes = []
            for grid in grids_by_village[village.pk]:
                for number in range(1, next(per_grid) + 1):
                    homes.append(self._household(grid, village, number, sizes[index], index in floating,
                                                 target_of[index]))
                    index += 1
            self._incomes(homes)
            for home in homes:
                self._write_household(home)
            self._places(village, grids_by_village[village.pk])
            self.sealer.submit()
            self._flush()
        for grid in dedicated:
            self._dedicated_place(grid)

    # --- households and their members ---

    def _household_sizes(self, households: int, persons: int) -> list[int]:
        sizes = self.rng.choices(self.sizes, self.weights, k=households)
        total, low, high = sum(sizes), min(self.sizes), max(self.sizes)
        while total != persons:  # nudge random households up or down until the persons add up
            i = self.rng.randrange(households)
            if total < persons and sizes[i] < high:
                sizes[i] += 1
                total += 1
            elif total > persons and sizes[i] > low:
                sizes[i] -= 1
                total -= 1
        return sizes

    def _date(self, first: dt.date, last: dt.date) -> dt.date:
        last = min(last, self.today)
        return dt.date.fromordinal(self.rng.randint(first.toordinal(), max(first.toordinal(), last.toordinal())))

    def _after(self, birth: dt.date, low: int, high: int) -> dt.date | None:
        """A birth date ``low``–``high`` years after ``birth``, not in the future (None: impossible)."""
        first = birth + dt.timedelta(days=round(low * 365.25))
        if first >= self.today:
            return None
        return self._date(first, birth + dt.timedelta(days=round(high * 365.25)))

    def _around(self, birth: dt.date, low: int, high: int) -> dt.date:
        return birth + dt.timedelta(days=self.rng.randint(round(low * 365.25), round(high * 365.25)))

    def _age(self, birth: dt.date) -> int:
        return self.today.year - birth.year - ((self.today.month, self.today.day) < (birth.month, birth.day))

    def _household(self, grid, village, number: int, size: int, floating: bool, target: str) -> _Home:
        rng = self.rng
        head_years = (1970, 1990) if floating else (1950, 1990)
        head_male = rng.random() < (0.88 if size > 1 else 0.6)
        head = _Member(Relation.HEAD, head_male, self._date(dt.date(head_years[0], 1, 1),
                                                               dt.date(head_years[1], 12, 31)))
        members = [head]
        left = size - 1
        wife, husband = (None, head) if head_male else (head, None)
        if left and rng.random() < 0.9:
            gap = rng.randint(-1, 6)  # the husband a few years older, as a rule
            birth = self._around(head.birth, gap - 1, gap) if head_male else self._around(head.birth, -gap, 1 - gap)
            spouse = _Member(Relation.SPOUSE, not head_male, birth)
            members.append(spouse)
            left -= 1
            wife, husband = (spouse, head) if head_male else (head, spouse)
        mother = wife or head
        if left >= 3 and head.birth.year <= 1972 and rng.random() < 0.6:
            # Three generations: an adult child, the child's spouse, grandchildren.
            child_birth = self._after(mother.birth, 21, 30)
            if child_birth is not None and self._age(child_birth) >= 21:
                child = _Member(Relation.CHILD, rng.random() < 0.75, child_birth)
                in_law = _Member(Relation.CHILD_IN_LAW, not child.male, self._around(child_birth, -3, 3))
                members += [child, in_law]
                left -= 2
                young_mother = in_law if child.male else child
                for _i in range(left):
                    birth = self._after(young_mother.birth, 20, 36)
                    if birth is None:
                        break
                    members.append(_Member(Relation.GRANDCHILD, rng.random() < 0.52, birth))
                    left -= 1
        children = 0
        while left and children < 3:
            birth = self._after(mother.birth, 20, 38)
            if birth is None:
                break
            members.append(_Member(Relation.CHILD, rng.random() < 0.52, birth))
            children += 1
            left -= 1
        parents = 0
        while left and parents < 2 and head.birth.year >= 1958:
            birth = self._around(head.birth, -34, -21)
            if birth.year < 1930:
                break
            male = rng.random() < 0.5 if parents == 0 else not members[-1].male
            members.append(_Member(Relation.PARENT, male, birth))
            parents += 1
            left -= 1
        while left:
            relation = Relation.SIBLING if rng.random() < 0.7 else Relation.OTHER
            members.append(_Member(relation, rng.random() < 0.5, self._around(head.birth, -8, 8)))
            left -= 1
        for member in members:
            member.birth = min(member.birth, self.today)
        self._origins(members, floating)
        self._names(members, husband)
        home = _Home(pk=self._pk(Household), grid=grid, village=village, members=members, floating=floating,
                     target=target, number=f"{grid.code}{number:04d}")
        self._tags(home)
        return home

    def _origins(self, members: list[_Member], floating: bool) -> None:
        rng = self.rng
        if floating:
            home = rng.choice(DISTANT_CODES + NEIGHBOUR_CODES)
            for member in members:
                member.code6, member.residence = home, ResidenceType.FLOATING
            return
        for member in members:
            member.code6 = self.county_code
            if member.relation in (Relation.SPOUSE, Relation.CHILD_IN_LAW) and rng.random() < 0.2:
                member.code6 = rng.choice(NEIGHBOUR_CODES if rng.random() < 0.8 else DISTANT_CODES)
                if member.relation == Relation.CHILD_IN_LAW and rng.random() < 0.3:
                    member.residence = ResidenceType.TEMPORARY
            elif member.relation == Relation.OTHER and rng.random() < 0.5:
                member.code6, member.residence = rng.choice(DISTANT_CODES), ResidenceType.TEMPORARY

    def _names(self, members: list[_Member], husband: _Member | None) -> None:
        """Children take their father's surname; wives, mothers and in-laws keep their own."""
        rng = self.rng
        head = members[0]
        head.surname = rng.choice(SURNAMES)
        if husband is not None and husband is not head:
            husband.surname = rng.choice(SURNAMES)
        family = husband.surname if husband is not None else head.surname
        grandchildren = family
        for member in members[1:]:
            if member.surname:
                continue
            if member.relation == Relation.CHILD:
                member.surname = family
            elif member.relation == Relation.SIBLING or member.relation == Relation.PARENT and member.male:
                member.surname = head.surname
            else:
                member.surname = rng.choice(SURNAMES)
            if member.relation == Relation.CHILD_IN_LAW and member.male:
                grandchildren = member.surname
        for member in members:
            if member.relation == Relation.GRANDCHILD:
                member.surname = grandchildren
            era = 0 if member.birth.year < 1970 else 1 if member.birth.year < 1995 else 2
            member.name = member.surname + rng.choice(GIVEN[member.male][era])

    # --- tags (care groups, special groups) ---

    def _tag(self, member: _Member, code: str, *, ended: bool = False, note: str = "") -> None:
        start = self._date(max(member.birth, dt.date(2018, 1, 1)), self.today - dt.timedelta(days=20))
        end = None
        if ended:
            if (self.today - start).days < 60:
                return
            end = self._date(start + dt.timedelta(days=30), self.today - dt.timedelta(days=1))
        member.tags.append((code, start, end, note))

    def _tags(self, home: _Home) -> None:
        rng = self.rng
        members = home.members
        head = members[0]
        ages = [self._age(m.birth) for m in members]
        elderly = [m for m, a in zip(members, ages, strict=True) if a >= 60]
        young_children = [m for m, a in zip(members, ages, strict=True) if a < 16]
        adults = [m for m, a in zip(members, ages, strict=True) if 18 <= a < 65]
        if home.target == "red":
            options = [("unstable_after_poverty", 3.0), ("monitored", 2.0)]
            if len(members) == 1 and ages[0] >= 60:
                options.append(("living_alone_elderly", 6.0))
            if young_children:
                options.append(("left_behind_child", 4.0))
            if elderly and len(members) > 1:
                options.append(("left_behind_elderly", 1.5))
            if adults:
                options.append(("community_correction", 0.4))
            codes, weights = zip(*options, strict=True)
            reason = rng.choices(codes, weights)[0]
            if reason in ("unstable_after_poverty", "monitored"):
                for member in members:
                    self._tag(member, reason)
            elif reason == "living_alone_elderly":
                self._tag(head, reason)
            elif reason == "left_behind_child":
                for child in young_children:
                    self._tag(child, reason)
                for member in elderly:
                    self._tag(member, "left_behind_elderly")
            elif reason == "left_behind_elderly":
                for member in elderly:
                    self._tag(member, reason)
            else:
                self._tag(rng.choice(adults), reason, note="社区矫正期间")
            home.low_income = reason in ("unstable_after_poverty", "monitored") and rng.random() < 0.7
        elif home.target == "yellow":
            kind = rng.random()
            home.low_income, home.few_safe_years = kind < 0.7, kind >= 0.6
        if home.target != "red" and rng.random() < 0.015:  # a red-rule tag that has already ended
            reason = rng.choice(["monitored", "unstable_after_poverty"]) if rng.random() < 0.7 else None
            if reason:
                for member in members:
                    self._tag(member, reason, ended=True, note="风险已消除")
            elif young_children:
                self._tag(rng.choice(young_children), "left_behind_child", ended=True, note="父母返乡")
        # Care groups that do not colour a household.
        if rng.random() < 0.025:
            self._tag(head, "dibao")
        if len(members) == 1 and ages[0] >= 60 and rng.random() < 0.1:
            self._tag(head, "wubao")
        if len(members) == 2 and min(ages) >= 60 and rng.random() < 0.3:
            for member in members:
                self._tag(member, "empty_nest_elderly")
        for member, age in zip(members, ages, strict=True):
            r = rng.random()
            if r < (0.1 if age >= 60 else 0.03):
                self._tag(member, "disabled", note=f"{rng.choice(DISABILITIES)}{rng.choice('一二三四')}级")
            if 14 <= age <= 25 and r > 0.997:
                self._tag(member, "key_youth")
            if 20 <= age < 70 and home.target != "red":
                s = rng.random()
                if s < 0.0015:
                    self._tag(member, "released_prisoner", note="刑满释放后帮教")
                elif s < 0.0023:
                    self._tag(member, "mental_disorder")
                elif s < 0.0027:
                    self._tag(member, "drug_user")
                elif s < 0.0028:
                    self._tag(member, "hiv_risk")

    # --- money and 平安家庭 ---

    def _incomes(self, homes: list[_Home]) -> None:
        """Incomes per person in the village: low ones well below its level, the rest in a narrow band above
        it, then raised where needed so that no household meant to be green or red-by-tags is below the
        average of the village."""
        rng = self.rng
        village = homes[0].village if homes else None
        community = village is not None and village.name.endswith("社区")
        level = rng.uniform(18_000, 26_000) if community else rng.uniform(10_500, 16_000)
        for home in homes:
            value = level * (rng.uniform(0.35, 0.85) if home.low_income else 1 + 0.05 * rng.random() ** 6)
            home.income = Decimal(math.ceil(value / 10) * 10)
            if home.few_safe_years:
                home.safe_years = rng.choice([0, 0, 1])
            else:
                home.safe_years = rng.choices(range(2, 11), [4, 10, 10, 9, 8, 6, 5, 4, 4])[0]
        for _round in range(100):
            average = sum(h.income for h in homes) / len(homes)
            above = Decimal(math.floor(average / 10) * 10 + 10)  # strictly above the average
            well_below = Decimal(math.floor(average * Decimal("0.08")) * 10)  # 80% of it
            changed = False
            for home in homes:
                if home.low_income and home.income > well_below:
                    home.income, changed = well_below, True
                elif not home.low_income and home.income <= average:
                    home.income, changed = above, True
            if not changed:
                break

    # --- rows ---

    def _pk(self, model) -> int:
        pk = self.next_pk[model]
        self.next_pk[model] = pk + 1
        return pk

    def _id_number(self, code6: str, birth: dt.date, male: bool) -> str:
        stem = f"{code6}{birth.year:04d}{birth.month:02d}{birth.day:02d}"
        while True:
            first17 = f"{stem}{self.rng.randrange(500) * 2 + male:03d}"
            if first17 not in self.used_ids:
                self.used_ids.add(first17)
                return first17 + check_char(first17)

    def _mobile(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def _address(self, grid, suffix: str) -> str:
        """The names from the town down to the grid, then ``suffix``: 富水镇梁家湾村一组牛家庄片12号."""
        if grid.pk not in self.addresses:
            parts, pk = [], grid.pk
            while pk is not None and pk != self.root_pk and pk in self.names:
                parts.append(self.names[pk])
                pk = self.parents[pk]
            self.addresses[grid.pk] = "".join(reversed(parts))
        return self.addresses[grid.pk] + suffix

    def _house(self, grid, address: str, *, owner: str, use: str) -> int:
        lng = lat = None
        if grid.min_lng is not None and grid.max_lng is not None:
            lng = round(self.rng.uniform(grid.min_lng, grid.max_lng), 6)
            lat = round(self.rng.uniform(grid.min_lat, grid.max_lat), 6)
        pk = self._pk(House)
        self._add(House, id=pk, address=address, area_id=grid.pk, house_type=_pick(self.rng, HOUSE_TYPES),
                  owner_name=owner, use=use, lng=lng, lat=lat, created_at=self.now, updated_at=self.now)
        return pk

    def _write_household(self, home: _Home) -> None:
        rng = self.rng
        grid, head = home.grid, home.members[0]
        number = int(home.number[-4:])
        rented = home.floating and rng.random() < 0.9 or not home.floating and rng.random() < 0.016
        owner = _random_name(rng) if rented else head.name
        address = self._address(grid, f"{number}号")
        house = self._house(grid, address, owner=owner, use=HouseUse.RENTED if rented else HouseUse.SELF_USED)
        if rng.random() < VACANT_SHARE:
            self._house(grid, f"{address}之一", owner=_random_name(rng), use=HouseUse.VACANT)
        since = self._date(dt.date(2023, 1, 1), self.today)
        if grid.code not in self.event_data:
            self.event_data[grid.code] = self.tables[PersonEvent].prepare("data", {"grid": grid.code, "warnings": []})
        for member in home.members:
            member.pk = self._pk(Person)
            self._person(member, home, house, since)
        self._add(Household, id=home.pk, number=home.number, address=address, area_id=grid.pk, house_id=house,
                  head_id=head.pk, income_per_person=home.income, safe_family_years=home.safe_years,
                  household_class=HouseholdClass.GREEN, class_reasons=self.green_reasons, created_at=self.now,
                  updated_at=self.now)
        self.homes.append(home)

    def _person(self, member: _Member, home: _Home, house: int, since: dt.date) -> None:
        rng = self.rng
        age = self._age(member.birth)
        number = self._id_number(member.code6, member.birth, member.male)
        phone = self._mobile() if age >= 16 and rng.random() < (0.55 if age >= 75 else 0.93) else ""
        political_status = self._politics(member, age)
        if political_status == "中共党员" and phone:
            self.party_members[home.village.pk].append((member.name, phone))
        # The sealed, hashed and masked ID number and phone are filled in by the sealer.
        self.sealer.add(
            (number, member.birth, "M" if member.male else "F", phone),
            dict(id=member.pk, name=member.name, ethnicity=_pick(rng, ETHNICITIES),
                 education=self._education(member, age), political_status=political_status,
                 residence_type=member.residence, area_id=home.grid.pk, household_id=home.pk,
                 relation=member.relation, house_id=house, alive=True, moved_out=False, created_at=self.now,
                 updated_at=self.now),
        )
        start = max(since, member.birth)
        self._add(HouseholdMembership, person_id=member.pk, household_id=home.pk, relation=member.relation,
                  start_date=start, end_date=None)
        self._add(PersonEvent, person_id=member.pk, kind=EventKind.REGISTERED, date=start, at=self.now,
                  actor_id=None, actor_name=ACTOR, data=self.event_data[home.grid.code])
        for code, tag_start, end, note in member.tags:
            self._add(PersonTag, person_id=member.pk, tag_id=self.tags[code], start_date=tag_start, end_date=end,
                      source=TAG_SOURCES.get(code, ""), note=note)

    def _education(self, member: _Member, age: int) -> str:
        if age < 6:
            return ""
        if age < 12:
            return "小学"
        if age < 15:
            return "初中"
        if age < 18:
            return "高中"
        for before, options in EDUCATION_BY_ERA:
            if member.birth.year < before:
                return _pick(self.rng, options)
        return _pick(self.rng, EDUCATION_YOUNG)

    def _politics(self, member: _Member, age: int) -> str:
        r = self.rng.random()
        if age >= 18 and r < (0.11 if member.male else 0.05):
            return "中共党员"
        if 14 <= age <= 28 and r > 0.6:
            return "共青团员"
        return "群众"

    # --- places ---

    def _places(self, village, grids: list) -> None:
        rng = self.rng
        stem, county = village.name.removesuffix("社区").removesuffix("村"), self.county_name
        count = rng.randint(3, 4) if self.scale.households < 1000 else rng.randint(3, 8)
        community = village.name.endswith("社区")
        first, rest = PLACES[:2], PLACES[2:]
        for place_type, patterns, prefix in first + rng.sample(rest, count - 2):
            name = rng.choice(patterns).format(
                surname=rng.choice(SURNAMES), stem=stem, county=county, product=rng.choice(PRODUCTS),
                clinic="社区卫生服务站" if community else "村卫生室",
            )
            coded = rng.random() < (0.5 if place_type == PlaceType.RELIGIOUS_SITE else 0.85)
            self._place(name=name, place_type=place_type, grid=rng.choice(grids), credit=prefix if coded else "")

    def _dedicated_place(self, grid) -> None:
        place_type = {"school": PlaceType.SCHOOL, "hospital": PlaceType.HOSPITAL, "market": PlaceType.MARKET,
                      "enterprise": PlaceType.ENTERPRISE, "religious_site": PlaceType.RELIGIOUS_SITE}
        kind = place_type.get(grid.dedicated_type, PlaceType.OTHER)
        prefix = {PlaceType.ENTERPRISE: "91", PlaceType.RELIGIOUS_SITE: "71", PlaceType.MARKET: "93"}.get(kind, "12")
        self._place(name=grid.name.removesuffix("网格"), place_type=kind, grid=grid, credit=prefix)

    def _place(self, *, name: str, place_type: str, grid, credit: str) -> None:
        self._add(Place, name=name[:100], place_type=place_type, area_id=grid.pk,
                  address=self._address(grid, f"{self.rng.randint(1, 99)}号"), contact_name=_random_name(self.rng),
                  contact_phone=self._mobile(), credit_code=self._uscc(credit) if credit else "",
                  created_at=self.now, updated_at=self.now)

    def _uscc(self, prefix: str) -> str:
        """A unified social credit code: registering authority and kind, the county's code, an organisation
        code (GB 11714, with its check character) and the GB 32100 check character."""
        body = f"{self.rng.randrange(10**8):08d}"
        weighted = sum(int(c) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
        check = (11 - weighted % 11) % 11
        first17 = prefix + self.county_code + body + ("X" if check == 10 else str(check))
        total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
        return first17 + USCC_CHARS[(31 - total % 31) % 31]

    # --- colours and helpers ---

    def _classify(self) -> dict[str, int]:
        """The registry's evaluator on every household, against the village averages the registry computes;
        non-green colours are written with their HouseholdClassChange rows, as household_create would."""
        averages = VillageAverages()
        groups: dict[tuple[str, tuple[str, ...]], list[int]] = defaultdict(list)
        classes: Counter[str] = Counter()
        for home in self.homes:
            codes = {code for m in home.members for code, start, end, _n in m.tags
                     if start <= self.today and (end is None or end > self.today)}
            village_average = averages.for_area(home.village) if home.village.level.rank == Rank.VILLAGE else None
            verdict = evaluate(SimpleNamespace(income_per_person=home.income, safe_family_years=home.safe_years),
                               self.rules, tag_codes=codes, village_average=village_average, today=self.today)
            classes[verdict.colour] += 1
            home.colour = verdict.colour
            if verdict.colour != HouseholdClass.GREEN or verdict.reasons != [GREEN_REASON]:
                groups[verdict.colour, tuple(verdict.reasons)].append(home.pk)
        for (colour, reasons), pks in groups.items():
            for start in range(0, len(pks), 500):
                Household.objects.filter(pk__in=pks[start:start + 500]).update(household_class=colour,
                                                                               class_reasons=list(reasons))
            if colour != HouseholdClass.GREEN:
                for pk in pks:
                    self._add(HouseholdClassChange, household_id=pk, from_class=HouseholdClass.GREEN, to_class=colour,
                              reasons=list(reasons), manual=False, at=self.now, actor_name=ACTOR)
        return dict(classes)

    def _add_helpers(self, workers: dict) -> None:
        """一连一: each red household gets its grid worker and a party member of its village."""
        for home in self.homes:
            if home.colour != HouseholdClass.RED:
                continue
            start = self._date(dt.date(2024, 1, 1), self.today)
            worker = workers.get(home.grid.pk)
            if worker is not None:
                self._helper(home, worker.name, HelperKind.GRID_WORKER, worker.phone, start)
            members = self.party_members.get(home.village.pk)
            if members:
                name, phone = self.rng.choice(members)
                self._helper(home, name, HelperKind.PARTY_MEMBER, phone, start)

    def _helper(self, home: _Home, name: str, kind: str, phone: str, start: dt.date) -> None:
        self._add(HouseholdHelper, household_id=home.pk, name=name, kind=kind, phone=phone, duty=HELPER_DUTY[kind],
                  start_date=start, end_date=None)

    def _verify(self, verify: int | None) -> tuple[int, int]:
        """Lets the registry's own batch re-evaluate the households; it must change nothing."""
        if verify is None or verify >= len(self.homes):
            return len(self.homes), services.households_reclassify(actor=ACTOR)
        if verify <= 0:
            return 0, 0
        by_colour = defaultdict(list)
        for home in self.homes:
            by_colour[home.colour].append(home.pk)
        pks = []
        for colour, share in ((HouseholdClass.RED, 0.1), (HouseholdClass.YELLOW, 0.2), (HouseholdClass.GREEN, 1)):
            pool = by_colour[colour]
            pks += self.rng.sample(pool, min(len(pool), max(1, round(verify * share)), verify - len(pks)))
        changed = 0
        for start in range(0, len(pks), 10_000):  # within SQLite's limit on query parameters
            batch = Household.objects.filter(pk__in=pks[start:start + 10_000])
            changed += services.households_reclassify(actor=ACTOR, queryset=batch)
        return len(pks), changed

    # --- writing ---

    def _add(self, model, **values) -> None:
        self.tables[model].add(**values)

    def _flush(self, final: bool = False) -> None:
        for table in self.tables.values():
            if final or len(table.rows) >= BATCH_SIZE:
                table.flush()

    def _reset_sequences(self) -> None:
        """The primary keys were given here: move PostgreSQL's sequences past them. Then ANALYZE the tables
        (as autovacuum would soon), or the registry's first queries plan without statistics."""
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [House, Household, Person]):
                cursor.execute(sql)
            if connection.vendor == "postgresql":
                for model in self.tables:
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


class _Table:
    """Rows of one model, written as bulk_create writes them (every column, each value prepared by its field
    for this database) without building a model instance and compiling SQL for each row, which is most of
    bulk_create's time at a quarter of a million rows: ``executemany`` of one INSERT on SQLite, COPY on
    PostgreSQL (where executemany would wait for one round trip a row)."""

    def __init__(self, model, *, with_pk: bool, prepared: tuple[str, ...] = ()):
        self.model = model
        fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
        self.columns = [f.attname for f in fields]
        self.defaults = {f.attname: None if f.primary_key else f.get_default() for f in fields}
        quote = connection.ops.quote_name
        # Table and column names from the model, values as parameters.
        table, columns = quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields)
        self.sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
        self.copy = f"COPY {table} ({columns}) FROM STDIN"
        converted = (models.DateField, models.DecimalField, models.JSONField)  # DateTimeField is a DateField
        self.convert = [(i, f, isinstance(f, models.JSONField)) for i, f in enumerate(fields)
                        if isinstance(f, converted) and f.attname not in prepared]
        self.memo: dict = {}
        self.rows: list[list] = []
        self.count = 0

    def add(self, **values) -> None:
        self.rows.append([values.get(column, self.defaults[column]) for column in self.columns])

    def prepare(self, column: str, value):
        """A value already prepared for the database (for a column given as ``prepared``)."""
        return self.model._meta.get_field(column).get_db_prep_save(value, connection)

    def flush(self) -> None:
        if not self.rows:
            return
        for row in self.rows:
            for i, field_, is_json in self.convert:
                value = row[i]
                if value is None:
                    continue
                if is_json:
                    row[i] = field_.get_db_prep_save(value, connection)
                    continue
                key = (i, value)
                if key not in self.memo:
                    self.memo[key] = field_.get_db_prep_save(value, connection)
                row[i] = self.memo[key]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(self.copy) as copy:
                    for row in self.rows:
                        copy.write_row(row)
            else:
                cursor.executemany(self.sql, self.rows)
        self.count += len(self.rows)
        self.rows = []


@contextlib.contextmanager
def _large_page_cache():
    """On SQLite, a page cache of 256 MB for this connection while the load runs (the default 2 MB spills
    the transaction's pages to the write-ahead log and reads them back: a third of the insert time).
    Durability is unchanged."""
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


SEALED_FIELDS = ("id_type", "id_number_sealed", "id_number_hash", "id_number_masked", "birth_date", "sex",
                 "phone_sealed", "phone_hash", "phone_masked")


def _seal(items: list[tuple[str, dt.date, str, str]]) -> list[tuple]:
    """ID numbers and phones sealed, hashed and masked exactly as the registry does it: its own helpers on an
    unsaved Person, read back. Runs in a worker process when there are many."""
    person, sealed = Person(), []
    for number, birth, sex, phone in items:
        services._seal_identity(person, services.Identity(IdType.CITIZEN, number, birth, sex, ()))
        services._seal_phone(person, phone)
        sealed.append(tuple(getattr(person, name) for name in SEALED_FIELDS))
    return sealed


def _seal_processes(persons: int) -> int:
    """Worker processes for sealing: sealing costs about as much as everything else the loader does in Python,
    so on two cores one worker halves the time. None below 20,000 persons, or where fork is unavailable."""
    cores = os.cpu_count() or 1
    if persons < 20_000 or cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    return min(3, cores - 1)


class _Sealer:
    """Person rows waiting for their sealed values: batches (a village each) go to the worker processes, or are
    sealed here when there are none; finished batches are added to the Person table in order."""

    def __init__(self, table: _Table):
        self.table = table
        self.pool = None
        self.items: list[tuple] = []
        self.rows: list[dict] = []
        self.pending: collections.deque = collections.deque()

    @contextlib.contextmanager
    def workers(self, *, processes: int):
        if not processes:
            yield
            return
        # Forked workers only seal: they never touch the database connection they inherit.
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            self.pool = pool
            try:
                yield
            finally:
                self.pool = None

    def add(self, item: tuple, row: dict) -> None:
        self.items.append(item)
        self.rows.append(row)

    def submit(self) -> None:
        if not self.items:
            return
        if self.pool is None:
            self._finish(self.rows, _seal(self.items))
        else:
            self.pending.append((self.rows, self.pool.apply_async(_seal, (self.items,))))
            self.drain(keep=4)
        self.items, self.rows = [], []

    def drain(self, *, keep: int) -> None:
        if keep == 0:
            self.submit()
        while len(self.pending) > keep:
            rows, result = self.pending.popleft()
            self._finish(rows, result.get())

    def _finish(self, rows: list[dict], sealed: list[tuple]) -> None:
        for row, values in zip(rows, sealed, strict=True):
            row.update(zip(SEALED_FIELDS, values, strict=True))
            self.table.add(**row)


def _apportion(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders)."""
    scale = total / sum(weights)
    shares = [w * scale for w in weights]
    counts = [math.floor(s) for s in shares]
    for i in sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])[: total - sum(counts)]:
        counts[i] += 1
    return counts


_CUMULATIVE: dict[int, tuple[tuple, list[float]]] = {}


def _pick(rng: random.Random, options):
    """A value of ``options`` ([(value, weight), …], a module constant) drawn by weight."""
    if id(options) not in _CUMULATIVE:
        values, weights = zip(*options, strict=True)
        _CUMULATIVE[id(options)] = values, list(itertools.accumulate(weights))
    values, cumulative = _CUMULATIVE[id(options)]
    return rng.choices(values, cum_weights=cumulative)[0]


def _random_name(rng: random.Random) -> str:
    male = rng.random() < 0.6
    return rng.choice(SURNAMES) + rng.choice(GIVEN[male][rng.randrange(3)])
