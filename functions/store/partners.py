"""Training partners, and the signatures seen within the replay window (items `seen#<hash>` that DynamoDB's TTL
removes once the window has passed)."""

from __future__ import annotations

import datetime as dt

from pynamodb.exceptions import DoesNotExist

from functions.domain.partners import Partner
from functions.store.models import PartnerRecord, bind
from functions.store.transactions import save_if

_SEEN = "seen#"


def find(partner_id: str) -> Partner | None:
    bind()
    try:
        record = PartnerRecord.get(partner_id, consistent_read=True)
    except DoesNotExist:
        return None
    if record.sealed_secret is None or record.created_at is None or record.rotated_at is None:
        return None
    return Partner(
        partner_id=record.partner_id,
        display_name=record.display_name or record.partner_id,
        sealed_secret=record.sealed_secret,
        created_at=record.created_at,
        rotated_at=record.rotated_at,
    )


def save(partner: Partner) -> None:
    """Creates the partner, or rotates its secret (the record is replaced; `created_at` is the caller's to keep)."""
    bind()
    PartnerRecord(
        partner_id=partner.partner_id,
        display_name=partner.display_name,
        sealed_secret=partner.sealed_secret,
        created_at=partner.created_at,
        rotated_at=partner.rotated_at,
    ).save()


def first_sighting(replay_key: str, forget_after: dt.datetime) -> bool:
    """Remembers a signature until `forget_after`; False when it was seen already (a replay)."""
    seen = PartnerRecord(partner_id=_SEEN + replay_key, expires_at=int(forget_after.timestamp()))
    return save_if(seen, PartnerRecord.partner_id.does_not_exist())
