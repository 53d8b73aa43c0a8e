"""The applicant lifecycle of DESIGN.md: statuses, the reasons that go with refusals, the funnel stages."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "PENDING"
    REGISTERED = "REGISTERED"
    EMAIL_VERIFIED = "EMAIL_VERIFIED"
    NIK_VERIFIED = "NIK_VERIFIED"
    NIK_REJECTED = "NIK_REJECTED"
    ELIGIBLE = "ELIGIBLE"
    INELIGIBLE = "INELIGIBLE"
    JOINED = "JOINED"
    PROCESSING = "PROCESSING"
    ACCEPTED = "ACCEPTED"
    NOT_SELECTED = "NOT_SELECTED"
    REJECTED = "REJECTED"


class Reason(StrEnum):
    DUPLICATE_NIK = "DUPLICATE_NIK"
    DUPLICATE_EMAIL = "DUPLICATE_EMAIL"
    DUPLICATE_PHONE = "DUPLICATE_PHONE"


class FunnelStage(StrEnum):
    """Counted once per applicant when it first reaches the stage, as the ministry reported its funnel."""

    REGISTERED = "registered"
    EMAIL_VERIFIED = "email_verified"
    NIK_VERIFIED = "nik_verified"
    ELIGIBLE = "eligible"
    JOINED = "joined"
    ACCEPTED = "accepted"


# The identity keys that may each belong to one account only, in the order a clash is reported.
UNIQUE_KEYS = ("nik", "email", "phone")


def duplicate_reason(key: str) -> Reason:
    return Reason(f"DUPLICATE_{key.upper()}")
