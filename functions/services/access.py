"""An applicant's access tokens: issued, checked on every applicant route, and ended.

Tokens are stateless grants (`domain.access`): a token carries when it was issued and its generation, bound to the
applicant by a MAC; the applicant record keeps the current generation. Checking a token reads only the applicant
record that every applicant route reads anyway; ending all of them is one write. Signing in again for a new token
is `services.sign_in`. This module imports no other service: every applicant route can check a token without
loading anything else.
"""

from __future__ import annotations

import re
from typing import NoReturn

from functions import clock
from functions.adapters import personal_data
from functions.domain import access
from functions.domain.errors import Conflict, ErrorCode, NotAuthorised, TooManyRequests
from functions.domain.lifecycle import Applicant
from functions.observability import logger
from functions.settings import settings
from functions.store import applicants, throttle


def new_token(applicant_id: str, generation: int) -> dict[str, str]:
    """A new access token for the applicant's current generation, and when it expires."""
    grant = access.TokenGrant(clock.now().replace(microsecond=0), generation)
    expires_at = access.expires_at(grant.issued_at, settings().access_token_days)
    return {"access_token": personal_data.new_access_token(applicant_id, grant), "expires_at": expires_at.isoformat()}


def admitted(token: str, applicant_id: str, applicant: Applicant | None) -> bool:
    """True when the token was issued for this applicant, has not expired and has not been ended. A registration
    still in the queue (`applicant` None) admits the first generation's tokens."""
    grant = personal_data.token_grant(token, applicant_id)
    generation = 0 if applicant is None else applicant.token_generation
    return grant is not None and access.admits(grant, generation, clock.now(), settings().access_token_days)


def end_all(applicant: Applicant | None) -> dict[str, str]:
    """`POST /applicants/{id}/tokens/end`, for an applicant its token admitted: every token issued so far, the one
    used included, is refused from now on."""
    if applicant is None:
        raise Conflict(ErrorCode.NOT_YET_REGISTERED, "the registration is still being processed; try again shortly")
    now = clock.now()
    applicants.end_tokens(applicant.applicant_id, now)
    logger.info("access tokens ended", extra={"applicant_id": applicant.applicant_id})
    return {"ended_at": now.isoformat()}


_APPLICANT_ID_SHAPE = re.compile(r"[0-9a-f]{32}")


def authorised_applicant(applicant_id: str, token: str) -> Applicant | None:
    """The applicant when the token is its own, unexpired and not ended; None while the registration is still
    queued.

    Unknown ids, wrong, expired or ended tokens and malformed ids all get the same refusal, after the same work.
    """
    known_shape = bool(_APPLICANT_ID_SHAPE.fullmatch(applicant_id))
    applicant = applicants.find(applicant_id) if known_shape else None
    if admitted(token, applicant_id, applicant) and known_shape:
        return applicant
    refuse_token(applicant_id)


def refuse_token(applicant_id: str) -> NoReturn:
    """401, or 429 once an id has seen too many wrong tokens lately: counted alike for known and unknown ids."""
    current = settings()
    failures = throttle.count_failure("token", applicant_id, current.token_failure_window_seconds, clock.now())
    if failures > current.token_failures_allowed:
        raise TooManyRequests(
            ErrorCode.TOO_MANY_ATTEMPTS,
            "too many wrong tokens for this applicant; wait and try again",
            current.token_failure_window_seconds,
        )
    raise NotAuthorised()
