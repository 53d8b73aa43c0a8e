"""A consumer's head start: the applicants a whole SQS batch is about, read in one call (a BatchGetItem per 100)
before its records are handled one by one, instead of one GetItem a record."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from pydantic import ValidationError

from functions.domain.lifecycle import Applicant
from functions.observability import logger
from functions.store import applicants


class _ForAnApplicant(Protocol):
    @property
    def applicant_id(self) -> str: ...


def applicants_of(bodies: Iterable[str], parse: Callable[[str], _ForAnApplicant]) -> dict[str, Applicant]:
    """The stored applicants the batch's messages (`bodies`, each read by `parse`) name, by id; none when the read
    fails, so that each record reads its own applicant, as it would on SQS's retry."""
    wanted = []
    for body in bodies:
        try:
            wanted.append(parse(body).applicant_id)
        except ValidationError:
            continue  # the batch processor fails this record on its own
    try:
        return applicants.find_many(wanted)
    except Exception:  # only a head start
        logger.warning("could not read the batch's applicants ahead; reading them one by one")
        return {}
