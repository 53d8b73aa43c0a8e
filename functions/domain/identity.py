"""Identity numbers and contact details as the programme accepts them: NIK, KK, name, email, phone, regions.

Each check raises `FieldProblem` with a machine-readable code; the message never repeats the value, since the
value is personal data.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

from stdnum import numdb
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.id import nik as stdnum_nik

from functions.domain.errors import ErrorCode

FEMALE_DAY_OFFSET = 40
NAME_MAX_LENGTH = 100


class FieldProblem(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Region:
    province_code: str
    province_name: str
    regency_code: str
    regency_name: str


@functools.cache
def _region_db() -> numdb.NumDB:
    return numdb.get("id/loc")


@functools.cache
def region(code: str) -> Region | None:
    """The regency (kabupaten/kota) for a 4-digit code PPRR, from python-stdnum's table of Indonesian regions."""
    if len(code) != 4 or not code.isdigit():
        return None
    parts = _region_db().info(code)
    if len(parts) != 2 or not parts[0][1] or not parts[1][1]:
        return None
    (province, province_props), (_, regency_props) = parts
    return Region(province, province_props["name_id"], code, regency_props["name_id"])


def all_regions() -> list[Region]:
    """Every known regency, in code order (used to generate populations and documentation)."""
    found = []
    for province in range(11, 100):
        for regency in range(1, 100):
            match = region(f"{province:02d}{regency:02d}")
            if match:
                found.append(match)
    return found


def validate_nik(value: str) -> str:
    """16 digits, a known province and regency, a real encoded birth date, a serial other than 0000."""
    if len(value) != 16 or not value.isascii() or not value.isdigit():
        raise FieldProblem(ErrorCode.INVALID_NIK, "nik must be exactly 16 digits")
    # stdnum's `nik.validate` would also look the place up in its regions table, a walk of the table on every
    # call; `region` does the same look-up (stricter: the regency too) cached per code, so only the date is asked.
    try:
        stdnum_nik.get_birth_date(value)
    except StdnumValidationError:
        raise FieldProblem(ErrorCode.INVALID_NIK, "nik encodes an impossible birth date") from None
    if region(value[:4]) is None:
        raise FieldProblem(ErrorCode.INVALID_NIK, "nik has an unknown province or regency")
    if value[12:] == "0000":
        raise FieldProblem(ErrorCode.INVALID_NIK, "nik has a serial of 0000")
    return value


def nik_gender(nik: str) -> str:
    return "F" if int(nik[6:8]) > FEMALE_DAY_OFFSET else "M"


def nik_birth_day_month_year(nik: str) -> tuple[int, int, int]:
    """Day, month and two-digit year as the NIK encodes them (women's day has 40 added)."""
    return int(nik[6:8]) % FEMALE_DAY_OFFSET, int(nik[8:10]), int(nik[10:12])


def check_nik_agrees(nik: str, birth_date: dt.date, gender: str) -> None:
    """The NIK is the authority: a disagreement is reported on the declared field that contradicts it."""
    if nik_gender(nik) != gender:
        raise FieldProblem(ErrorCode.GENDER_MISMATCH, "gender does not agree with the nik")
    if nik_birth_day_month_year(nik) != (birth_date.day, birth_date.month, birth_date.year % 100):
        raise FieldProblem(ErrorCode.BIRTH_DATE_MISMATCH, "birth_date does not agree with the nik")


def validate_kk(value: str) -> str:
    if len(value) != 16 or not value.isascii() or not value.isdigit():
        raise FieldProblem(ErrorCode.INVALID_KK, "kk_number must be exactly 16 digits")
    if region(value[:4]) is None:
        raise FieldProblem(ErrorCode.INVALID_KK, "kk_number has an unknown region prefix")
    return value


def validate_regency(value: str) -> str:
    if region(value) is None:
        raise FieldProblem(ErrorCode.INVALID_REGENCY, "regency_code is not a known 4-digit regency code")
    return value


_NAME_PUNCTUATION = frozenset(" '.-")


def normalise_name(value: str) -> str:
    """1-100 letters, spaces and '.- ; runs of spaces fold to one (names are compared that way too)."""
    folded = " ".join(value.split())
    if not folded or len(folded) > NAME_MAX_LENGTH:
        raise FieldProblem(ErrorCode.INVALID_NAME, f"full_name must be 1 to {NAME_MAX_LENGTH} characters")
    if not all(ch.isalpha() or ch in _NAME_PUNCTUATION for ch in folded):
        raise FieldProblem(ErrorCode.INVALID_NAME, "full_name may hold only letters, spaces and '.-")
    if not any(ch.isalpha() for ch in folded):
        raise FieldProblem(ErrorCode.INVALID_NAME, "full_name must contain a letter")
    return folded


def names_match(declared: str, registered: str) -> bool:
    """Case and spacing are ignored, as the civil registry's own look-up does."""
    return " ".join(declared.split()).casefold() == " ".join(registered.split()).casefold()


def normalise_email(value: str) -> str:
    # email-validator's syntax check only: deliverability would need DNS, which the API must not wait on.
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise FieldProblem(ErrorCode.INVALID_EMAIL, "email is not a valid address") from None


# Mail providers that ignore dots in the local part: one mailbox however many dots are written.
_DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def mailbox(email: str) -> str:
    """The mailbox an address delivers to, as one account per email counts it: case-insensitive, a `+tag` ignored
    (every common provider delivers user+tag@ to user@), and, at Gmail, dots in the local part ignored."""
    local, _, domain = email.casefold().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _DOTLESS_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


_MOBILE_SHAPE = re.compile(r"(?:\+62|0)8\d{7,11}")


def normalise_phone(value: str) -> str:
    """An Indonesian mobile number, 08... or +628..., returned as E.164 (+628...)."""
    import phonenumbers

    compact = re.sub(r"[ \-]", "", value)
    if not _MOBILE_SHAPE.fullmatch(compact):
        raise FieldProblem(ErrorCode.INVALID_PHONE, "phone must be an Indonesian mobile number, 08... or +628...")
    parsed = phonenumbers.parse(compact, "ID")
    # The shape above already asks for a mobile prefix (8 after the country code); phonenumbers checks the rest.
    if not phonenumbers.is_valid_number(parsed):
        raise FieldProblem(ErrorCode.INVALID_PHONE, "phone is not a valid Indonesian mobile number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_nik(nik_last4: str) -> str:
    return "************" + nik_last4
