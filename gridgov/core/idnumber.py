"""Citizen ID numbers (居民身份证号码, GB 11643-1999) and unified social credit codes (GB 32100-2015)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
# Province-level codes in use (GB/T 2260); others are warned about, never refused.
PROVINCES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43",
    "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83",
}


class InvalidIdNumber(ValueError):
    pass


@dataclass(frozen=True)
class IdNumber:
    number: str  # 18 characters, upper-case X
    birth_date: dt.date
    sex: str  # "M" or "F"
    upgraded: bool = False  # given as an old 15-digit number
    warnings: tuple[str, ...] = field(default=())

    @property
    def masked(self) -> str:
        return mask_id(self.number)


def normalise(raw: str) -> str:
    """Full-width digits and letters to ASCII, spaces removed, a lower-case x upper-cased."""
    text = unicodedata.normalize("NFKC", str(raw or ""))
    return "".join(text.split()).upper()


def check_char(first17: str) -> str:
    return CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def parse_id_number(raw: str, *, today: dt.date | None = None) -> IdNumber:
    """Validates a citizen ID number; raises InvalidIdNumber with the reason."""
    number = normalise(raw)
    upgraded = False
    if len(number) == 15 and number.isascii() and number.isdigit():
        number = number[:6] + "19" + number[6:]
        number += check_char(number)
        upgraded = True
    if not number.isascii():
        raise InvalidIdNumber("An ID number is written with the digits 0–9 and X.")
    if len(number) != 18:
        raise InvalidIdNumber("An ID number has 18 characters (or 15 digits for an old one).")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidIdNumber("An ID number is 17 digits followed by a digit or X.")
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise InvalidIdNumber(f"The birth date {number[6:14]} in the ID number does not exist.") from exc
    today = today or dt.date.today()
    if birth > today or birth.year < 1880:
        raise InvalidIdNumber(f"The birth date {birth:%Y-%m-%d} in the ID number is impossible.")
    if check_char(number[:17]) != number[17]:
        raise InvalidIdNumber("The check digit of the ID number is wrong.")
    warnings = () if number[:2] in PROVINCES else (f"Unknown address code {number[:6]}.",)
    sex = "M" if int(number[16]) % 2 else "F"
    return IdNumber(number=number, birth_date=birth, sex=sex, upgraded=upgraded, warnings=warnings)


def mask_id(number: str) -> str:
    """6101**********1234: the first four and last four characters."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(phone: str) -> str:
    """138****5678."""
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    if len(digits) < 11:  # a landline: only its last four digits
        return "*" * (len(digits) - 4) + digits[-4:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def valid_uscc(raw: str) -> bool:
    """Unified social credit code (统一社会信用代码): 18 characters with a base-31 check character."""
    code = normalise(raw)
    if len(code) != 18 or any(c not in USCC_CHARS for c in code):
        return False
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(code[:17], USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31] == code[17]
