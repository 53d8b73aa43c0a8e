"""Training partners, the signatures seen within the replay window (items `seen#<hash>` that DynamoDB's TTL
removes once the window has passed), and each partner's catalogue (items `course#<partner>#<course_id>`)."""

from __future__ import annotations

import datetime as dt

from pynamodb.exceptions import DoesNotExist

from functions.domain.membership import Course
from functions.domain.partners import Partner
from functions.store.models import PartnerRecord, bind, course_key, seen_key
from functions.store.transactions import save_if


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
    seen = PartnerRecord(partner_id=seen_key(replay_key), expires_at=int(forget_after.timestamp()))
    return save_if(seen, PartnerRecord.partner_id.does_not_exist())


def find_course(partner_id: str, course_id: str) -> Course | None:
    """The partner's own course `course_id`, as listed now."""
    bind()
    try:
        record = PartnerRecord.get(course_key(partner_id, course_id), consistent_read=True)
    except DoesNotExist:
        return None
    if record.title is None or record.price is None or record.minimum_hours is None or record.updated_at is None:
        return None
    return Course(
        partner_id=partner_id,
        course_id=course_id,
        title=record.title,
        price=int(record.price),
        minimum_hours=int(record.minimum_hours),
        updated_at=record.updated_at,
    )


def list_course(course: Course) -> None:
    """Lists the course in its partner's catalogue, or replaces its listing (purchases keep what they were sold at)."""
    bind()
    PartnerRecord(
        partner_id=course_key(course.partner_id, course.course_id),
        title=course.title,
        price=course.price,
        minimum_hours=course.minimum_hours,
        updated_at=course.updated_at,
    ).save()
