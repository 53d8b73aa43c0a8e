"""The partner API's purchases (docs/architecture.md, "After acceptance"): a partner asks to debit a member's card, the
member gets a code by email and SMS, the partner confirms with it and gets a voucher; cancel refunds before completion;
completion records the certificate; the member reviews a completed training once.

A purchase names a course of the partner's catalogue at its listed price, and is completed no sooner than the
course's minimum hours after its confirmation. A card has only so many purchases awaiting its code, and is sent
only so many codes an hour, across partners (the card's slots in the throttle store).

A partner sees and changes only its own purchases: another partner's purchase gets the same 404 as an unknown id.
Every decision is the store's conditional write; when one finds that something moved, the purchase and the member
are read again and the decision is made on what they are now.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from functions import clock
from functions.adapters import personal_data
from functions.adapters.purposes import Purpose
from functions.domain import notices
from functions.domain.email_code import CODE_SHAPE, Verdict, judge, new_code
from functions.domain.errors import Conflict, ErrorCode, InvalidField, NotFound, TooManyRequests
from functions.domain.identity import FieldProblem
from functions.domain.membership import (
    Course,
    Membership,
    MembershipState,
    Purchase,
    PurchaseStatus,
    check_comment,
    check_completion_time,
    check_listed_price,
    new_voucher_code,
    single_use_code_policy,
    valid_course_id,
)
from functions.domain.messages import (
    CompletionRequest,
    CourseRequest,
    PurchaseCodeRequest,
    PurchaseRequest,
    ReviewRequest,
)
from functions.domain.requests import parse_body
from functions.observability import logger, metrics
from functions.services import notifications
from functions.services.access import authorised_applicant
from functions.settings import settings
from functions.store import applicants, members, partners, throttle
from functions.store import purchases as store

if TYPE_CHECKING:
    from functions.domain.email_code import CodePolicy

_PURCHASE_ID_SHAPE = re.compile(r"[0-9a-f]{32}")
# Each retry follows a write that lost to another on the same purchase or member; a purchase's states only move
# forward, so a few suffice unless the member's balance keeps moving under it.
_ATTEMPTS = 8
# The card's slots (per member): purchases awaiting the member's code, and codes sent within the window.
_AWAITING = "purchase-awaiting"
_CODES = "purchase-codes"


def policy() -> CodePolicy:
    current = settings()
    return single_use_code_policy(current.purchase_code_ttl_seconds, current.purchase_code_max_wrong_tries)


def _code_hash(purchase_id: str, code: str) -> str:
    # Keyed: a plain hash of six digits would fall to a million guesses.
    return personal_data.lookup_hash("purchase-code", f"{purchase_id}:{code}")


def _not_found() -> NotFound:
    return NotFound(ErrorCode.PURCHASE_NOT_FOUND, "no such purchase", "purchase_id")


def _owned(purchase_id: str, partner_id: str) -> Purchase:
    """The partner's own purchase; unknown ids and other partners' purchases get the same answer."""
    purchase = store.find(purchase_id) if _PURCHASE_ID_SHAPE.fullmatch(purchase_id) else None
    if purchase is None or not hmac.compare_digest(purchase.partner_id, partner_id):
        raise _not_found()
    return purchase


def _reread(purchase: Purchase) -> Purchase:
    latest = store.find(purchase.purchase_id)
    if latest is None:
        raise RuntimeError("a stored purchase is gone")
    return latest


def _settled(purchase: Purchase, attempt: Callable[[Purchase], dict[str, Any] | None]) -> dict[str, Any]:
    """Runs `attempt` on the purchase as read until it answers (None: its write found something moved)."""
    for _ in range(_ATTEMPTS):
        answer = attempt(purchase)
        if answer is not None:
            return answer
        purchase = _reread(purchase)
    raise TooManyRequests(ErrorCode.BUSY, "the purchase is busy; try again shortly", settings().retry_after_seconds)


def _refuse_inactive(member: Membership) -> None:
    if member.state is MembershipState.REVOKED:
        raise Conflict(ErrorCode.MEMBERSHIP_REVOKED, "this membership has been revoked", "card_number")
    if member.state is not MembershipState.ACTIVE:
        raise Conflict(ErrorCode.MEMBERSHIP_NOT_ACTIVE, "this membership can no longer buy trainings", "card_number")


def _refuse_short(member: Membership, price: int) -> None:
    if member.balance < price:
        raise Conflict(ErrorCode.INSUFFICIENT_BALANCE, "the training balance does not cover the price", "price")


def _member(applicant_id: str) -> Membership:
    member = members.find(applicant_id)
    if member is None:
        raise RuntimeError("a purchase's member is gone")
    return member


# --- PUT /partners/courses/{course_id} ----------------------------------------------------------------------------


def list_course(course_id: str, body: bytes, partner_id: str) -> dict[str, Any]:
    """The partner lists a course in its own catalogue, or changes its listing (purchases made keep theirs)."""
    try:
        valid_course_id(course_id)
    except FieldProblem as problem:
        raise InvalidField(problem.code, problem.message, "course_id") from None
    request = parse_body(CourseRequest, body)
    check_listed_price(request.price, settings().training_balance)
    course = Course(partner_id, course_id, request.title, request.price, request.minimum_hours, clock.now())
    partners.list_course(course)
    logger.info("course listed", extra={"partner_id": partner_id, "course_id": course_id})
    return {
        "course_id": course.course_id,
        "title": course.title,
        "price": course.price,
        "minimum_hours": course.minimum_hours,
        "updated_at": course.updated_at.isoformat(),
    }


# --- POST /partners/purchases -------------------------------------------------------------------------------------


def _requested(purchase: Purchase) -> dict[str, Any]:
    return {"purchase_id": purchase.purchase_id, "status": purchase.status.value}


def _same_request(purchase: Purchase, request: PurchaseRequest, member: Membership) -> None:
    """The partner's reference names one request: the same again is a retry, another one a mistake."""
    if (purchase.applicant_id, purchase.course_id, purchase.price) != (
        member.applicant_id,
        request.course_id,
        request.price,
    ):
        raise Conflict(ErrorCode.PURCHASE_REF_REUSED, "this purchase_ref was used for another purchase", "purchase_ref")


def request_purchase(body: bytes, partner_id: str) -> dict[str, Any]:
    """A partner asks to debit a member's card; the member is sent a code. The same `purchase_ref` again gets
    the first purchase's answer."""
    request = parse_body(PurchaseRequest, body)
    member = members.find_by_card(request.card_number)
    if member is None:  # unknown, or never accepted: one answer
        raise NotFound(ErrorCode.CARD_NOT_FOUND, "no member holds this card number", "card_number")
    stored = store.find_by_ref(partner_id, request.purchase_ref)
    if stored is None:
        course = _listed(partner_id, request)
        _refuse_inactive(member)
        _refuse_short(member, request.price)
        stored = _within_limits(_new_purchase(request, course, member, partner_id))
    _same_request(stored, request, member)
    if stored.status is PurchaseStatus.AWAITING_CONFIRMATION and stored.code_sent_at is None:
        notifications.SEND_NOW.send(
            [notices.PurchaseCode(applicant_id=stored.applicant_id, purchase_id=stored.purchase_id)]
        )
    metrics.add_metric(name="PurchaseRequested", unit="Count", value=1)
    logger.info("purchase requested", extra={"purchase_id": stored.purchase_id, "partner_id": partner_id})
    return _requested(stored)


def _listed(partner_id: str, request: PurchaseRequest) -> Course:
    """The partner's own catalogue course the request names, at its listed price."""
    course = partners.find_course(partner_id, request.course_id)
    if course is None:
        raise NotFound(ErrorCode.COURSE_NOT_FOUND, "the partner's catalogue has no such course", "course_id")
    if request.price != course.price:
        raise Conflict(ErrorCode.PRICE_NOT_LISTED, "the price is not the course's listed price", "price")
    return course


def _within_limits(purchase: Purchase) -> Purchase:
    """Stores the purchase with a slot of each of its card's limits; 429 when the card has none free."""
    current = settings()
    now = purchase.created_at
    limits = (
        (_AWAITING, current.purchases_awaiting_per_card, purchase.code_expires_at),
        (_CODES, current.purchase_codes_per_card, now + dt.timedelta(seconds=current.purchase_codes_window_seconds)),
    )
    for _ in range(_ATTEMPTS):
        slots = []
        for kind, size, until in limits:
            free = throttle.free_slot(kind, purchase.applicant_id, size, now)
            if isinstance(free, dt.datetime):
                metrics.add_metric(name="PurchaseLimited", unit="Count", value=1)
                wait = max(1, int((free - now).total_seconds()) + 1)
                raise TooManyRequests(
                    ErrorCode.TOO_MANY_PURCHASES, "this card has too many purchase requests; try again later", wait
                )
            slots.append(throttle.taking_slot(free, purchase.purchase_id, until, now))
        stored = store.request(purchase, *slots)
        if stored is not None:
            return stored
    raise TooManyRequests(ErrorCode.BUSY, "the card is busy; try again shortly", settings().retry_after_seconds)


def _release_awaiting(purchase: Purchase) -> None:
    """The purchase no longer awaits its code: its slot is the card's again."""
    limit = settings().purchases_awaiting_per_card
    throttle.release_slot(_AWAITING, purchase.applicant_id, limit, purchase.purchase_id, clock.now())


def _new_purchase(request: PurchaseRequest, course: Course, member: Membership, partner_id: str) -> Purchase:
    """A new purchase awaiting its code: the code kept as a keyed hash, and sealed to the purchase until sent."""
    now = clock.now()
    purchase_id = uuid.uuid4().hex
    code = new_code()
    return Purchase(
        purchase_id=purchase_id,
        partner_id=partner_id,
        purchase_ref=request.purchase_ref,
        applicant_id=member.applicant_id,
        course_id=course.course_id,
        course_title=course.title,
        price=course.price,
        status=PurchaseStatus.AWAITING_CONFIRMATION,
        created_at=now,
        code_hash=_code_hash(purchase_id, code),
        code_expires_at=now + policy().ttl,
        minimum_hours=course.minimum_hours,
        code_sealed=personal_data.seal_text(code, purchase_id, Purpose.PURCHASE_CODE),
    )


def deliver_code(wanted: notices.PurchaseCode) -> None:
    """The code consumer's part for purchases: sends the purchase's code to its member, by email and SMS, if it is
    still awaited and unsent, at most once (`notifications.deliver_once`)."""
    purchase = store.find(wanted.purchase_id)
    if purchase is None:
        raise LookupError("the purchase is not stored")
    sealed = purchase.code_sealed
    if purchase.status is not PurchaseStatus.AWAITING_CONFIRMATION or purchase.code_sent_at or not sealed:
        return
    applicant = applicants.find(purchase.applicant_id)
    if applicant is None:
        raise RuntimeError("a purchase's member has no applicant record")
    partner = partners.find(purchase.partner_id)
    if partner is None:
        raise RuntimeError("a purchase's partner is gone")
    now = clock.now()
    if notifications.deliver_once(
        "purchase code",
        purchase.code_expires_at,
        now,
        {"purchase_id": purchase.purchase_id},
        take=lambda: store.mark_code_sent(purchase.purchase_id, now),
        send=lambda: notifications.deliver_purchase_code(wanted, applicant, purchase, partner.display_name, sealed),
        give_back=lambda: store.unmark_code_sent(purchase.purchase_id, sealed, now),
    ):
        metrics.add_metric(name="PurchaseCodeSent", unit="Count", value=1)
        logger.info("purchase code sent", extra={"purchase_id": purchase.purchase_id})


# --- POST /partners/purchases/{id}/confirm ------------------------------------------------------------------------


def _confirmation(purchase: Purchase) -> dict[str, Any]:
    return {
        "purchase_id": purchase.purchase_id,
        "status": purchase.status.value,
        "voucher_code": purchase.voucher_code,
        "balance_after": purchase.balance_after,
    }


def _wrong_code() -> InvalidField:
    return InvalidField(ErrorCode.WRONG_CODE, "the code is not right", "code")


def confirm(purchase_id: str, body: bytes, partner_id: str) -> dict[str, Any]:
    """The partner gives the member's code: the balance is debited and a voucher returned; the same again gets the
    same answer."""
    request = parse_body(PurchaseCodeRequest, body)
    if not CODE_SHAPE.fullmatch(request.code):
        raise InvalidField(ErrorCode.INVALID_CODE, "code must be six digits", "code")
    purchase = _owned(purchase_id, partner_id)
    now = clock.now()
    matches = hmac.compare_digest(_code_hash(purchase.purchase_id, request.code), purchase.code_hash)
    return _settled(purchase, lambda current: _confirm(current, matches, now))


def _confirm(purchase: Purchase, matches: bool, now: dt.datetime) -> dict[str, Any] | None:
    if purchase.status in (PurchaseStatus.CONFIRMED, PurchaseStatus.COMPLETED):
        if not matches:
            raise _wrong_code()
        return _confirmation(purchase)
    if purchase.status is PurchaseStatus.CANCELLED:
        raise Conflict(ErrorCode.PURCHASE_CANCELLED, "this purchase was cancelled")
    if now >= purchase.code_expires_at:
        raise Conflict(ErrorCode.PURCHASE_EXPIRED, "the code has expired; ask for the purchase again", "code")
    # Counted before it is compared, in one conditional write: concurrent guesses each get a number of their own.
    tries = store.count_code_try(purchase.purchase_id)
    if tries is None:
        return None  # confirmed or cancelled meanwhile
    verdict = judge(tries, matches, purchase.code_expires_at, now, policy())
    if verdict is Verdict.LOCKED:
        # Purchase codes are never resent: after the code's life the partner asks for the purchase again.
        life_left = int((purchase.code_expires_at - now).total_seconds()) + 1
        raise TooManyRequests(
            ErrorCode.CODE_LOCKED, "too many wrong codes; ask for the purchase again", life_left, "code"
        )
    if verdict is not Verdict.VERIFIED:
        raise _wrong_code()
    return _debit(purchase, now)


def _debit(purchase: Purchase, now: dt.datetime) -> dict[str, Any] | None:
    member = _member(purchase.applicant_id)
    _refuse_inactive(member)
    _refuse_short(member, purchase.price)
    if not store.confirm(purchase, member, new_voucher_code(), now):
        return None  # the member's balance or the purchase moved (or, once in 2^80, the voucher was taken)
    _release_awaiting(purchase)
    metrics.add_metric(name="PurchaseConfirmed", unit="Count", value=1)
    logger.info("purchase confirmed", extra={"purchase_id": purchase.purchase_id})
    return _confirmation(_reread(purchase))


# --- POST /partners/purchases/{id}/cancel -------------------------------------------------------------------------


def _cancellation(purchase: Purchase) -> dict[str, Any]:
    refunded = purchase.price if purchase.confirmed_at is not None else 0
    return {"purchase_id": purchase.purchase_id, "status": purchase.status.value, "refunded": refunded}


def cancel(purchase_id: str, partner_id: str) -> dict[str, Any]:
    """Before completion: cancelled, and a confirmed purchase's price refunded to the member's balance."""
    purchase = _owned(purchase_id, partner_id)
    return _settled(purchase, lambda current: _cancel(current, clock.now()))


def _cancel(purchase: Purchase, now: dt.datetime) -> dict[str, Any] | None:
    if purchase.status is PurchaseStatus.CANCELLED:
        return _cancellation(purchase)
    if purchase.status is PurchaseStatus.COMPLETED:
        raise Conflict(ErrorCode.PURCHASE_COMPLETED, "a completed training cannot be cancelled")
    if not store.cancel(purchase, _member(purchase.applicant_id), now):
        return None
    if purchase.status is PurchaseStatus.AWAITING_CONFIRMATION:
        _release_awaiting(purchase)
    logger.info("purchase cancelled", extra={"purchase_id": purchase.purchase_id})
    return _cancellation(_reread(purchase))


# --- POST /partners/completions -----------------------------------------------------------------------------------


def _completion(purchase: Purchase) -> dict[str, Any]:
    return {
        "purchase_id": purchase.purchase_id,
        "status": purchase.status.value,
        "completed_at": purchase.completed_at.isoformat() if purchase.completed_at else None,
        "certificate_id": purchase.certificate_id,
    }


def complete(body: bytes, partner_id: str) -> dict[str, Any]:
    """The partner reports a confirmed training done, with its certificate; the same again changes nothing."""
    request = parse_body(CompletionRequest, body)
    purchase = _owned(request.purchase_id, partner_id)
    return _settled(purchase, lambda current: _complete(current, request, clock.now()))


def _complete(purchase: Purchase, request: CompletionRequest, now: dt.datetime) -> dict[str, Any] | None:
    if purchase.status is PurchaseStatus.COMPLETED:
        return _completion(purchase)
    if purchase.status is not PurchaseStatus.CONFIRMED or purchase.confirmed_at is None:
        raise Conflict(ErrorCode.PURCHASE_NOT_CONFIRMED, "only a confirmed purchase can be completed", "purchase_id")
    check_completion_time(request.completed_at, purchase.confirmed_at, purchase.minimum_hours, now)
    certified = store.certified(purchase.partner_id, request.certificate_id)
    if certified is not None and certified != purchase.purchase_id:
        raise Conflict(
            ErrorCode.CERTIFICATE_USED, "this certificate_id was reported for another purchase", "certificate_id"
        )
    if not store.complete(purchase, _member(purchase.applicant_id), request.completed_at, request.certificate_id, now):
        return None
    metrics.add_metric(name="PurchaseCompleted", unit="Count", value=1)
    logger.info("purchase completed", extra={"purchase_id": purchase.purchase_id})
    return _completion(_reread(purchase))


# --- POST /applicants/{id}/reviews --------------------------------------------------------------------------------


def review(applicant_id: str, body: bytes, token: str) -> dict[str, Any]:
    """The member reviews one of its completed trainings, once."""
    request = parse_body(ReviewRequest, body)
    check_comment(request.comment, settings().review_comment_max_length)
    applicant = authorised_applicant(applicant_id, token)
    purchase = store.find(request.purchase_id) if _PURCHASE_ID_SHAPE.fullmatch(request.purchase_id) else None
    if applicant is None or purchase is None or purchase.applicant_id != applicant.applicant_id:
        raise _not_found()
    return _settled(purchase, lambda current: _review(current, request, clock.now()))


def _review(purchase: Purchase, request: ReviewRequest, now: dt.datetime) -> dict[str, Any] | None:
    if purchase.status is not PurchaseStatus.COMPLETED:
        raise Conflict(
            ErrorCode.PURCHASE_NOT_COMPLETED, "a training can be reviewed once it is completed", "purchase_id"
        )
    if purchase.reviewed_at is not None:
        raise Conflict(ErrorCode.ALREADY_REVIEWED, "this training has been reviewed already", "purchase_id")
    if not store.review(purchase, _member(purchase.applicant_id), request.rating, request.comment, now):
        return None
    logger.info("purchase reviewed", extra={"purchase_id": purchase.purchase_id})
    return {"purchase_id": purchase.purchase_id, "rating": request.rating, "reviewed_at": now.isoformat()}
