"""The demo county: a tree modelled on Shangnan (商南县), its grid workers, departments and a login per role.

Rows are built in memory and bulk-inserted level by level (paths, codes and boundaries exactly as the
services would write them), so a whole county loads in seconds. Everything runs in one transaction.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction

from gridgov.areas import services
from gridgov.areas.codes import encode_step
from gridgov.areas.geo import parse_boundary
from gridgov.areas.models import (
    GRID_KINDS,
    Area,
    AreaKind,
    DedicatedType,
    Department,
    Employment,
    Post,
    Role,
    Slot,
    Staff,
)
from gridgov.core import audit
from gridgov.core.errors import ApplicationError

DEMO_PASSWORD = "Gridgov@2026"
BATCH_SIZE = 1000
LEVELS = services.LEVEL_PRESETS["shangnan"]  # 县 → 镇办 → 村/社区 → 组 → 片
COUNTY, TOWN, VILLAGE, GROUP, GRID = range(5)  # indexes into LEVELS
# Shangnan: about one 片长 in ten is full-time; yearly stipends in yuan.
FULL_TIME_SHARE, FULL_TIME_STIPEND, PART_TIME_STIPEND = 0.1, 1200, 600
DEDICATED_PART = 900  # dedicated grids under a village number 901, 902 … apart from its groups 001, 002 …

# --- names ----------------------------------------------------------------------------------------

SHANGNAN = ("611023", "商南县")
SHANGNAN_BBOX = (110.55, 33.30, 111.20, 33.80)
# Town part of the code: 001–099 街道, 100–199 镇.
SHANGNAN_TOWNS = [
    (1, "城关街道办"), (100, "富水镇"), (101, "湘河镇"), (102, "赵川镇"), (103, "金丝峡镇"),
    (104, "过风楼镇"), (105, "试马镇"), (106, "清油河镇"), (107, "十里坪镇"), (108, "青山镇"),
]
# The county-level divisions of 商洛市 (6110), placed side by side in two rows (column, row) at city scale.
# 商洛 has seven; the eighth, 商洛示范区, is made up for the benchmark's eight counties.
CITY_COUNTIES = [
    ("611026", "柞水县", 0, 1), ("611002", "商州区", 1, 1), ("611021", "洛南县", 2, 1),
    ("611022", "丹凤县", 3, 1), ("611025", "镇安县", 0, 0), ("611024", "山阳县", 1, 0),
    ("611071", "商洛示范区", 2, 0), ("611023", "商南县", 3, 0),
]
STREET_COMMUNITIES = [
    "东街社区", "西街社区", "南街社区", "北街社区", "鹿城社区", "新城社区", "向阳社区", "清泉社区",
]
DEPARTMENTS = [
    "公安局", "司法局", "水务局", "住建局", "应急管理局", "民政局", "乡村振兴局", "林业局", "自然资源局",
    "教育局", "卫健局", "人社局", "农业农村局", "交通运输局", "市场监管局",
]
# Units with a dedicated grid (专属网格): the county's in the 街道's communities, the towns' in their seats.
COUNTY_UNITS = [
    (DedicatedType.SCHOOL, "{county}高级中学"), (DedicatedType.HOSPITAL, "{county}医院"),
    (DedicatedType.MARKET, "{town}农贸市场"), (DedicatedType.HOSPITAL, "{county}中医医院"),
]
TOWN_UNITS = [
    (DedicatedType.SCHOOL, "{town}中心小学"), (DedicatedType.HOSPITAL, "{town}中心卫生院"),
    (DedicatedType.ENTERPRISE, "{town}茶业公司"), (DedicatedType.RELIGIOUS_SITE, "{town}观音庙"),
    (DedicatedType.MARKET, "{town}商贸市场"), (DedicatedType.SCHOOL, "{town}初级中学"),
    (DedicatedType.ENTERPRISE, "{town}矿业公司"), (DedicatedType.RELIGIOUS_SITE, "{town}娘娘庙"),
]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余于杜叶程魏苏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔"
)
GIVEN_SINGLE = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚斌鹏辉亮"
GIVEN_FIRST = "建国志红玉桂秀海德永晓小春文兴长新宝明金振立"
GIVEN_SECOND = "华兰英梅明强军林峰燕凤琴虎成福山菊花旺民平刚勇辉"
MOBILE_PREFIXES = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156",
    "157", "158", "159", "177", "180", "181", "182", "183", "186", "187", "188", "189", "198", "199",
]
FAMILIES = "梁王李陈刘张杨赵黄周吴徐马胡郭何高罗郑谢宋唐韩冯邓曹彭肖田董袁潘蔡余杜叶程魏苏吕任姚卢崔谭石廖贾"
PLACE_WORDS = ["青山", "白鹤", "石门", "龙泉", "松树", "柳树", "桃园", "金竹", "双河", "水田", "黄龙", "红岩",
               "清泉", "太平", "新庄", "高山", "马鞍", "凤凰", "狮子", "黑龙", "白杨", "花园", "桐木", "竹林",
               "梨树", "月亮", "团结", "红星", "东岳", "碾盘", "茶房", "油坊", "铁炉", "磨石", "漆树", "核桃"]
LANDFORMS = "湾沟坪河岭坡庄店岔垭川口坝院峪台园铺"
HAMLET_PREFIXES = ["上", "下", "前", "后", "东", "西", "大", "小", "老", "新", "中", "阳", "阴", "高"]
HAMLET_FORMS = "庄湾沟坪院岭坡垭河坝台场"
TOWN_STEMS = ["大荆", "北宽坪", "麻街", "杨峪河", "金陵寺", "夜村", "沙河子", "板桥", "黑山", "腰市", "三要",
              "石坡", "景村", "古城", "石门", "永丰", "灵口", "巡检", "保安", "寺耳", "庙台", "竹林关",
              "土门", "棣花", "峦庄", "铁峪铺", "武关", "高坝店", "蔡川", "龙驹寨", "漫川关", "法官", "户垣",
              "杨地", "西口", "色河", "高峰", "月河", "云盖寺", "木王", "柴坪", "达仁", "米粮", "回龙",
              "茅坪", "西照川", "铁厂", "永乐", "青铜关", "东川", "营盘", "红岩寺", "瓦房口", "凤镇"]
NUMERALS = "一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 35 → 三十五 (1–99)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else NUMERALS[tens - 1] + "十")
    return head + (NUMERALS[ones - 1] if ones else "")


def _unique(make, used: set[str]) -> str:
    for _i in range(1000):
        name = make()
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("ran out of names")


# --- the plan: a tree of nodes with codes, names and rectangles -------------------------------


@dataclass(frozen=True)
class Scale:
    counties: int
    towns: int  # per county
    villages: int  # per county
    groups: int  # per county
    grids: int  # basic grids per county
    dedicated: int  # dedicated grids per county
    villages_per_town: tuple[int, int]
    groups_per_village: tuple[int, int]
    grids_per_group: tuple[int, int]


SCALES = {
    "tiny": Scale(1, 2, 4, 6, 12, 1, (2, 2), (1, 2), (2, 2)),
    "county": Scale(1, 10, 110, 1544, 3343, 12, (6, 16), (4, 30), (1, 5)),
    "city": Scale(8, 10, 40, 520, 1125, 4, (3, 6), (8, 20), (1, 4)),
}


@dataclass(eq=False)
class Node:
    code: str
    name: str
    level: int
    kind: str = AreaKind.DIVISION
    dedicated_type: str = ""
    children: list[Node] = field(default_factory=list)
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    area: Area | None = None

    def add(self, node: Node) -> Node:
        self.children.append(node)
        return node


def _spread(total: int, n: int, bounds: tuple[int, int], rng: random.Random) -> list[int]:
    """``n`` random integers within ``bounds`` that add up to ``total``."""
    low, high = bounds
    if not low * n <= total <= high * n:
        raise ValueError(f"cannot spread {total} over {n} within {bounds}")
    counts = [low] * n
    open_slots = list(range(n))
    for _i in range(total - low * n):
        i = rng.choice(open_slots)
        counts[i] += 1
        if counts[i] == high:
            open_slots.remove(i)
    return counts


def _split(bbox, n: int) -> list[tuple[float, float, float, float]]:
    """``n`` rectangles that partition ``bbox``: rows of near-square cells, south to north, west to east."""
    x0, y0, x1, y1 = bbox
    rows = max(1, min(n, round(math.sqrt(n * (y1 - y0) / (x1 - x0)))))
    base, extra = divmod(n, rows)
    ys = _cuts(y0, y1, rows)
    cells = []
    for r in range(rows):
        xs = _cuts(x0, x1, base + (1 if r < extra else 0))
        cells += [(xs[c], ys[r], xs[c + 1], ys[r + 1]) for c in range(len(xs) - 1)]
    return cells


def _cuts(a: float, b: float, k: int) -> list[float]:
    return [a] + [round(a + (b - a) * i / k, 7) for i in range(1, k)] + [b]


class _Namer:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def person(self) -> str:
        if self.rng.random() < 0.3:
            given = self.rng.choice(GIVEN_SINGLE)
        else:
            given = self.rng.choice(GIVEN_FIRST) + self.rng.choice(GIVEN_SECOND)
        return self.rng.choice(SURNAMES) + given

    def mobile(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def village(self, used: set[str]) -> str:
        def make():
            if self.rng.random() < 0.6:
                return self.rng.choice(FAMILIES) + "家" + self.rng.choice(LANDFORMS) + "村"
            return self.rng.choice(PLACE_WORDS) + self.rng.choice(LANDFORMS) + "村"
        return _unique(make, used)

    def hamlet(self, used: set[str]) -> str:
        def make():
            head = self.rng.choice(HAMLET_PREFIXES) if self.rng.random() < 0.4 else self.rng.choice(FAMILIES) + "家"
            return head + self.rng.choice(HAMLET_FORMS) + "片"
        return _unique(make, used)


def _plan(scale: Scale, rng: random.Random) -> list[Node]:
    namer = _Namer(rng)
    if scale.counties == 1:
        counties = [(*SHANGNAN, SHANGNAN_BBOX)]
    else:
        width, height = SHANGNAN_BBOX[2] - SHANGNAN_BBOX[0], SHANGNAN_BBOX[3] - SHANGNAN_BBOX[1]
        left = SHANGNAN_BBOX[0] - 3 * width
        counties = [
            (code, name, (round(left + c * width, 7), round(SHANGNAN_BBOX[1] + r * height, 7),
                          round(left + (c + 1) * width, 7), round(SHANGNAN_BBOX[1] + (r + 1) * height, 7)))
            for code, name, c, r in CITY_COUNTIES[: scale.counties]
        ]
    roots = []
    for code6, name, bbox in counties:
        county = Node(code6 + "000000", name, COUNTY, bbox=bbox)
        _plan_county(county, scale, rng, namer)
        roots.append(county)
    return roots


def _plan_county(county: Node, scale: Scale, rng: random.Random, namer: _Namer) -> None:
    code6 = county.code[:6]
    if code6 == SHANGNAN[0]:
        towns = SHANGNAN_TOWNS if scale.towns >= len(SHANGNAN_TOWNS) else SHANGNAN_TOWNS[1: 1 + scale.towns]
    else:
        used_stems: set[str] = set()
        stems = [_unique(lambda: rng.choice(TOWN_STEMS), used_stems) for _i in range(scale.towns - 1)]
        towns = [(1, "城关街道办")] + [(100 + i, stem + "镇") for i, stem in enumerate(stems)]
    village_counts = _spread(scale.villages, len(towns), scale.villages_per_town, rng)
    used_villages: set[str] = set()
    communities: list[tuple[Node, str, bool]] = []  # (community, its town's stem, in a 街道)
    for (part, town_name), n_villages in zip(towns, village_counts, strict=True):
        town = county.add(Node(f"{code6}{part:03d}000", town_name, TOWN))
        stem = town_name.removesuffix("街道办").removesuffix("镇")
        is_street = part < 100
        community_names = STREET_COMMUNITIES[: n_villages // 2] if is_street else [stem + "街社区"]
        for i, community_name in enumerate(community_names, start=1):
            node = town.add(Node(f"{town.code[:9]}{i:03d}", community_name, VILLAGE))
            communities.append((node, stem, is_street))
        for i in range(n_villages - len(community_names)):
            town.add(Node(f"{town.code[:9]}{201 + i:03d}", namer.village(used_villages), VILLAGE))
    villages = [v for town in county.children for v in town.children]
    group_counts = _spread(scale.groups, len(villages), scale.groups_per_village, rng)
    grid_counts = iter(_spread(scale.grids, scale.groups, scale.grids_per_group, rng))
    for village, n_groups in zip(villages, group_counts, strict=True):
        hamlets: set[str] = set()
        for g in range(1, n_groups + 1):
            group = village.add(Node(f"{village.code}{g:03d}", chinese_number(g) + "组", GROUP))
            for k in range(1, next(grid_counts) + 1):
                group.add(Node(f"{group.code}{k:03d}", namer.hamlet(hamlets), GRID, kind=AreaKind.GRID))
    used_units = {True: 0, False: 0}  # how many of COUNTY_UNITS and of TOWN_UNITS are placed
    for i in range(scale.dedicated):
        village, stem, is_street = communities[i % len(communities)]
        units = COUNTY_UNITS if is_street else TOWN_UNITS
        dedicated_type, pattern = units[used_units[is_street] % len(units)]
        used_units[is_street] += 1
        sequence = DEDICATED_PART + 1 + sum(1 for c in village.children if c.kind == AreaKind.DEDICATED_GRID)
        name = pattern.format(town=stem, county=county.name) + "网格"
        village.add(Node(f"{village.code}{sequence:03d}", name, GRID,
                         kind=AreaKind.DEDICATED_GRID, dedicated_type=dedicated_type))


def _place(node: Node) -> None:
    if not node.children:
        return
    for child, bbox in zip(node.children, _split(node.bbox, len(node.children)), strict=True):
        child.bbox = bbox
        _place(child)


def _rectangle(bbox) -> dict:
    x0, y0, x1, y1 = bbox
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


# --- loading -------------------------------------------------------------------------------------


class TreeNotEmpty(ApplicationError):
    def __init__(self) -> None:
        super().__init__(
            "demo_tree_not_empty",
            "The database already holds areas; the demo loads only into an empty tree (two demos never mix).",
        )


@dataclass
class DemoResult:
    counts: dict[str, int]
    accounts: list[tuple[str, str, str]]  # username, role, area or department


def load(*, scale: str = "county", seed: int = 2026) -> DemoResult:
    """Builds the demo at ``scale`` (tiny, county, city) into an empty tree, in one transaction."""
    with transaction.atomic():
        if Area.objects.exists():
            raise TreeNotEmpty()
        return _Loader(SCALES[scale], random.Random(seed)).run(scale, seed)


class _Loader:
    def __init__(self, scale: Scale, rng: random.Random):
        self.scale, self.rng, self.namer = scale, rng, _Namer(rng)
        self.users: dict[str, object] = {}  # generated logins (no usable password), by user name
        self.unusable_password = make_password(None)  # shared: a fresh one per user costs 1 s a county
        self.staff: list[Staff] = []
        self.posts: list[Post] = []
        self.grid_workers: dict[tuple[str, str], Staff] = {}  # (grid code, slot) → staff
        self.handlers: dict[tuple[str, str], Staff] = {}  # (county code, department) → staff

    def run(self, scale_name: str, seed: int) -> DemoResult:
        User = get_user_model()
        names = [username for username, _role, _where in ACCOUNTS]
        taken = list(User.objects.filter(username__in=names).values_list("username", flat=True))
        if taken:
            message = f"The demo's user names already exist: {', '.join(taken)}."
            raise ApplicationError("demo_account_taken", message)
        levels = services.levels_configure(actor=None, levels=LEVELS)
        roots = _plan(self.scale, self.rng)
        for root in roots:
            _place(root)
        areas = self._create_areas(roots, levels)
        departments = self._create_departments(roots)
        for root in roots:
            self._create_staff(root, departments)
        accounts = self._create_accounts(next(r for r in roots if r.code.startswith(SHANGNAN[0])))
        User.objects.bulk_create(self.users.values(), batch_size=BATCH_SIZE)
        Staff.objects.bulk_create(self.staff, batch_size=BATCH_SIZE)
        Post.objects.bulk_create(self.posts, batch_size=BATCH_SIZE)
        by_level = [sum(1 for a in areas if a.level_id == level.pk) for level in levels]
        counts = {
            "areas": len(areas), "counties": by_level[COUNTY], "towns": by_level[TOWN],
            "villages": by_level[VILLAGE], "groups": by_level[GROUP],
            "grids": sum(1 for a in areas if a.kind == AreaKind.GRID),
            "dedicated_grids": sum(1 for a in areas if a.kind == AreaKind.DEDICATED_GRID),
            "departments": len(departments), "staff": len(self.staff), "posts": len(self.posts),
            "users": len(self.users) + len(ACCOUNTS),
        }
        data = {"scale": scale_name, "seed": seed, **counts}
        audit.record(actor="gridgov demo", action="demo.load", data=data)
        return DemoResult(counts=counts, accounts=accounts)

    def _create_areas(self, roots: list[Node], levels) -> list[Area]:
        created: list[Area] = []
        layer: list[tuple[Node | None, list[Node]]] = [(None, roots)]
        while layer:
            rows = []
            for parent, children in layer:
                for i, node in enumerate(children):
                    boundary = parse_boundary(_rectangle(node.bbox))
                    node.area = Area(
                        code=node.code, name=node.name, level=levels[node.level], kind=node.kind,
                        dedicated_type=node.dedicated_type, parent=parent.area if parent else None,
                        path=(parent.area.path if parent else "") + encode_step(i),
                        geometry=boundary.geojson, min_lng=boundary.min_lng, min_lat=boundary.min_lat,
                        max_lng=boundary.max_lng, max_lat=boundary.max_lat,
                    )
                    rows.append(node.area)
            Area.objects.bulk_create(rows, batch_size=BATCH_SIZE)
            created += rows
            layer = [(node, node.children) for _p, children in layer for node in children if node.children]
        return created

    def _create_departments(self, roots: list[Node]) -> dict[tuple[str, str], Department]:
        departments = {
            (root.code, name): Department(area=root.area, name=name, phone=self._duty_phone())
            for root in roots
            for name in DEPARTMENTS
        }
        Department.objects.bulk_create(departments.values(), batch_size=BATCH_SIZE)
        return departments

    def _duty_phone(self) -> str:
        return f"0914-63{self.rng.randrange(10**5):05d}"  # 0914: 商洛

    def _person(self, username: str, **fields) -> Staff:
        name = self.namer.person()
        user = get_user_model()(username=username, first_name=name, password=self.unusable_password)
        self.users[username] = user
        staff = Staff(user=user, name=name, phone=self.namer.mobile(), **fields)
        self.staff.append(staff)
        return staff

    def _create_staff(self, county: Node, departments) -> None:
        """An A and a B grid worker on every grid, and a handler in every department of the county."""
        for node in _walk(county):
            if node.kind not in GRID_KINDS:
                continue
            for slot in Slot.values:
                full_time = self.rng.random() < FULL_TIME_SHARE
                staff = self._person(
                    f"gw{node.code}{slot.lower()}",
                    employment=Employment.FULL_TIME if full_time else Employment.PART_TIME,
                    yearly_stipend=FULL_TIME_STIPEND if full_time else PART_TIME_STIPEND,
                )
                self.grid_workers[node.code, slot] = staff
                self.posts.append(Post(staff=staff, area=node.area, role=Role.GRID_WORKER, slot=slot,
                                       start_date=POSTS_SINCE + dt.timedelta(days=self.rng.randrange(1000))))
        for i, name in enumerate(DEPARTMENTS, start=1):
            staff = self._person(f"dh{county.code[:6]}{i:02d}", employment=Employment.FULL_TIME,
                                 department=departments[county.code, name])
            self.handlers[county.code, name] = staff

    def _create_accounts(self, county: Node) -> list[tuple[str, str, str]]:
        """One login per role, with a real password, in Shangnan (富水镇 and its neighbour 湘河镇)."""
        towns = {town.name: town for town in county.children}
        community = next(v for v in towns["富水镇"].children if v.name == "富水街社区")
        grid = next(n for n in _walk(community) if n.kind == AreaKind.GRID)
        places = {
            "county": county, "fushui": towns["富水镇"], "xianghe": towns["湘河镇"],
            "community": community, "grid": grid,
        }
        User = get_user_model()
        accounts = []
        for username, role, where in ACCOUNTS:
            if role == Role.GRID_WORKER:
                staff, label = self.grid_workers[grid.code, Slot.A], f"{Role(role).label} A"
            elif where in DEPARTMENTS:
                staff, label = self.handlers[county.code, where], "department handler"
            else:
                name, phone = self.namer.person(), self.namer.mobile()
                staff = Staff(name=name, phone=phone, employment=Employment.FULL_TIME)
                self.staff.append(staff)
                label = str(Role(role).label) if role else "superuser"
                if role:
                    area = places[where].area
                    self.posts.append(Post(staff=staff, area=area, role=role, start_date=POSTS_SINCE))
            if staff.user is not None:
                del self.users[staff.user.username]
            make = User.objects.create_user if role or where in DEPARTMENTS else User.objects.create_superuser
            staff.user = make(username=username, password=DEMO_PASSWORD, first_name=staff.name)
            area_name = where if where in DEPARTMENTS else places[where].area.name
            accounts.append((username, str(label), area_name))
        return accounts


def _walk(node: Node):
    yield node
    for child in node.children:
        yield from _walk(child)


POSTS_SINCE = dt.date(2023, 1, 1)
# The demo logins: user name, role on the area, and the area (a key of the places above) or department.
ACCOUNTS = [
    ("admin", "", "county"),
    ("county_operator", Role.CENTRE_OPERATOR, "county"),
    ("leader", Role.LEADER, "county"),
    ("town_admin", Role.AREA_ADMIN, "fushui"),
    ("town_admin2", Role.AREA_ADMIN, "xianghe"),
    ("town_operator", Role.CENTRE_OPERATOR, "fushui"),
    ("village_staff", Role.VILLAGE_STAFF, "community"),
    ("grid_worker", Role.GRID_WORKER, "grid"),
    ("dept_handler", "", "水务局"),
]
