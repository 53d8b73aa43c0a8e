"""`GET /applicants/{id}`: the applicant's own view of its record, personal data masked."""

from __future__ import annotations

from typing import Any

from functions.adapters import wave_secrets
from functions.domain.draw import draw_id
from functions.domain.identity import mask_nik
from functions.domain.lifecycle import Applicant, Status, shown_status
from functions.services import access, membership
from functions.store import waves


def _status_shown(applicant: Applicant) -> Status:
    wave = waves.find(applicant.wave) if applicant.status is Status.JOINED and applicant.wave is not None else None
    return shown_status(applicant.status, None if wave is None else wave.is_open)


def draw_ids(applicant_id: str, latest_wave: int | None) -> dict[str, str]:
    """The applicant's draw id in each wave it joined, by wave number: how it finds its rows in the published
    ranked lists, which name nobody (each wave's ids are keyed with that wave's unpublished secret)."""
    if latest_wave is None:
        return {}
    found: dict[str, str] = {}
    for number in waves.waves_joined(applicant_id, latest_wave):
        wave = waves.find(number)
        if wave is not None and wave.sealed_secret is not None:
            found[str(number)] = draw_id(wave_secrets.secret_of(wave), applicant_id)
    return found


def view(applicant_id: str, token: str) -> dict[str, Any]:
    applicant = access.authorised_applicant(applicant_id, token)
    if applicant is None:
        return {"applicant_id": applicant_id, "status": Status.PENDING.value, "reason": None}
    shown = _shown(applicant)
    if applicant.status is Status.ACCEPTED:
        shown["membership"] = membership.member_view(applicant.applicant_id)
    return shown


def _shown(applicant: Applicant) -> dict[str, Any]:
    return {
        "applicant_id": applicant.applicant_id,
        "status": _status_shown(applicant).value,
        "reason": applicant.reason,
        "wave": applicant.wave,
        "card_number": applicant.card_number,
        "draw_ids": draw_ids(applicant.applicant_id, applicant.wave),
        "previous_wave": applicant.previous_wave,
        "previous_result": applicant.previous_result,
        "tier": applicant.tier,
        "nik": mask_nik(applicant.nik_last4),
        "regency_code": applicant.regency_code,
        "submitted_at": applicant.submitted_at.isoformat(),
        "created_at": applicant.created_at.isoformat(),
        "updated_at": applicant.updated_at.isoformat(),
    }
