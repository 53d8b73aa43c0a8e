"""An applicant's access: how long an access token lasts, which tokens its record still admits, and the life and
tries of a sign-in code (sent to the verified email to get a new token).

A token says when it was issued and under which generation of its applicant's tokens (`TokenGrant`, bound to the
applicant by a MAC in `adapters.personal_data`); the applicant's record keeps only the current generation. So any
number of tokens may be valid at once (a phone and a laptop), checking one reads nothing beyond the applicant
record every applicant route reads anyway, and ending them all is one write: the generation moves on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from functions.domain.email_code import CodePolicy


@dataclass(frozen=True)
class TokenGrant:
    """What an access token carries about itself: when it was issued, and the generation it belongs to."""

    issued_at: dt.datetime
    generation: int


def expires_at(issued_at: dt.datetime, token_days: int) -> dt.datetime:
    return issued_at + dt.timedelta(days=token_days)


def admits(grant: TokenGrant, current_generation: int, now: dt.datetime, token_days: int) -> bool:
    """A token is good until it expires, and only while its applicant has not ended the tokens of its generation
    (ending them moves the generation on, so a token issued in the same instant is ended too)."""
    return grant.generation == current_generation and grant.issued_at <= now < expires_at(grant.issued_at, token_days)


def sign_in_code_policy(
    ttl_seconds: int, max_wrong_tries: int, mailbox_codes_per_hour: int, mailbox_codes_per_day: int
) -> CodePolicy:
    """A sign-in code's life and tries, judged like an email code's (`email_code.judge`); a new sign-in issues a
    new code, within the mailbox's limits (the same count as its email codes), rather than resending one."""
    return CodePolicy(
        ttl=dt.timedelta(seconds=ttl_seconds),
        max_wrong_tries=max_wrong_tries,
        resend_interval=dt.timedelta(0),
        resends_per_day=0,
        mailbox_codes_per_hour=mailbox_codes_per_hour,
        mailbox_codes_per_day=mailbox_codes_per_day,
    )
