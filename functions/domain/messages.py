"""Messages between the app's own functions (beyond intake): notification requests and NIK-check requests."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class NotificationRequest(BaseModel):
    """Asks the notification consumer to tell an applicant something. The id makes redelivery harmless."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notification_id: str
    kind: str
    applicant_id: str
    code_id: str | None = None
    sealed_code: str | None = None  # the email code, sealed to its applicant
    status: str | None = None
    reason: str | None = None
    wave: int | None = None
    card_number: str | None = None


class NikCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    applicant_id: str


class ApplicantIdRequest(BaseModel):
    """`POST /verifications/email/resend` and `POST /waves/{number}/applicants` bodies."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    applicant_id: str


class EmailCodeRequest(BaseModel):
    """`POST /verifications/email` body."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    applicant_id: str
    code: str


class PublishChunk(BaseModel):
    """A slice of a wave's ranked list to publish: each entry an applicant id and its card, or None when the
    applicant was not selected (and is carried into the next wave)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wave: int
    chunk: int
    entries: list[tuple[str, str | None]]
