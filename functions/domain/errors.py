"""What the programme answers when it refuses something: every error code of the contract, and the kinds of
refusal. Which HTTP status a kind is answered with is the web layer's (`functions.web.STATUSES`)."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every `error.code` the API answers, whoever answers it (`openapi.yaml` documents each)."""

    ALREADY_JOINED = "ALREADY_JOINED"
    ALREADY_REVIEWED = "ALREADY_REVIEWED"
    BAD_REQUEST = "BAD_REQUEST"  # Chalice's own 400, and a request the local gateway cannot parse
    BIRTH_DATE_MISMATCH = "BIRTH_DATE_MISMATCH"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    BUSY = "BUSY"  # throttled or briefly unavailable AWS after the SDK's retries: the caller comes back
    CARD_NOT_FOUND = "CARD_NOT_FOUND"
    CERTIFICATE_USED = "CERTIFICATE_USED"
    CLAIM_IN_DRAW = "CLAIM_IN_DRAW"
    CLAIM_IN_USE = "CLAIM_IN_USE"
    CLAIM_NOT_FOUND = "CLAIM_NOT_FOUND"
    CODE_EXPIRED = "CODE_EXPIRED"
    CODE_LIMIT = "CODE_LIMIT"  # sign-in codes, counted per mailbox with every other code it was sent
    CODE_LOCKED = "CODE_LOCKED"
    CODE_NOT_REQUESTED = "CODE_NOT_REQUESTED"
    COMMENT_TOO_LONG = "COMMENT_TOO_LONG"
    COURSE_NOT_FOUND = "COURSE_NOT_FOUND"
    ERROR = "ERROR"  # an error status of Chalice's own that `web.in_contract_shape` has no code for
    FORBIDDEN = "FORBIDDEN"
    GENDER_MISMATCH = "GENDER_MISMATCH"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    INVALID_ACCOUNT_NUMBER = "INVALID_ACCOUNT_NUMBER"
    INVALID_BODY = "INVALID_BODY"  # JSON, but not an object
    INVALID_CARD_NUMBER = "INVALID_CARD_NUMBER"
    INVALID_CODE = "INVALID_CODE"  # email and sign-in codes: a malformed code and a wrong one alike
    INVALID_COMPLETED_AT = "INVALID_COMPLETED_AT"
    INVALID_COURSE_ID = "INVALID_COURSE_ID"
    INVALID_COURSE_TITLE = "INVALID_COURSE_TITLE"
    INVALID_DATE = "INVALID_DATE"
    INVALID_DATETIME = "INVALID_DATETIME"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_IDEMPOTENCY_KEY = "INVALID_IDEMPOTENCY_KEY"
    INVALID_JSON = "INVALID_JSON"
    INVALID_KK = "INVALID_KK"
    INVALID_MINIMUM_HOURS = "INVALID_MINIMUM_HOURS"
    INVALID_NAME = "INVALID_NAME"
    INVALID_NIK = "INVALID_NIK"
    INVALID_PHONE = "INVALID_PHONE"
    INVALID_PRICE = "INVALID_PRICE"
    INVALID_RATING = "INVALID_RATING"
    INVALID_REASON = "INVALID_REASON"
    INVALID_REFERENCE = "INVALID_REFERENCE"
    INVALID_REGENCY = "INVALID_REGENCY"
    INVALID_VALUE = "INVALID_VALUE"
    INVALID_WAVE_NUMBER = "INVALID_WAVE_NUMBER"
    MEMBERSHIP_NOT_ACTIVE = "MEMBERSHIP_NOT_ACTIVE"
    MEMBERSHIP_REVOKED = "MEMBERSHIP_REVOKED"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    MISSING_FIELD = "MISSING_FIELD"
    MISSING_REASON = "MISSING_REASON"
    NO_OPEN_WAVE = "NO_OPEN_WAVE"
    NO_SUCH_WAVE = "NO_SUCH_WAVE"
    NOT_A_MEMBER = "NOT_A_MEMBER"
    NOT_AWAITING_EMAIL_CODE = "NOT_AWAITING_EMAIL_CODE"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    NOT_FOUND = "NOT_FOUND"  # an unknown route
    NOT_YET_REGISTERED = "NOT_YET_REGISTERED"  # the 202 was given; the intake consumer has not stored it yet
    PAYMENT_IN_FLIGHT = "PAYMENT_IN_FLIGHT"
    PREVIOUS_WAVE_UNPUBLISHED = "PREVIOUS_WAVE_UNPUBLISHED"
    PRICE_ABOVE_BALANCE = "PRICE_ABOVE_BALANCE"  # a course no member could ever buy
    PRICE_NOT_LISTED = "PRICE_NOT_LISTED"
    PURCHASE_CANCELLED = "PURCHASE_CANCELLED"
    PURCHASE_COMPLETED = "PURCHASE_COMPLETED"
    PURCHASE_EXPIRED = "PURCHASE_EXPIRED"
    PURCHASE_NOT_COMPLETED = "PURCHASE_NOT_COMPLETED"
    PURCHASE_NOT_CONFIRMED = "PURCHASE_NOT_CONFIRMED"
    PURCHASE_NOT_FOUND = "PURCHASE_NOT_FOUND"
    PURCHASE_REF_REUSED = "PURCHASE_REF_REUSED"
    REQUEST_IN_PROGRESS = "REQUEST_IN_PROGRESS"
    RESEND_LIMIT = "RESEND_LIMIT"
    RESULTS_NOT_PUBLISHED = "RESULTS_NOT_PUBLISHED"
    THROTTLED = "THROTTLED"  # API Gateway's own throttling, deployed only (`template.yaml`)
    TOO_EARLY = "TOO_EARLY"  # a completion sooner than the course's minimum hours after the confirmation
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    TOO_MANY_CODES = "TOO_MANY_CODES"
    TOO_MANY_PURCHASES = "TOO_MANY_PURCHASES"
    UNAUTHORISED = "UNAUTHORISED"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    UNKNOWN_PROVIDER = "UNKNOWN_PROVIDER"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    WAVE_NOT_DUE = "WAVE_NOT_DUE"
    WAVE_NOT_OPEN = "WAVE_NOT_OPEN"
    WAVE_NOT_SELECTED = "WAVE_NOT_SELECTED"
    WRONG_CODE = "WRONG_CODE"  # purchase and payout-account codes
    WRONG_TYPE = "WRONG_TYPE"


class Refusal(Exception):
    """A refusal the caller can act on: a machine-readable code, a message without personal data, a field."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class InvalidField(Refusal):
    pass


class NotAuthorised(Refusal):
    def __init__(self, message: str = "a valid bearer token for this applicant is required") -> None:
        super().__init__(ErrorCode.UNAUTHORISED, message)


class Forbidden(Refusal):
    pass


class NotFound(Refusal):
    pass


class Conflict(Refusal):
    pass


class PayloadTooLarge(Refusal):
    pass


class Unprocessable(Refusal):
    pass


class TooManyRequests(Refusal):
    def __init__(self, code: str, message: str, retry_after_seconds: int, field: str | None = None) -> None:
        super().__init__(code, message, field)
        self.retry_after_seconds = retry_after_seconds
