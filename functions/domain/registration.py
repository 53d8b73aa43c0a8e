"""The registration form as the contract defines it, strictly typed, and the errors it answers with."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from functions.domain import identity
from functions.domain.errors import ErrorCode
from functions.domain.requests import parse_body

MAX_BODY_BYTES = 16 * 1024


class EmploymentStatus(StrEnum):
    LAID_OFF = "laid_off"
    FURLOUGHED = "furloughed"
    JOB_SEEKER = "job_seeker"
    MICRO_BUSINESS = "micro_business"
    EMPLOYED = "employed"


def _reported(check: Any, value: Any) -> Any:
    try:
        return check(value)
    except identity.FieldProblem as problem:
        raise PydanticCustomError(problem.code, problem.message) from None


def checked(check: Any) -> Any:
    """Wraps a domain check so that pydantic reports its code and message, never the value."""
    return AfterValidator(lambda value: _reported(check, value))


def checked_before(check: Any) -> Any:
    """`checked`, run on the raw JSON value before pydantic's own type check (for checks that name wrong types)."""
    return BeforeValidator(lambda value: _reported(check, value))


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_birth_date(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise identity.FieldProblem(ErrorCode.WRONG_TYPE, "birth_date must be a string")
    if not _ISO_DATE.fullmatch(value):
        raise identity.FieldProblem(ErrorCode.INVALID_DATE, "birth_date must be a date written YYYY-MM-DD")
    try:
        parsed = dt.date.fromisoformat(value)
    except ValueError:
        raise identity.FieldProblem(ErrorCode.INVALID_DATE, "birth_date is not a real date") from None
    if parsed.year < 1900:
        raise identity.FieldProblem(ErrorCode.INVALID_DATE, "birth_date is too far in the past")
    return parsed


class RegistrationForm(BaseModel):
    """`POST /registrations` body. Field order is the order in which problems are reported."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    nik: Annotated[str, checked(identity.validate_nik)]
    kk_number: Annotated[str, checked(identity.validate_kk)]
    full_name: Annotated[str, checked(identity.normalise_name)]
    birth_date: Annotated[dt.date, checked_before(parse_birth_date)]
    gender: Literal["M", "F"]
    email: Annotated[str, checked(identity.normalise_email)]
    phone: Annotated[str, checked(identity.normalise_phone)]
    regency_code: Annotated[str, checked(identity.validate_regency)]
    employment_status: EmploymentStatus
    receives_social_aid: bool

    @model_validator(mode="after")
    def _nik_agrees_with_declared_person(self) -> RegistrationForm:
        try:
            identity.check_nik_agrees(self.nik, self.birth_date, self.gender)
        except identity.FieldProblem as problem:
            field = "gender" if problem.code == ErrorCode.GENDER_MISMATCH else "birth_date"
            raise PydanticCustomError(problem.code, problem.message, {"field": field}) from None
        return self


def parse_registration(body: bytes) -> RegistrationForm:
    """Validates a raw request body; raises `InvalidField` naming the first field at fault."""
    return parse_body(RegistrationForm, body)


class PersonalData(BaseModel):
    """What is sealed: everything that identifies the person."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nik: str
    kk_number: str
    full_name: str
    birth_date: dt.date
    gender: str
    email: str
    phone: str

    @classmethod
    def from_form(cls, form: RegistrationForm) -> PersonalData:
        return cls(
            nik=form.nik,
            kk_number=form.kk_number,
            full_name=form.full_name,
            birth_date=form.birth_date,
            gender=form.gender,
            email=form.email,
            phone=form.phone,
        )


def identity_keys(form: RegistrationForm) -> dict[str, str]:
    """The values whose keyed hashes guard one account per NIK, email and phone, and group a family."""
    return {"nik": form.nik, "email": identity.mailbox(form.email), "phone": form.phone, "family": form.kk_number}
