"""Rules for area codes and for what may stand under what. Pure functions: they return problems."""

from __future__ import annotations

from django.utils.translation import gettext as _

from gridgov.areas.models import GRID_KINDS, PATH_STEP, RANK_DIGITS, AreaKind, AreaLevel, Rank

CODE_MAX_LENGTH = 32  # Area.code max_length
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_RANK_ORDER = [Rank.PROVINCE, Rank.CITY, Rank.COUNTY, Rank.TOWN, Rank.VILLAGE, Rank.BELOW_VILLAGE]


def encode_step(n: int) -> str:
    """Sibling number ``n`` as a fixed-width base-36 path step; byte order equals numeric order."""
    if n < 0 or n >= 36**PATH_STEP:
        raise ValueError("path step out of range")
    out = ""
    for _i in range(PATH_STEP):
        n, r = divmod(n, 36)
        out = _ALPHABET[r] + out
    return out


def decode_step(step: str) -> int:
    return int(step, 36)


def significant_prefix(code: str, level: AreaLevel) -> str:
    """The part of the code that the area's descendants must start with."""
    if level.is_division:
        return code[: RANK_DIGITS[level.rank]]
    return code


def town_type(code: str) -> str:
    """街道 / 镇 / 乡 from the town part of a 12-digit code (001–099, 100–199, 200–399)."""
    part = int(code[6:9])
    if 1 <= part <= 99:
        return _("sub-district (街道)")
    if 100 <= part <= 199:
        return _("town (镇)")
    if 200 <= part <= 399:
        return _("township (乡)")
    return _("other")


def code_problems(code: str, level: AreaLevel, parent_code: str | None, parent_level: AreaLevel | None) -> list[str]:
    """What is wrong with ``code`` for an area of ``level`` under a parent (empty list: fine)."""
    if not code or not code.isascii() or not code.isdigit():
        return [_("The code must consist of digits only.")]
    if len(code) > CODE_MAX_LENGTH:
        return [_("A code has at most %(n)d digits.") % {"n": CODE_MAX_LENGTH}]
    if level.is_division:
        digits = RANK_DIGITS[level.rank]
        if len(code) != 12:
            return [_("A division code has 12 digits (2 province, 2 city, 2 county, 3 town, 3 village).")]
        if code[digits:].strip("0"):
            return [_("Digits after position %(n)d must be zero for this level.") % {"n": digits}]
        index = _RANK_ORDER.index(level.rank)
        own_start = RANK_DIGITS[_RANK_ORDER[index - 1]] if index > 0 else 0
        if not code[own_start:digits].strip("0"):
            return [_("This level's part of the code (digits %(a)d–%(b)d) must not be all zeros.")
                    % {"a": own_start + 1, "b": digits}]
    else:
        if parent_code is None or parent_level is None:
            return [_("An area below the village level needs a parent.")]
        width = level.sequence_width
        if len(code) != len(parent_code) + width:
            return [_("The code must be the parent's code followed by %(w)d digits.") % {"w": width}]
        if not code[len(parent_code):].strip("0"):
            return [_("The sequence number must not be all zeros.")]
    if parent_code is not None and parent_level is not None:
        prefix = significant_prefix(parent_code, parent_level)
        if not code.startswith(prefix) or code == parent_code:
            return [_("The code must extend the parent's code %(p)s.") % {"p": prefix}]
    return []


def placement_problems(
    *, kind: str, level: AreaLevel, parent_kind: str | None, parent_level: AreaLevel | None
) -> list[str]:
    """What is wrong with putting an area of ``kind`` and ``level`` under that parent."""
    problems: list[str] = []
    if parent_level is None:
        if kind != AreaKind.DIVISION or not level.is_division:
            problems.append(_("Only a division can be the root of the tree."))
        return problems
    if level.depth <= parent_level.depth:
        problems.append(_("The level must be below the parent's level (%(p)s).") % {"p": parent_level.name})
    if kind in GRID_KINDS:
        if parent_kind != AreaKind.DIVISION or parent_level.rank not in (Rank.VILLAGE, Rank.BELOW_VILLAGE):
            problems.append(_("A grid belongs to a village or community (or one of its groups), "
                              "never directly to a town or county."))
        if level.rank != Rank.BELOW_VILLAGE:
            problems.append(_("A grid's level must lie below the village level."))
    elif kind == AreaKind.JOINT_DEFENSE_GROUP:
        if parent_kind not in GRID_KINDS:
            problems.append(_("A joint-defense group belongs to a grid."))
        if level.rank != Rank.BELOW_VILLAGE:
            problems.append(_("A joint-defense group's level must lie below the village level."))
    else:
        if parent_kind != AreaKind.DIVISION:
            problems.append(_("A division cannot stand under a grid."))
        if level.is_division and parent_level.is_division and (
            _RANK_ORDER.index(level.rank) <= _RANK_ORDER.index(parent_level.rank)
        ):
            problems.append(_("A division must rank below its parent."))
        if level.is_division and not parent_level.is_division:
            problems.append(_("A statistical division cannot stand below the village level."))
    return problems
