"""Area codes and placement rules (gridgov.areas.codes): pure functions, no database."""

from __future__ import annotations

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from gridgov.areas.codes import (
    code_problems,
    decode_step,
    encode_step,
    placement_problems,
    significant_prefix,
    town_type,
)
from gridgov.areas.models import PATH_STEP, AreaKind, AreaLevel, Rank

MAX_STEP = 36**PATH_STEP - 1


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


# Unsaved levels shaped like the conftest deployment: 县 → 镇办 → 村/社区 → 组 → 片 (+ 联防组).
PROVINCE = AreaLevel(depth=0, name="省", rank=Rank.PROVINCE)
COUNTY = AreaLevel(depth=2, name="县", rank=Rank.COUNTY)
TOWN = AreaLevel(depth=3, name="镇办", rank=Rank.TOWN)
VILLAGE = AreaLevel(depth=4, name="村/社区", rank=Rank.VILLAGE)
GROUP = AreaLevel(depth=5, name="组", rank=Rank.BELOW_VILLAGE, code_width=3)
GRID = AreaLevel(depth=6, name="片", rank=Rank.BELOW_VILLAGE, code_width=3)
JOINT = AreaLevel(depth=7, name="联防组", rank=Rank.BELOW_VILLAGE, code_width=2)
DEFAULT_WIDTH = AreaLevel(depth=8, name="户", rank=Rank.BELOW_VILLAGE, code_width=None)

COUNTY_CODE = "611023000000"
TOWN_CODE = "611023100000"
VILLAGE_CODE = "611023100201"
GROUP_CODE = "611023100201001"
GRID_CODE = "611023100201001001"

DIGITS_ONLY = "The code must consist of digits only."
TWELVE = "A division code has 12 digits (2 province, 2 city, 2 county, 3 town, 3 village)."


# --- division codes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "level", "parent_code", "parent_level"),
    [
        (COUNTY_CODE, COUNTY, None, None),
        (TOWN_CODE, TOWN, COUNTY_CODE, COUNTY),
        ("611023001000", TOWN, COUNTY_CODE, COUNTY),  # a sub-district (街道) 001
        (VILLAGE_CODE, VILLAGE, TOWN_CODE, TOWN),
        ("611023100999", VILLAGE, TOWN_CODE, TOWN),
        ("610000000000", PROVINCE, None, None),
    ],
)
def test_valid_division_codes(code, level, parent_code, parent_level):
    assert code_problems(code, level, parent_code, parent_level) == []


@pytest.mark.parametrize("code", ["61102300000", "6110230000000", "6", "611023100201001"])
def test_division_code_of_wrong_length(code):
    assert code_problems(code, TOWN, COUNTY_CODE, COUNTY) == [TWELVE]


@pytest.mark.parametrize(
    "code",
    ["", "61102310000A", "611023 00000", "-61102310000", "6110231000.0", "６１１０２３１０００００",  # full-width
     "611023100\u0660\u0660\u0660", "六一一〇二三一〇〇〇〇〇", "611023100000\n"],
)
def test_division_code_with_non_digits(code):
    assert code_problems(code, TOWN, COUNTY_CODE, COUNTY) == [DIGITS_ONLY]


@pytest.mark.parametrize(
    ("code", "level", "n"),
    [
        ("611023100000", COUNTY, 6),
        ("611023100201", TOWN, 9),
        ("611023000001", TOWN, 9),
        ("610000000001", PROVINCE, 2),
    ],
)
def test_division_code_with_digits_after_its_rank(code, level, n):
    assert code_problems(code, level, None, None) == [f"Digits after position {n} must be zero for this level."]


@pytest.mark.parametrize(
    ("code", "level", "parent_code", "parent_level", "a", "b"),
    [
        ("611023000000", TOWN, COUNTY_CODE, COUNTY, 7, 9),
        ("611023100000", VILLAGE, TOWN_CODE, TOWN, 10, 12),
        ("610000000000", COUNTY, None, None, 5, 6),
        ("000000000000", PROVINCE, None, None, 1, 2),
    ],
)
def test_division_code_with_all_zero_own_segment(code, level, parent_code, parent_level, a, b):
    assert code_problems(code, level, parent_code, parent_level) == [
        f"This level's part of the code (digits {a}–{b}) must not be all zeros."
    ]


@pytest.mark.parametrize(
    ("code", "level", "parent_code", "parent_level", "prefix"),
    [
        ("611024100000", TOWN, COUNTY_CODE, COUNTY, "611023"),  # another county's town
        ("611023101201", VILLAGE, TOWN_CODE, TOWN, "611023100"),  # the next town's village
        ("621023000000", COUNTY, "610000000000", PROVINCE, "61"),
    ],
)
def test_division_code_that_does_not_extend_the_parent(code, level, parent_code, parent_level, prefix):
    assert code_problems(code, level, parent_code, parent_level) == [
        f"The code must extend the parent's code {prefix}."
    ]


# --- codes below the village level ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "level", "parent_code", "parent_level"),
    [
        (GROUP_CODE, GROUP, VILLAGE_CODE, VILLAGE),
        ("611023100201999", GROUP, VILLAGE_CODE, VILLAGE),
        (GRID_CODE, GRID, GROUP_CODE, GROUP),
        ("611023100202001", GRID, "611023100202", VILLAGE),  # a grid directly under a community
        ("61102310020100100101", JOINT, GRID_CODE, GRID),  # the joint-defense level adds 2 digits
        ("611023100201001001007", DEFAULT_WIDTH, GRID_CODE, GRID),  # settings.AREA_SEQUENCE_WIDTH = 3
    ],
)
def test_valid_sub_village_codes(code, level, parent_code, parent_level):
    assert code_problems(code, level, parent_code, parent_level) == []


@pytest.mark.parametrize(
    ("code", "level", "parent_code", "parent_level", "width"),
    [
        ("6110231002011", GROUP, VILLAGE_CODE, VILLAGE, 3),  # one digit
        ("6110231002010001", GROUP, VILLAGE_CODE, VILLAGE, 3),  # four digits
        (VILLAGE_CODE, GROUP, VILLAGE_CODE, VILLAGE, 3),  # the parent's own code
        ("611023100201001001001", JOINT, GRID_CODE, GRID, 2),  # three digits where the level adds two
        ("6110231002010010011", JOINT, GRID_CODE, GRID, 2),
    ],
)
def test_sub_village_code_must_add_the_level_width(code, level, parent_code, parent_level, width):
    assert code_problems(code, level, parent_code, parent_level) == [
        f"The code must be the parent's code followed by {width} digits."
    ]


def test_level_without_width_uses_the_setting(settings):
    settings.AREA_SEQUENCE_WIDTH = 4
    assert code_problems(GRID_CODE + "0007", DEFAULT_WIDTH, GRID_CODE, GRID) == []
    assert code_problems(GRID_CODE + "007", DEFAULT_WIDTH, GRID_CODE, GRID) == [
        "The code must be the parent's code followed by 4 digits."
    ]


def test_sub_village_sequence_of_zeros_is_refused():
    assert code_problems("611023100201000", GROUP, VILLAGE_CODE, VILLAGE) == [
        "The sequence number must not be all zeros."
    ]


def test_sub_village_code_that_does_not_extend_the_parent():
    # Right length, but the village part is another village's.
    assert code_problems("611023100202001", GROUP, VILLAGE_CODE, VILLAGE) == [
        f"The code must extend the parent's code {VILLAGE_CODE}."
    ]
    assert code_problems("611023100201002001", GRID, GROUP_CODE, GROUP) == [
        f"The code must extend the parent's code {GROUP_CODE}."
    ]


def test_sub_village_code_needs_a_parent():
    assert code_problems(GROUP_CODE, GROUP, None, None) == ["An area below the village level needs a parent."]


def test_sub_village_code_with_non_digits():
    assert code_problems("611023100201a01", GROUP, VILLAGE_CODE, VILLAGE) == [DIGITS_ONLY]


def test_significant_prefix_per_rank():
    assert significant_prefix(COUNTY_CODE, COUNTY) == "611023"
    assert significant_prefix(TOWN_CODE, TOWN) == "611023100"
    assert significant_prefix(VILLAGE_CODE, VILLAGE) == VILLAGE_CODE
    assert significant_prefix(GROUP_CODE, GROUP) == GROUP_CODE
    assert significant_prefix("610000000000", PROVINCE) == "61"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("611023001000", "sub-district (街道)"),
        ("611023099000", "sub-district (街道)"),
        ("611023100000", "town (镇)"),
        ("611023199000", "town (镇)"),
        ("611023200000", "township (乡)"),
        ("611023399000", "township (乡)"),
        ("611023400000", "other"),
    ],
)
def test_town_type(code, expected):
    assert town_type(code) == expected


# --- placement -----------------------------------------------------------------------------------

GRID_UNDER_DIVISION = (
    "A grid belongs to a village or community (or one of its groups), never directly to a town or county."
)


@pytest.mark.parametrize(
    ("kind", "level", "parent_kind", "parent_level"),
    [
        (AreaKind.DIVISION, COUNTY, None, None),
        (AreaKind.DIVISION, TOWN, AreaKind.DIVISION, COUNTY),
        (AreaKind.DIVISION, VILLAGE, AreaKind.DIVISION, TOWN),
        (AreaKind.DIVISION, VILLAGE, AreaKind.DIVISION, COUNTY),  # a ragged tree may skip a level
        (AreaKind.DIVISION, GROUP, AreaKind.DIVISION, VILLAGE),
        (AreaKind.GRID, GRID, AreaKind.DIVISION, GROUP),
        (AreaKind.GRID, GRID, AreaKind.DIVISION, VILLAGE),
        (AreaKind.DEDICATED_GRID, GRID, AreaKind.DIVISION, VILLAGE),
        (AreaKind.JOINT_DEFENSE_GROUP, JOINT, AreaKind.GRID, GRID),
        (AreaKind.JOINT_DEFENSE_GROUP, JOINT, AreaKind.DEDICATED_GRID, GRID),
    ],
)
def test_allowed_placements(kind, level, parent_kind, parent_level):
    assert placement_problems(kind=kind, level=level, parent_kind=parent_kind, parent_level=parent_level) == []


@pytest.mark.parametrize("kind", [AreaKind.GRID, AreaKind.DEDICATED_GRID])
@pytest.mark.parametrize("parent_level", [TOWN, COUNTY])
def test_grid_directly_under_a_town_or_county_is_refused(kind, parent_level):
    assert placement_problems(kind=kind, level=GRID, parent_kind=AreaKind.DIVISION, parent_level=parent_level) == [
        GRID_UNDER_DIVISION
    ]


def test_grid_under_a_grid_is_refused():
    assert placement_problems(kind=AreaKind.GRID, level=JOINT, parent_kind=AreaKind.GRID, parent_level=GRID) == [
        GRID_UNDER_DIVISION
    ]


def test_grid_at_a_division_level_is_refused():
    assert placement_problems(kind=AreaKind.GRID, level=VILLAGE, parent_kind=AreaKind.DIVISION,
                              parent_level=TOWN) == [
        GRID_UNDER_DIVISION,
        "A grid's level must lie below the village level.",
    ]


@pytest.mark.parametrize(("parent_kind", "parent_level"), [(AreaKind.DIVISION, VILLAGE), (AreaKind.DIVISION, GROUP),
                                                            (AreaKind.JOINT_DEFENSE_GROUP, JOINT)])
def test_joint_defense_group_only_under_a_grid(parent_kind, parent_level):
    level = AreaLevel(depth=9, name="联防", rank=Rank.BELOW_VILLAGE, code_width=2)
    assert placement_problems(kind=AreaKind.JOINT_DEFENSE_GROUP, level=level, parent_kind=parent_kind,
                              parent_level=parent_level) == ["A joint-defense group belongs to a grid."]


def test_joint_defense_group_at_a_division_level_is_refused():
    assert placement_problems(kind=AreaKind.JOINT_DEFENSE_GROUP, level=VILLAGE, parent_kind=AreaKind.GRID,
                              parent_level=PROVINCE) == [
        "A joint-defense group's level must lie below the village level."
    ]


@pytest.mark.parametrize("parent_kind", [AreaKind.GRID, AreaKind.DEDICATED_GRID, AreaKind.JOINT_DEFENSE_GROUP])
def test_division_under_a_grid_is_refused(parent_kind):
    assert placement_problems(kind=AreaKind.DIVISION, level=JOINT, parent_kind=parent_kind, parent_level=GRID) == [
        "A division cannot stand under a grid."
    ]


def test_division_must_rank_below_its_parent():
    assert placement_problems(kind=AreaKind.DIVISION, level=TOWN, parent_kind=AreaKind.DIVISION,
                              parent_level=TOWN) == [
        "The level must be below the parent's level (镇办).",
        "A division must rank below its parent.",
    ]


def test_statistical_division_below_the_village_level_is_refused():
    deep_town = AreaLevel(depth=9, name="镇2", rank=Rank.TOWN)
    assert placement_problems(kind=AreaKind.DIVISION, level=deep_town, parent_kind=AreaKind.DIVISION,
                              parent_level=GROUP) == ["A statistical division cannot stand below the village level."]


def test_level_must_be_below_the_parent_level():
    assert placement_problems(kind=AreaKind.GRID, level=GROUP, parent_kind=AreaKind.DIVISION,
                              parent_level=GRID) == ["The level must be below the parent's level (片)."]


@pytest.mark.parametrize(("kind", "level"), [(AreaKind.GRID, GRID), (AreaKind.DIVISION, GROUP),
                                             (AreaKind.JOINT_DEFENSE_GROUP, JOINT)])
def test_only_a_division_is_a_root(kind, level):
    assert placement_problems(kind=kind, level=level, parent_kind=None, parent_level=None) == [
        "Only a division can be the root of the tree."
    ]


# --- path steps ----------------------------------------------------------------------------------


def test_encode_step_known_values():
    assert encode_step(0) == "0000"
    assert encode_step(1) == "0001"
    assert encode_step(35) == "000Z"
    assert encode_step(36) == "0010"
    assert encode_step(MAX_STEP) == "ZZZZ"


@pytest.mark.parametrize("n", [-1, MAX_STEP + 1, 10**9])
def test_encode_step_out_of_range(n):
    with pytest.raises(ValueError, match="path step out of range"):
        encode_step(n)


@given(st.integers(min_value=0, max_value=MAX_STEP))
def test_encode_decode_round_trip(n):
    step = encode_step(n)
    assert len(step) == PATH_STEP
    assert decode_step(step) == n


@given(st.integers(min_value=0, max_value=MAX_STEP), st.integers(min_value=0, max_value=MAX_STEP))
def test_encode_step_byte_order_is_numeric_order(a, b):
    if a == b:
        assert encode_step(a) == encode_step(b)
        return
    a, b = min(a, b), max(a, b)
    assert encode_step(a) < encode_step(b)
    assert encode_step(a).encode() < encode_step(b).encode()
