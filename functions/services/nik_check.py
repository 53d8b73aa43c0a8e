"""The NIK-check consumer: ask the civil registry, decide NIK and eligibility, store it once, tell the applicant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING

from functions import clock
from functions.adapters import personal_data
from functions.adapters.civil_registry import CivilRegistry, registry
from functions.adapters.purposes import Purpose
from functions.domain import notices
from functions.domain.eligibility import Decision, DeclaredPerson, EligibilityRules, RegistryPerson, verify_and_decide
from functions.domain.lifecycle import REGISTRY_DECISIONS, Applicant, Status
from functions.domain.messages import NikCheckRequest
from functions.observability import logger, metrics
from functions.services import notifications, read_ahead
from functions.settings import settings
from functions.store import applicants

if TYPE_CHECKING:
    from functions.services.sqs_records import NikCheckRecord

LookedUp = tuple[DeclaredPerson, RegistryPerson | None]


def rules() -> EligibilityRules:
    current = settings()
    return EligibilityRules(
        min_age=current.min_age,
        max_age=current.max_age,
        barred_occupations=frozenset(o.upper() for o in current.barred_occupations),
        priority_employment=frozenset(current.priority_employment),
    )


class BatchLookAhead:
    """One SQS batch of NIK checks: reads the batch's applicants in one call and looks them up in the registry one
    after another on a thread of its own, while `check_record` stores each decision: a record's writes overlap the
    next look-up, and the registry still sees one look-up in flight per consumer, so the concurrency cap is what
    bounds it. Use it as a context manager around the batch."""

    def __init__(self, bodies: Iterable[str]) -> None:
        found = read_ahead.applicants_of(bodies, NikCheckRequest.model_validate_json)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-lookahead")
        self._ahead: dict[str, tuple[Applicant, Future[LookedUp]]] = {
            applicant.applicant_id: (applicant, self._executor.submit(look_up, applicant, registry()))
            for applicant in found.values()
            if applicant.status is Status.EMAIL_VERIFIED
        }

    def __enter__(self) -> BatchLookAhead:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def check_record(self, record: NikCheckRecord, sends: notifications.BatchSends) -> None:
        applicant_id = record.body.applicant_id
        ahead = self._ahead.get(applicant_id)
        applicant = ahead[0] if ahead else applicants.find(applicant_id)
        if applicant is None:
            raise LookupError("a NIK check for an applicant that is not stored")
        status, reason = applicant.status, applicant.reason
        if status is Status.EMAIL_VERIFIED:
            decision = _decide(applicant, ahead[1].result() if ahead else look_up(applicant, registry()))
            if decision is None:  # another consumer decided first
                latest = applicants.find(applicant_id) or applicant
                status, reason = latest.status, latest.reason
            else:
                status, reason = decision.status, decision.reason
        if status in REGISTRY_DECISIONS or status is Status.REJECTED:
            # Also on a redelivery: the notification consumer delivers each notification once.
            request = notices.NikResult(applicant_id=applicant_id, status=status.value, reason=reason)
            sends.for_message(record.messageId).send([request])


def look_up(applicant: Applicant, civil_registry: CivilRegistry) -> LookedUp:
    """What the applicant declared, and what the registry holds for its NIK (asked through the caller's client,
    with the caller's share of the registry's ceiling)."""
    person = personal_data.open_json(applicant.personal_data, applicant.applicant_id, Purpose.APPLICANT_DATA)
    declared = DeclaredPerson(
        person["nik"], person["kk_number"], person["full_name"], dt.date.fromisoformat(person["birth_date"])
    )
    return declared, civil_registry.lookup(declared.nik)  # RegistryUnavailable fails the record: SQS brings it back


def _decide(applicant: Applicant, looked_up: LookedUp) -> Decision | None:
    """Decides NIK and eligibility; the decision if this call stored it, else None."""
    declared, registered = looked_up
    decision = verify_and_decide(declared, registered, applicant.employment_status, clock.today_in_jakarta(), rules())
    # The registry is the authority on the family card (the KK cap) and on social aid (the tier).
    family, social_aid = None, None
    if registered is not None and decision.status is not Status.NIK_REJECTED:
        family, social_aid = personal_data.lookup_hash("family", registered.kk_number), registered.social_aid
    outcome, duplicate = applicants.record_registry_decision(
        applicant, decision, family=family, social_aid=social_aid, now=clock.now()
    )
    if outcome is applicants.Claimed.MOVED_ON:
        return None
    if outcome is applicants.Claimed.DUPLICATE:  # another registration of this NIK was confirmed first
        decision = Decision(Status.REJECTED, reason=duplicate)
    metrics.add_metric(name="NikChecked", unit="Count", value=1)
    logger.info(
        "NIK checked",
        extra={"applicant_id": applicant.applicant_id, "status": decision.status.value, "reason": decision.reason},
    )
    return decision
