"""The NIK-check consumer: ask the civil registry, decide NIK and eligibility, store it once, tell the applicant."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from functions import clock
from functions.adapters import personal_data
from functions.adapters.civil_registry import registry
from functions.domain.eligibility import Decision, DeclaredPerson, EligibilityRules, verify_and_decide
from functions.domain.lifecycle import FunnelStage, Status
from functions.observability import logger, metrics
from functions.services import notifications
from functions.settings import settings
from functions.store import applicants
from functions.store.models import ApplicantRecord

if TYPE_CHECKING:
    from functions.services.sqs_records import NikCheckRecord

DECIDED = frozenset({Status.NIK_REJECTED.value, Status.ELIGIBLE.value, Status.INELIGIBLE.value})


def rules() -> EligibilityRules:
    current = settings()
    return EligibilityRules(
        min_age=current.min_age,
        max_age=current.max_age,
        barred_occupations=frozenset(o.upper() for o in current.barred_occupations),
        priority_employment=frozenset(current.priority_employment),
    )


def check_record(record: NikCheckRecord) -> None:
    applicant_id = record.body.applicant_id
    applicant = applicants.find(applicant_id)
    if applicant is None:
        raise LookupError("a NIK check for an applicant that is not stored")
    status: str = applicant.status
    reason: str | None = applicant.reason
    if status == Status.EMAIL_VERIFIED.value:
        decision = _decide(applicant)
        if decision is None:  # another consumer decided first
            latest = applicants.find(applicant_id) or applicant
            status, reason = latest.status, latest.reason
        else:
            status, reason = decision.status.value, decision.reason
    if status in DECIDED:
        # Also on a redelivery: the notification consumer delivers each notification once.
        request = notifications.nik_result_request(applicant_id, status, reason)
        notifications.queue([request], for_message=record.messageId)


def _decide(applicant: ApplicantRecord) -> Decision | None:
    """Checks the NIK and decides eligibility; the decision if this call stored it, else None."""
    person = personal_data.open_json(applicant.personal_data, applicant.applicant_id)
    declared = DeclaredPerson(person["nik"], person["full_name"], dt.date.fromisoformat(person["birth_date"]))
    registered = registry().lookup(declared.nik)  # RegistryUnavailable fails this record: SQS brings it back
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
