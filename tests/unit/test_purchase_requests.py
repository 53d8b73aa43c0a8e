"""The partner API's and reviews' request bodies: every bad input the issue names is a 400 naming its field."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain import notices
from functions.domain.errors import Conflict, InvalidField
from functions.domain.membership import check_comment, check_completion_time, new_voucher_code, plain_title
from functions.domain.messages import (
    CompletionRequest,
    CourseRequest,
    PurchaseCodeRequest,
    PurchaseRequest,
    ReviewRequest,
)
from functions.domain.requests import parse_body
from functions.web import status_of

PURCHASE = {
    "card_number": "7391048275519032",
    "course_id": "excel-101",
    "course_title": "Microsoft Excel untuk Pemula",
    "price": 400_000,
    "purchase_ref": "order-1",
}
COMPLETION = {"purchase_id": "0" * 32, "completed_at": "2026-04-20T15:30:00+07:00", "certificate_id": "CERT-1"}
REVIEW = {"purchase_id": "0" * 32, "rating": 4, "comment": "Materinya jelas."}


def refusal(model: Any, body: dict[str, Any] | bytes) -> InvalidField:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(InvalidField) as refused:
        parse_body(model, raw)
    return refused.value


def test_good_bodies_parse() -> None:
    assert parse_body(PurchaseRequest, json.dumps(PURCHASE).encode()).price == 400_000
    completion = parse_body(CompletionRequest, json.dumps(COMPLETION).encode())
    assert completion.completed_at == dt.datetime(2026, 4, 20, 8, 30, tzinfo=dt.UTC)
    assert parse_body(ReviewRequest, json.dumps(REVIEW).encode()).rating == 4
    assert parse_body(PurchaseCodeRequest, b'{"code": "123456"}').code == "123456"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"price": 0}, "INVALID_PRICE", "price"),
        ({"price": -1}, "INVALID_PRICE", "price"),
        ({"price": 1.5}, "WRONG_TYPE", "price"),
        ({"price": 400000.0}, "WRONG_TYPE", "price"),
        ({"price": "400000"}, "WRONG_TYPE", "price"),
        ({"price": True}, "WRONG_TYPE", "price"),
        ({"price": None}, "WRONG_TYPE", "price"),
        ({"card_number": "7391-0482-7551-9032"}, "INVALID_CARD_NUMBER", "card_number"),
        ({"card_number": 7391048275519032}, "WRONG_TYPE", "card_number"),
        ({"purchase_ref": ""}, "INVALID_REFERENCE", "purchase_ref"),
        ({"purchase_ref": "a b"}, "INVALID_REFERENCE", "purchase_ref"),
        ({"course_id": "#1"}, "INVALID_COURSE_ID", "course_id"),
        ({"course_id": "a/b"}, "INVALID_COURSE_ID", "course_id"),
        ({"discount": 10}, "UNKNOWN_FIELD", "discount"),
    ],
)
def test_a_bad_purchase_request_names_its_field(changes: dict[str, Any], code: str, field: str) -> None:
    refused = refusal(PurchaseRequest, {**PURCHASE, **changes})
    assert (status_of(refused), refused.code, refused.field) == (400, code, field)


def test_a_missing_purchase_field_is_named() -> None:
    refused = refusal(PurchaseRequest, {key: value for key, value in PURCHASE.items() if key != "purchase_ref"})
    assert (refused.code, refused.field) == ("MISSING_FIELD", "purchase_ref")


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"completed_at": "2026-04-20"}, "INVALID_DATETIME", "completed_at"),
        ({"completed_at": "2026-04-20T15:30:00"}, "INVALID_DATETIME", "completed_at"),
        ({"completed_at": "kemarin"}, "INVALID_DATETIME", "completed_at"),
        ({"completed_at": 1745137800}, "WRONG_TYPE", "completed_at"),
        ({"certificate_id": ""}, "INVALID_REFERENCE", "certificate_id"),
        ({"purchase_id": 7}, "WRONG_TYPE", "purchase_id"),
        ({"grade": "A"}, "UNKNOWN_FIELD", "grade"),
    ],
)
def test_a_bad_completion_names_its_field(changes: dict[str, Any], code: str, field: str) -> None:
    refused = refusal(CompletionRequest, {**COMPLETION, **changes})
    assert (refused.code, refused.field) == (code, field)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"rating": 0}, "INVALID_RATING", "rating"),
        ({"rating": 6}, "INVALID_RATING", "rating"),
        ({"rating": 4.0}, "WRONG_TYPE", "rating"),
        ({"rating": "5"}, "WRONG_TYPE", "rating"),
        ({"rating": True}, "WRONG_TYPE", "rating"),
        ({"comment": 5}, "WRONG_TYPE", "comment"),
        ({"stars": 5}, "UNKNOWN_FIELD", "stars"),
    ],
)
def test_a_bad_review_names_its_field(changes: dict[str, Any], code: str, field: str) -> None:
    refused = refusal(ReviewRequest, {**REVIEW, **changes})
    assert (refused.code, refused.field) == (code, field)


def test_a_comment_over_the_limit_is_refused_and_one_at_it_is_not() -> None:
    check_comment("x" * 1_000, 1_000)
    with pytest.raises(InvalidField) as refused:
        check_comment("x" * 10_000, 1_000)
    assert (refused.value.code, refused.value.field) == ("COMMENT_TOO_LONG", "comment")


def test_a_completion_is_after_its_confirmation_and_not_in_the_future() -> None:
    confirmed = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    now = confirmed + dt.timedelta(days=10)
    check_completion_time(confirmed + dt.timedelta(days=3), confirmed, 8, now)
    for when in (confirmed - dt.timedelta(seconds=1), now + dt.timedelta(seconds=1)):
        with pytest.raises(InvalidField) as refused:
            check_completion_time(when, confirmed, 8, now)
        assert refused.value.field == "completed_at"


def test_a_completion_before_the_courses_minimum_hours_is_too_early() -> None:
    # Partners send whole seconds; the confirmation was stored with its microseconds
    confirmed = dt.datetime(2026, 4, 1, 3, 0, 0, 750_000, tzinfo=dt.UTC)
    earliest = confirmed.replace(microsecond=0) + dt.timedelta(hours=8)
    check_completion_time(earliest, confirmed, 8, earliest)
    for when in (confirmed.replace(microsecond=0), earliest - dt.timedelta(seconds=1)):
        with pytest.raises(Conflict) as refused:
            check_completion_time(when, confirmed, 8, earliest)
        assert (refused.value.code, refused.value.field) == ("TOO_EARLY", "completed_at")


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"title": "   "}, "INVALID_COURSE_TITLE", "title"),
        ({"title": "x" * 201}, "INVALID_COURSE_TITLE", "title"),
        ({"title": "Visit http://evil.example"}, "INVALID_COURSE_TITLE", "title"),
        ({"title": "Daftar di evil.example sekarang"}, "INVALID_COURSE_TITLE", "title"),
        ({"title": "Diskon <b>50%</b>"}, "INVALID_COURSE_TITLE", "title"),
        ({"price": 0}, "INVALID_PRICE", "price"),
        ({"minimum_hours": 0}, "INVALID_MINIMUM_HOURS", "minimum_hours"),
        ({"minimum_hours": 1_001}, "INVALID_MINIMUM_HOURS", "minimum_hours"),
        ({"minimum_hours": 1.5}, "WRONG_TYPE", "minimum_hours"),
    ],
)
def test_a_bad_course_names_its_field(changes: dict[str, Any], code: str, field: str) -> None:
    course = {"title": "Bahasa Inggris (Hotel), Tingkat 2.5 & Lanjut", "price": 400_000, "minimum_hours": 8}
    assert parse_body(CourseRequest, json.dumps(course).encode()).minimum_hours == 8
    refused = refusal(CourseRequest, {**course, **changes})
    assert (status_of(refused), refused.code, refused.field) == (400, code, field)


def consent_text(code: str, partner_name: str, course_title: str, price: int, valid_minutes: int) -> notices.Rendered:
    notice = notices.PurchaseCode(applicant_id="a" * 32, purchase_id="p" * 32)
    rules = SimpleNamespace(purchase_code_ttl_seconds=valid_minutes * 60)
    return notice.render(code, rules, partner_name=partner_name, course_title=course_title, price=price)


def test_the_consent_text_names_the_partner_and_no_link_survives_in_the_title() -> None:
    assert plain_title("Visit http://evil.example/x?y=1") == "Visit http evil example x y 1"
    assert plain_title("Excel 3.5 (Dasar), Tingkat-1 & 'Lanjut'") == "Excel 3.5 (Dasar), Tingkat-1 & 'Lanjut'"
    notice = consent_text("123456", "Kelas Resmi", "Visit http://evil.example", 400_000, 15)
    assert "Kelas Resmi" in notice.text and "Rp400.000" in notice.text
    assert "http:" not in notice.text and "evil.example" not in notice.text and "/" not in notice.text


@given(st.integers(min_value=1, max_value=10**15))
def test_every_positive_whole_price_is_taken(price: int) -> None:
    assert parse_body(PurchaseRequest, json.dumps({**PURCHASE, "price": price}).encode()).price == price


def test_vouchers_are_random_and_base32() -> None:
    vouchers = {new_voucher_code() for _ in range(1000)}
    assert len(vouchers) == 1000
    assert all(len(v) == 16 and set(v) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for v in vouchers)


def test_the_purchase_code_notice_names_the_course_and_the_price_in_rupiah() -> None:
    notice = consent_text("493027", "Skill Academy", "Microsoft Excel", 1_250_000, 15)
    assert "493027" in notice.text and "Skill Academy" in notice.text
    assert "Rp1.250.000" in notice.text and "15 menit" in notice.text
