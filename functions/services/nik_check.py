"""The NIK-check consumer: ask the civil registry, decide NIK and eligibility, store it once, tell the applicant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from pydantic import ValidationError

from functions import clock
from functions.adapters import personal_data
from functions.adapters.civil_registry import registry
from functions.domain.eligibility import Decision, DeclaredPerson, EligibilityRules, RegistryPerson, verify_and_decide
from functions.domain.lifecycle import FunnelStage, Status
from functions.domain.messages import NikCheckRequest
from functions.observability import logger, metrics
from functions.services import notifications
from functions.settings import settings
from functions.store import applicants
from functions.store.models import ApplicantRecord

if TYPE_CHECKING:
    from functions.services.sqs_records import NikCheckRecord

DECIDED = frozenset({Status.NIK_REJECTED.value, Status.ELIGIBLE.value, Status.INELIGIBLE.value})

LookedUp = tuple[DeclaredPerson, RegistryPerson | None]
_looked_ahead: ContextVar[dict[str, tuple[ApplicantRecord, Future[LookedUp]]]] = ContextVar("looked_ahead")


def rules() -> EligibilityRules:
    current = settings()
    return EligibilityRules(
        min_age=current.min_age,
        max_age=current.max_age,
        barred_occupations=frozenset(o.upper() for o in current.barred_occupations),
        priority_employment=frozenset(current.priority_employment),
    )


@contextmanager
def looking_ahead(bodies: Iterable[str]) -> Iterator[None]:
    """Reads a batch's applicants in one call and looks them up in the registry one after another on a thread of
    its own, while `check_record` stores each decision: a record's writes overlap the next look-up, and the
    registry still sees one look-up in flight per consumer, so the concurrency cap is what bounds it."""
    wanted = []
    for body in bodies:
        try:
            wanted.append(NikCheckRequest.model_validate_json(body).applicant_id)
        except ValidationError:
            continue  # the batch processor fails this record on its own
    try:
        found = applicants.find_many(wanted)
    except Exception:  # only a head start: without it each record reads its own applicant, as SQS retries would
        logger.warning("could not read the batch's applicants ahead; checking them one by one")
        found = {}
    waiting = [a for a in found.values() if a.status == Status.EMAIL_VERIFIED.value]
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-lookahead")
    token = _looked_ahead.set({a.applicant_id: (a, executor.submit(_look_up, a)) for a in waiting})
    try:
        yield
    finally:
        _looked_ahead.reset(token)
        executor.shutdown(wait=True, cancel_futures=True)


def check_record(record: NikCheckRecord) -> None:
    applicant_id = record.body.applicant_id
    ahead = _looked_ahead.get({}).get(applicant_id)
    applicant = ahead[0] if ahead else applicants.find(applicant_id)
    if applicant is None:
        raise LookupError("a NIK check for an applicant that is not stored")
    status: str = applicant.status
    reason: str | None = applicant.reason
    if status == Status.EMAIL_VERIFIED.value:
        decision = _decide(applicant, ahead[1].result() if ahead else _look_up(applicant))
        if decision is None:  # another consumer decided first
            latest = applicants.find(applicant_id) or applicant
            status, reason = latest.status, latest.reason
        else:
            status, reason = decision.status.value, decision.reason
    if status in DECIDED:
        # Also on a redelivery: the notification consumer delivers each notification once.
        request = notifications.nik_result_request(applicant_id, status, reason)
        notifications.queue([request], for_message=record.messageId)


def _look_up(applicant: ApplicantRecord) -> LookedUp:
    """What the applicant declared, and what the registry holds for its NIK."""
    person = personal_data.open_json(applicant.personal_data, applicant.applicant_id)
    declared = DeclaredPerson(person["nik"], person["full_name"], dt.date.fromisoformat(person["birth_date"]))
    return declared, registry().lookup(declared.nik)  # RegistryUnavailable fails the record: SQS brings it back


def _decide(applicant: ApplicantRecord, looked_up: LookedUp) -> Decision | None:
    """Decides NIK and eligibility; the decision if this call stored it, else None."""
    declared, registered = looked_up
    decision = verify_and_decide(declared, registered, applicant.employment_status, clock.today_in_jakarta(), rules())
    now = clock.now()
    actions = [ApplicantRecord.status.set(decision.status.value), ApplicantRecord.nik_checked_at.set(now)]
    if decision.reason:
        actions.append(ApplicantRecord.reason.set(decision.reason))
    if registered is not None and decision.status is not Status.NIK_REJECTED:
        # The registry is the authority on the family card (the KK cap) and on social aid (the tier).
        actions += [
            ApplicantRecord.family.set(personal_data.lookup_hash("family", registered.kk_number)),
            ApplicantRecord.social_aid.set(registered.social_aid),
        ]
    if decision.tier is not None:
        actions.append(ApplicantRecord.tier.set(decision.tier))
    moved = applicants.transition(
        applicant.applicant_id,
        Status.EMAIL_VERIFIED,
        actions,
        now=now,
        counted=_stages_reached(decision),
        counter_shards=settings().counter_shards,
    )
    if not moved:
        return None
    metrics.add_metric(name="NikChecked", unit="Count", value=1)
    logger.info(
        "NIK checked",
        extra={"applicant_id": applicant.applicant_id, "status": decision.status.value, "reason": decision.reason},
    )
    return decision


def _stages_reached(decision: Decision) -> list[FunnelStage]:
    if decision.status is Status.NIK_REJECTED:
        return []
    return (
        [FunnelStage.NIK_VERIFIED, FunnelStage.ELIGIBLE]
        if decision.status is Status.ELIGIBLE
        else [FunnelStage.NIK_VERIFIED]
    )
