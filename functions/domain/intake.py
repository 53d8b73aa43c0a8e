"""The message that carries an accepted registration from the API to the intake consumer.

It holds no personal data in clear: the person travels sealed, identity keys as keyed hashes.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from functions.domain.registration import EmploymentStatus, RegistrationForm


class IntakeMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    applicant_id: str
    submitted_at: dt.datetime
    token_hash: str
    nik_hash: str
    email_hash: str
    phone_hash: str
    family: str
    nik_last4: str
    regency_code: str
    employment_status: EmploymentStatus
    declared_social_aid: bool
    personal_data: str  # base64 of the sealed `PersonalData` JSON

    def identity_hashes(self) -> dict[str, str]:
        return {"nik": self.nik_hash, "email": self.email_hash, "phone": self.phone_hash}


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
    return {"nik": form.nik, "email": form.email.casefold(), "phone": form.phone, "family": form.kk_number}
