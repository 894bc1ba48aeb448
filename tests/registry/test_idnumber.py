"""Citizen ID numbers (GB 11643-1999), masking, and unified social credit codes (GB 32100-2015)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgov.core.idnumber import (
    CHECK_CHARS,
    IdNumber,
    InvalidIdNumber,
    check_char,
    mask_id,
    mask_phone,
    normalise,
    parse_id_number,
    valid_uscc,
)

TODAY = dt.date(2026, 3, 1)


def with_check(first17: str) -> str:
    return first17 + check_char(first17)


# --- valid numbers -------------------------------------------------------------------------------


def test_known_valid_numbers():
    a = parse_id_number("11010519491231002X", today=TODAY)
    assert a == IdNumber(number="11010519491231002X", birth_date=dt.date(1949, 12, 31), sex="F", upgraded=False,
                         warnings=())
    b = parse_id_number("34052419800101001X", today=TODAY)
    assert (b.number, b.birth_date, b.sex, b.upgraded, b.warnings) == (
        "34052419800101001X", dt.date(1980, 1, 1), "M", False, ())


def test_check_char_of_known_numbers():
    assert check_char("11010519491231002") == "X"
    assert check_char("34052419800101001") == "X"
    assert check_char("36042619910101007") == "1"


def test_bad_check_digit_is_refused():
    with pytest.raises(InvalidIdNumber, match="check digit"):
        parse_id_number("360426199101010072", today=TODAY)
    assert parse_id_number("360426199101010071", today=TODAY).number == "360426199101010071"


def test_fifteen_digit_number_is_upgraded():
    parsed = parse_id_number("110105491231002", today=TODAY)
    assert parsed.number == "11010519491231002X"
    assert parsed.upgraded is True
    assert (parsed.birth_date, parsed.sex) == (dt.date(1949, 12, 31), "F")


@pytest.mark.parametrize("raw", [
    "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits and letter
    "１１０１０５１９４９１２３１００２ｘ",  # full-width lower-case x
    "11010519491231002x",
    " 110105 19491231 002X\n",
    "110105 1949 1231 002x",
    "\u3000110105194912310 02X\u3000",  # ideographic spaces
    "１１０１０５４９１２３１００２",  # a full-width 15-digit number
])
def test_full_width_digits_spaces_and_lower_case_x_are_normalised(raw):
    assert parse_id_number(raw, today=TODAY).number == "11010519491231002X"


def test_normalise():
    assert normalise("３４０５２４ １９８００１０１００１x") == "34052419800101001X"
    assert normalise(None) == ""
    assert normalise("") == ""


# --- refused numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize("first17", [
    "11010519490230002",  # 30 February
    "11010519491301002",  # month 13
    "11010519490001002",  # month 0
    "11010519491200002",  # day 0
    "11010519490431002",  # 31 April
    "11010519000229002",  # 1900 was no leap year
    "11010520230229002",  # nor was 2023
])
def test_impossible_birth_dates_are_refused(first17):
    with pytest.raises(InvalidIdNumber, match="does not exist"):
        parse_id_number(with_check(first17), today=TODAY)


def test_leap_day_of_a_leap_year_is_fine():
    assert parse_id_number(with_check("11010520000229002"), today=TODAY).birth_date == dt.date(2000, 2, 29)


def test_future_birth_date_is_refused():
    tomorrow = with_check("11010520260302002")
    with pytest.raises(InvalidIdNumber, match="impossible"):
        parse_id_number(tomorrow, today=TODAY)
    assert parse_id_number(tomorrow, today=dt.date(2026, 3, 2)).birth_date == dt.date(2026, 3, 2)  # born today


def test_birth_before_1880_is_refused():
    with pytest.raises(InvalidIdNumber, match="impossible"):
        parse_id_number(with_check("11010518791231002"), today=TODAY)
    assert parse_id_number(with_check("11010518800101002"), today=TODAY).birth_date == dt.date(1880, 1, 1)


@pytest.mark.parametrize("raw", [
    "", "1101051949123100", "11010519491231002XX", "1101051949123100211", "11010549123100",  # lengths
    "1101051949123100A1", "X10105194912310021", "11010519491231002Y", "1101051949123100X2",
    "11010549123100X", "11010549123100-", "1101051949-12-31002X", "11010519491231002\u00d7",
])
def test_malformed_numbers_are_refused(raw):
    with pytest.raises(InvalidIdNumber):
        parse_id_number(raw, today=TODAY)


@pytest.mark.parametrize("raw", ["١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "११०१०५१९४९१२३१००२X"])  # Arabic-Indic, Devanagari
def test_other_scripts_digits_are_converted_or_refused(raw):
    try:
        parsed = parse_id_number(raw, today=TODAY)
    except InvalidIdNumber:
        return
    assert parsed.number == "11010519491231002X"


def test_invalid_id_number_is_a_value_error():
    assert issubclass(InvalidIdNumber, ValueError)


# --- derived facts -------------------------------------------------------------------------------


@pytest.mark.parametrize(("digit", "sex"), [(str(d), "M" if d % 2 else "F") for d in range(10)])
def test_sex_from_the_17th_digit(digit, sex):
    assert parse_id_number(with_check("1101051980010100" + digit), today=TODAY).sex == sex


def test_unknown_address_code_is_a_warning_not_an_error():
    parsed = parse_id_number(with_check("99010519800101001"), today=TODAY)
    assert parsed.number == with_check("99010519800101001")
    assert parsed.warnings == ("Unknown address code 990105.",)
    assert parse_id_number(with_check("00000019800101001"), today=TODAY).warnings == ("Unknown address code 000000.",)
    # Hong Kong, Macao and Taiwan residents' codes (81, 82, 83) are known.
    assert parse_id_number(with_check("81000019800101001"), today=TODAY).warnings == ()


# --- masking ---------------------------------------------------------------------------------------


def test_mask_id():
    assert mask_id("610102198001010013") == "6101**********0013"
    assert mask_id("11010519491231002X") == "1101**********002X"
    assert parse_id_number("11010519491231002X", today=TODAY).masked == "1101**********002X"
    assert mask_id("E12345678") == "E123*5678"  # a passport number: still only 4 + 4 shown
    assert mask_id("12345678") == "********"
    assert mask_id("") == ""


def test_mask_phone():
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone(" 13800138000 ") == "138****8000"
    assert mask_phone("02987654321") == "029****4321"
    assert mask_phone("+8613800138000") == "+86*******8000"
    assert mask_phone("87654321") == "****4321"  # a landline: only the last four digits
    assert mask_phone("123456") == "******"
    assert mask_phone("") == ""


def test_mask_phone_never_shows_a_whole_number():
    for number in ("12345", "123456", "8765432", "87654321", "13800138000"):
        assert "*" in mask_phone(number), number


# --- unified social credit codes -------------------------------------------------------------------


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000802100433B", "91350100m000100y43",
                                  " 91110000802100433B ", "９１１１００００８０２１００４３３Ｂ"])
def test_valid_uscc(code):
    assert valid_uscc(code) is True


@pytest.mark.parametrize("code", [
    "91350100M000100Y44",  # check character altered
    "91350100M000100Y4",  # too short
    "91350100M000100Y433",  # too long
    "91350100M000101Y43",  # a body character altered
    "91110000802100433C",
    "91110000802100434B",
    "9135010OM000100Y43",  # O is not in the alphabet
    "91350100I000100Y43",  # nor is I
    "",
    "91350100-000100Y43",
])
def test_invalid_uscc(code):
    assert valid_uscc(code) is False


# --- property: the check character is the only one that fits ----------------------------------------

regions = st.text(alphabet="0123456789", min_size=6, max_size=6)
births = st.dates(min_value=dt.date(1880, 1, 1), max_value=TODAY)
orders = st.text(alphabet="0123456789", min_size=3, max_size=3)


@settings(max_examples=300, deadline=None)
@given(region=regions, birth=births, order=orders, other=st.sampled_from(CHECK_CHARS))
def test_only_the_check_char_is_accepted(region, birth, order, other):
    first17 = f"{region}{birth:%Y%m%d}{order}"
    good = first17 + check_char(first17)
    parsed = parse_id_number(good, today=TODAY)
    assert parsed.number == good
    assert parsed.birth_date == birth
    assert parsed.sex == ("M" if int(order[-1]) % 2 else "F")
    assert parse_id_number(good.lower(), today=TODAY).number == good
    if other != good[-1]:
        with pytest.raises(InvalidIdNumber, match="check digit"):
            parse_id_number(first17 + other, today=TODAY)


@settings(max_examples=100, deadline=None)
@given(region=regions, birth=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(1999, 12, 31)), order=orders)
def test_fifteen_digit_upgrade_round_trip(region, birth, order):
    old = f"{region}{birth:%y%m%d}{order}"
    parsed = parse_id_number(old, today=TODAY)
    assert parsed.upgraded is True
    assert parsed.number[:17] == f"{region}{birth:%Y%m%d}{order}"
    assert parsed.number == parse_id_number(parsed.number, today=TODAY).number
