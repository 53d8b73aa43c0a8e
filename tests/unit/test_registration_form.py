"""Every row of `POST /registrations` validation, table-driven, plus properties over generated people."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.population import kk_for, nik_for
from functions.domain.errors import InvalidField
from functions.domain.identity import all_regions, names_match
from functions.domain.registration import MAX_BODY_BYTES, parse_registration

VALID: dict[str, Any] = {
    "nik": "3171015708950001",  # Jakarta Selatan, district 01, born 17-08-1995, woman (57 = 17 + 40), serial 0001
    "kk_number": "3171010101100001",
    "full_name": "Siti Aminah",
    "birth_date": "1995-08-17",
    "gender": "F",
    "email": "siti.aminah@example.co.id",
    "phone": "081234567890",
    "regency_code": "3171",
    "employment_status": "laid_off",
    "receives_social_aid": False,
}


def body(**changes: Any) -> bytes:
    return json.dumps({**VALID, **changes}).encode()


def refusal(raw: bytes) -> InvalidField:
    with pytest.raises(InvalidField) as caught:
        parse_registration(raw)
    return caught.value


def test_a_valid_registration_is_accepted_and_normalised() -> None:
    form = parse_registration(
        body(full_name="  Siti   Aminah ", email="Siti.Aminah@EXAMPLE.co.id", phone="+62 812-3456-7890")
    )
    assert form.full_name == "Siti Aminah"
    assert form.email == "Siti.Aminah@example.co.id"
    assert form.phone == "+6281234567890"
    assert form.birth_date == dt.date(1995, 8, 17)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone", "081234567890"),
        ("phone", "+6281234567890"),
        ("phone", "0812 3456 7890"),
        ("full_name", "Nur'aini Al-Fatih"),
        ("full_name", "R. A. Kartini"),
        ("full_name", "Ñoño Pérez"),
        ("full_name", "x" * 100),
        ("email", "a+b@example.com"),
        ("employment_status", "micro_business"),
        ("receives_social_aid", True),
    ],
)
def test_accepted_variants(field: str, value: Any) -> None:
    parse_registration(body(**{field: value}))


ROWS = [
    # NIK: 16 digits, known province and regency, a real birth date, serial not 0000
    ("nik", "317101570895000", "INVALID_NIK"),
    ("nik", "31710157089500011", "INVALID_NIK"),
    ("nik", "31710157089500a1", "INVALID_NIK"),
    ("nik", "9971015708950001", "INVALID_NIK"),  # no province 99
    ("nik", "3199015708950001", "INVALID_NIK"),  # no regency 31.99
    ("nik", "3171017308950001", "INVALID_NIK"),  # day 73 - 40 = 33
    ("nik", "3171015713950001", "INVALID_NIK"),  # month 13
    ("nik", "3171015708950000", "INVALID_NIK"),  # serial 0000
    ("nik", "\uff13\uff11\uff17\uff11" + "015708950001", "INVALID_NIK"),  # full-width digits
    ("nik", 3171015708950001, "WRONG_TYPE"),
    # the NIK is the authority on gender and birth date
    ("gender", "M", "GENDER_MISMATCH"),
    ("birth_date", "1995-08-18", "BIRTH_DATE_MISMATCH"),
    ("birth_date", "1985-08-17", "BIRTH_DATE_MISMATCH"),
    # KK: 16 digits with a known region prefix
    ("kk_number", "317101010110000", "INVALID_KK"),
    ("kk_number", "9971010101100001", "INVALID_KK"),
    ("kk_number", "31710101011000x1", "INVALID_KK"),
    # name: 1-100 letters, spaces and '.-
    ("full_name", "", "INVALID_NAME"),
    ("full_name", "   ", "INVALID_NAME"),
    ("full_name", "x" * 101, "INVALID_NAME"),
    ("full_name", "Siti Aminah 2", "INVALID_NAME"),
    ("full_name", "Siti_Aminah", "INVALID_NAME"),
    ("full_name", "<script>", "INVALID_NAME"),
    ("full_name", "-.'", "INVALID_NAME"),
    # birth date: YYYY-MM-DD, a real date
    ("birth_date", "17-08-1995", "INVALID_DATE"),
    ("birth_date", "1995-02-30", "INVALID_DATE"),
    ("birth_date", "1995-8-17", "INVALID_DATE"),
    ("birth_date", 19950817, "WRONG_TYPE"),
    # gender: M or F
    ("gender", "f", "INVALID_VALUE"),
    ("gender", "X", "INVALID_VALUE"),
    # email: syntax
    ("email", "siti", "INVALID_EMAIL"),
    ("email", "siti@", "INVALID_EMAIL"),
    ("email", "siti@@example.com", "INVALID_EMAIL"),
    ("email", "siti@example", "INVALID_EMAIL"),
    # phone: Indonesian mobile, 08... or +628...
    ("phone", "0215551234", "INVALID_PHONE"),
    ("phone", "+6221555123", "INVALID_PHONE"),
    ("phone", "+6581234567", "INVALID_PHONE"),
    ("phone", "0812", "INVALID_PHONE"),
    ("phone", "08123456789012345", "INVALID_PHONE"),
    ("phone", "0812-abcd-7890", "INVALID_PHONE"),
    # regency: a known 4-digit code
    ("regency_code", "3199", "INVALID_REGENCY"),
    ("regency_code", "317", "INVALID_REGENCY"),
    ("regency_code", 3171, "WRONG_TYPE"),
    # enums and booleans, strictly typed
    ("employment_status", "retired", "INVALID_VALUE"),
    ("employment_status", "LAID_OFF", "INVALID_VALUE"),
    ("receives_social_aid", "false", "WRONG_TYPE"),
    ("receives_social_aid", 0, "WRONG_TYPE"),
    ("receives_social_aid", None, "WRONG_TYPE"),
]


@pytest.mark.parametrize(("field", "value", "code"), ROWS)
def test_each_invalid_field_is_refused_naming_it(field: str, value: Any, code: str) -> None:
    problem = refusal(body(**{field: value}))
    assert (problem.field, problem.code) == (field, code)


@pytest.mark.parametrize("field", list(VALID))
def test_each_missing_field_is_refused_naming_it(field: str) -> None:
    incomplete = {k: v for k, v in VALID.items() if k != field}
    problem = refusal(json.dumps(incomplete).encode())
    assert (problem.field, problem.code) == (field, "MISSING_FIELD")


def test_unknown_fields_are_refused() -> None:
    problem = refusal(body(password="hunter2"))
    assert (problem.field, problem.code) == ("password", "UNKNOWN_FIELD")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "INVALID_JSON"),
        (b"{", "INVALID_JSON"),
        (b"\xff\xfe{}", "INVALID_JSON"),
        (b"[]", "INVALID_BODY"),
        (b'"text"', "INVALID_BODY"),
        (b"null", "INVALID_BODY"),
        (b'{"nik": ' + b"[" * 5000 + b"]" * 5000 + b"}", "INVALID_JSON"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_refused(raw: bytes, code: str) -> None:
    assert refusal(raw).code == code


PERSONAL_FIELDS = {"nik", "kk_number", "full_name", "birth_date", "email", "phone"}


def test_messages_never_repeat_submitted_personal_data() -> None:
    for field, value, _ in ROWS:
        problem = refusal(body(**{field: value}))
        if field in PERSONAL_FIELDS and isinstance(value, str) and value.strip():
            assert value not in problem.message


def test_max_body_is_16_kib() -> None:
    assert MAX_BODY_BYTES == 16 * 1024


@pytest.mark.parametrize(
    ("declared", "registered", "match"),
    [
        ("Siti Aminah", "SITI AMINAH", True),
        ("  siti   aminah ", "Siti Aminah", True),
        ("Siti\tAminah", "Siti Aminah", True),
        ("Siti Aminah", "Siti Aminah Putri", False),
        ("Siti Aminah", "Siti Amina", False),
    ],
)
def test_names_match_ignoring_case_and_spacing(declared: str, registered: str, match: bool) -> None:
    assert names_match(declared, registered) is match


# --- properties -------------------------------------------------------------------------------------------

REGIONS = all_regions()


@st.composite
def people(draw: st.DrawFn) -> dict[str, Any]:
    """Any valid person, built from a birth date, a gender and a region."""
    birth = draw(st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2025, 12, 31)))
    gender = draw(st.sampled_from("MF"))
    region = draw(st.sampled_from(REGIONS))
    home = draw(st.sampled_from(REGIONS))
    district = draw(st.integers(1, 99))
    serial = draw(st.integers(1, 9999))
    return {
        **VALID,
        "nik": nik_for(region, district, birth, gender, serial),
        "kk_number": kk_for(home, district, birth, serial),
        "birth_date": birth.isoformat(),
        "gender": gender,
        "regency_code": home.regency_code,
        "phone": "08"
        + draw(st.sampled_from(["11", "12", "13", "21", "52", "57", "78", "96"]))
        + draw(st.text("0123456789", min_size=7, max_size=9)),
    }


@given(people())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_valid_person_is_accepted(person: dict[str, Any]) -> None:
    parse_registration(json.dumps(person).encode())


def _corruptions() -> st.SearchStrategy[tuple[str, Any]]:
    """One field made invalid on its own; the expected refusal names that field."""
    return st.one_of(
        st.tuples(st.just("nik"), st.text("0123456789", min_size=0, max_size=15)),
        st.tuples(st.just("nik"), st.from_regex(r"99[0-9]{14}", fullmatch=True)),
        st.tuples(st.just("kk_number"), st.from_regex(r"[0-9]{0,15}|[0-9]{17,20}", fullmatch=True)),
        st.tuples(st.just("full_name"), st.from_regex(r"[A-Za-z ]{0,10}[0-9_@#!?][A-Za-z ]{0,10}", fullmatch=True)),
        st.tuples(st.just("birth_date"), st.from_regex(r"[0-9]{2}/[0-9]{2}/[0-9]{4}", fullmatch=True)),
        st.tuples(st.just("gender"), st.text(max_size=3).filter(lambda g: g not in ("M", "F"))),
        st.tuples(st.just("email"), st.text("abc.", max_size=20)),
        st.tuples(st.just("phone"), st.from_regex(r"0[1-79][0-9]{8,10}", fullmatch=True)),
        st.tuples(st.just("regency_code"), st.from_regex(r"(99|00)[0-9]{2}|[0-9]{1,3}|[0-9]{5}", fullmatch=True)),
        st.tuples(st.just("employment_status"), st.text(max_size=12).filter(lambda s: s not in _EMPLOYMENT)),
        st.tuples(st.just("receives_social_aid"), st.one_of(st.integers(), st.text(), st.none())),
    )


_EMPLOYMENT = {"laid_off", "furloughed", "job_seeker", "micro_business", "employed"}


@given(people(), _corruptions())
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_any_single_field_corruption_is_refused_naming_that_field(person: dict[str, Any], corruption: Any) -> None:
    field, value = corruption
    problem = refusal(json.dumps({**person, field: value}).encode())
    assert problem.field == field
