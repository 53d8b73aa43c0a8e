"""Every message the app's functions pass each other on their queues but the notices (`functions.domain.notices`),
and the JSON bodies of its requests."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from functions.domain import identity, membership, payments, pool_parts
from functions.domain.errors import ErrorCode
from functions.domain.registration import EmploymentStatus, checked, checked_before

# An admin's recorded reasons (an early close, a released claim): long enough to cite a case, short to keep.
REASON_MAX_LENGTH = 500


class IntakeMessage(BaseModel):
    """Carries an accepted registration from the API to the intake consumer. No personal data in clear: the
    person travels sealed, identity keys as keyed hashes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    applicant_id: str
    submitted_at: dt.datetime
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


class NikCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    applicant_id: str


class ApplicantIdRequest(BaseModel):
    """`POST /verifications/email/resend` and `POST /waves/{number}/applicants` bodies."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    applicant_id: str


class SignInRequest(BaseModel):
    """`POST /sign-ins` body."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    email: Annotated[str, checked(identity.normalise_email)]


class SignInConfirmation(SignInRequest):
    """`POST /sign-ins/confirm` body."""

    code: str


class EmailCodeRequest(BaseModel):
    """`POST /verifications/email` body."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    applicant_id: str
    code: str


def _reason(value: str) -> str:
    reason = " ".join(value.split())
    if not reason or len(reason) > REASON_MAX_LENGTH:
        raise identity.FieldProblem(ErrorCode.INVALID_REASON, f"reason must be 1 to {REASON_MAX_LENGTH} characters")
    return reason


def _reason_if_given(value: str) -> str | None:
    return _reason(value) if value.strip() else None  # a blank reason is no reason (MISSING_REASON below)


class CloseRequest(BaseModel):
    """`POST /admin/waves/{number}/close` body (optional): closing before the wave's `closes_at` needs `force`
    and a reason, which the manifest records with the admin's name."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    force: bool = False
    reason: Annotated[str, checked(_reason_if_given)] | None = None

    @model_validator(mode="after")
    def _forced_with_a_reason(self) -> CloseRequest:
        if self.force and not (self.reason or "").strip():
            raise PydanticCustomError(
                ErrorCode.MISSING_REASON, "{reason}", {"field": "reason", "reason": "a forced close needs a reason"}
            )
        return self


class PublishChunk(BaseModel):
    """A slice of a wave's pool to publish: each entry an applicant id and whether it was selected (to be
    accepted with a new card) or not (carried into the next wave)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wave: int
    chunk: int
    entries: list[tuple[str, bool]]


class CohortShard(BaseModel):
    """One shard of a wave's members for a daily sweep, from after the member `after` (None: from the first); a
    shard not finished in one invocation is handed on with where it stopped. `swept_at` is the schedule's time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wave: int
    shard: int
    swept_at: dt.datetime
    after: str | None = None


class RevocationShard(CohortShard):
    """A shard for the daily revocation. `swept_at` is the moment of the revocation, whenever the shard is worked
    through: every deadline of the wave had passed by then."""


class IncentiveShard(CohortShard):
    """A shard for the daily incentive schedule: each member's incentives due by `swept_at` are screened and
    queued."""


class PaymentRequest(BaseModel):
    """Asks the payments consumer to pay one incentive payment (its id, the provider's idempotency key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    payment_id: str


class RevocationRequest(BaseModel):
    """`POST /admin/memberships/{card_number}/revoke` body: why the membership is revoked (recorded)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    reason: Annotated[str, checked(_reason)]


class PoolPartRequest(BaseModel):
    """One part of a closed wave's pool to read into its file (`functions.domain.pool_parts`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wave: int
    part: Annotated[str, AfterValidator(lambda name: pool_parts.Part.named(name).name)]


class ClaimReleaseRequest(BaseModel):
    """`POST /admin/claims/release` body: the NIK to give back to its owner, and why (recorded)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    nik: Annotated[str, checked(identity.validate_nik)]
    reason: Annotated[str, checked(_reason)]


# --- after acceptance ---------------------------------------------------------------------------------------------


class CourseRequest(BaseModel):
    """`PUT /partners/courses/{course_id}` body: a course of the partner's catalogue (the price's ceiling is a
    setting, checked by the service)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    title: Annotated[str, checked(membership.valid_course_title)]
    price: Annotated[int, checked_before(membership.valid_price)]
    minimum_hours: Annotated[int, checked_before(membership.valid_minimum_hours)]


class PurchaseRequest(BaseModel):
    """`POST /partners/purchases` body: a partner asks to debit a member's card for a course of its catalogue, at
    the listed price. `course_title` is still taken from older clients, checked as a title (bad input is refused, never
    passed over) and then ignored: the catalogue's title is used."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    card_number: Annotated[str, checked(membership.valid_card_number)]
    course_id: Annotated[str, checked(membership.valid_course_id)]
    course_title: Annotated[str, checked(membership.valid_course_title)] | None = None
    price: Annotated[int, checked_before(membership.valid_price)]
    purchase_ref: Annotated[str, checked(membership.partner_reference("purchase_ref"))]


class PurchaseCodeRequest(BaseModel):
    """`POST /partners/purchases/{id}/confirm` body: the code the member gave the partner."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    code: str


class CompletionRequest(BaseModel):
    """`POST /partners/completions` body: the partner reports a training done, with its certificate."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    purchase_id: str
    completed_at: Annotated[dt.datetime, checked_before(membership.valid_instant)]
    certificate_id: Annotated[str, checked(membership.partner_reference("certificate_id"))]


class ReviewRequest(BaseModel):
    """`POST /applicants/{id}/reviews` body; the comment's length is a setting, checked by the service."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    purchase_id: str
    rating: Annotated[int, checked_before(membership.valid_rating)]
    comment: str = ""


# --- payout accounts ----------------------------------------------------------------------------------------------


class PayoutAccountRequest(BaseModel):
    """`PUT /applicants/{id}/payout-account` body. The programme's providers are a setting, given as the validation
    context `{"providers": [...]}`; the provider's code is taken in any case."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    provider: str
    account_number: Annotated[str, checked(payments.valid_account_number)]
    code: str  # the one-time code sent to the member's email and phone (`POST .../payout-account/code`)

    @field_validator("provider")
    @classmethod
    def _one_of_the_programmes(cls, value: str, info: ValidationInfo) -> str:
        providers = tuple((info.context or {}).get("providers", ()))
        code = value.strip().upper()
        if code not in providers:
            raise PydanticCustomError(
                ErrorCode.UNKNOWN_PROVIDER, "provider must be one of {providers}", {"providers": ", ".join(providers)}
            )
        return code


class PayoutCheckRequest(BaseModel):
    """Asks the payout-check consumer for the provider's verdict on a member's account as changed by `check_id`:
    a later change gives the account a new id, and the older check then records nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    applicant_id: str
    check_id: str
