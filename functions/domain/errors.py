"""What the programme answers when it refuses something. The HTTP layer maps each kind to a status."""

from __future__ import annotations


class Refusal(Exception):
    """A refusal the caller can act on: a machine-readable code, a message without personal data, a field."""

    status = 400

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class InvalidField(Refusal):
    status = 400


class NotAuthorised(Refusal):
    status = 401

    def __init__(self, message: str = "a valid bearer token for this applicant is required") -> None:
        super().__init__("UNAUTHORISED", message)


class Forbidden(Refusal):
    status = 403


class NotFound(Refusal):
    status = 404


class Conflict(Refusal):
    status = 409


class PayloadTooLarge(Refusal):
    status = 413


class Unprocessable(Refusal):
    status = 422


class TooManyRequests(Refusal):
    status = 429

    def __init__(self, code: str, message: str, retry_after_seconds: int, field: str | None = None) -> None:
        super().__init__(code, message, field)
        self.retry_after_seconds = retry_after_seconds
