"""Waves: open, join, close, draw, publish, carry over. Every step is due-driven and idempotent: the schedules
and the admin routes call the same functions, and running any of them twice changes nothing."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from functions import clock
from functions.adapters import beacon, draw_seeds, queues, results, wave_secrets
from functions.domain import notices
from functions.domain.calendar import WaveCalendar, wave_times
from functions.domain.card import new_card_number
from functions.domain.draw import DrawRules, draw_id, manifest, ranked_list_lines, run_draw
from functions.domain.errors import Conflict, ErrorCode, NotFound
from functions.domain.lifecycle import Applicant, Status
from functions.domain.membership import MembershipTerms
from functions.domain.messages import ApplicantIdRequest, CloseRequest, PublishChunk
from functions.domain.requests import parse_body
from functions.domain.wave import DrawOutcome, EarlyClose, PoolReading, Step, Wave, WaveState, closes_early, next_step
from functions.observability import logger, metrics
from functions.services import notifications, pool_reading
from functions.services.access import authorised_applicant
from functions.services.time_budget import OutOfTime, deadline_of, retrying
from functions.settings import settings
from functions.store import applicants, revocations
from functions.store import waves as store

if TYPE_CHECKING:
    from functions.services.sqs_records import PublishRecord

# How long a handed-on remainder of a chunk waits before it is taken again (functions.services.time_budget).
_HAND_ON_DELAY_SECONDS = 5

T = TypeVar("T")

# Enough steps for a few missed weeks; publication is asynchronous, so one call never runs past it.
_MAX_STEPS = 12
# A clash of random card numbers is about one in 10^14 per card already issued; a few new numbers settle it.
_CARD_ATTEMPTS = 8


def calendar() -> WaveCalendar:
    return settings().wave_calendar


def _new_wave(number: int, opens_at: dt.datetime) -> Wave:
    current = settings()
    commitment, sealed = draw_seeds.new_seed(number)
    return Wave(
        number=number,
        state=WaveState.OPEN,
        times=wave_times(opens_at, calendar()),
        quota=current.wave_quota,
        kk_cap=current.kk_cap,
        province_quotas=dict(current.province_quotas),
        commitment=commitment,
        sealed_seed=sealed,
        sealed_secret=wave_secrets.new_secret(number),
    )


def open_wave(now: dt.datetime) -> Wave:
    """The wave open now. Only the closing functions call this: a fresh deployment's wave 1 (its seed made, its
    commitment published) is opened by their first run, never by the API, which may not make draw seeds."""
    number = store.current_number()
    if number is None:
        store.open_first(_new_wave(1, now))
        number = store.current_number() or 1
    wave = store.find(number)
    assert wave is not None, "the pointer names a wave that does not exist"
    return wave


def public_view(wave: Wave) -> dict[str, Any]:
    return {
        "number": wave.number,
        "state": wave.state.value,
        "opens_at": wave.times.opens_at.isoformat(),
        "closes_at": wave.times.closes_at.isoformat(),
        "publish_at": wave.times.publish_at.isoformat(),
        "quota": wave.quota,
        "commitment": wave.commitment,
    }


def current() -> dict[str, Any]:
    number = store.current_number()
    wave = store.find(number) if number is not None else None
    if wave is None:
        raise NotFound(ErrorCode.NO_OPEN_WAVE, "no wave is open yet: the closing schedule opens wave 1")
    return public_view(wave)


# --- join -----------------------------------------------------------------------------------------------------


def join(wave_number: int, body: bytes, token: str) -> dict[str, Any]:
    """ELIGIBLE -> JOINED. The wave is not read first: the join's transaction checks that it is open, and only
    when the transaction refuses is the applicant read again, to say whether it or the wave was the reason."""
    request = parse_body(ApplicantIdRequest, body)
    applicant = _may_join(authorised_applicant(request.applicant_id, token))
    now = clock.now()
    if not store.join(applicant, wave_number, now):
        _may_join(applicants.find(applicant.applicant_id))
        raise Conflict(ErrorCode.WAVE_NOT_OPEN, f"wave {wave_number} is not open", "number")
    metrics.add_metric(name="WaveJoined", unit="Count", value=1)
    return {"applicant_id": applicant.applicant_id, "status": Status.JOINED.value, "wave": wave_number}


def _may_join(applicant: Applicant | None) -> Applicant:
    """The applicant when it is ELIGIBLE; otherwise the refusal that says why (409)."""
    if applicant is not None and applicant.status is Status.ELIGIBLE:
        return applicant
    if applicant is not None and applicant.status is Status.JOINED:
        raise Conflict(ErrorCode.ALREADY_JOINED, f"already in wave {applicant.wave}")
    status = Status.PENDING if applicant is None else applicant.status
    raise Conflict(ErrorCode.NOT_ELIGIBLE, f"only ELIGIBLE applicants may join a wave (status {status})")


# --- the schedule: whatever is due, in order ------------------------------------------------------------------


def advance(now: dt.datetime) -> list[str]:
    """Does every step that is due at `now`, oldest wave first; returns what it did."""
    done: list[str] = []
    for _ in range(_MAX_STEPS):
        wave = store.oldest_unpublished(open_wave(now))
        step = next_step(wave.state, wave.times.closes_at, wave.times.publish_at, now, wave.pool_reading)
        number = wave.number
        if step is Step.CLOSE:
            close(number, now)
        elif step is Step.READ:
            read(number)
        elif step is Step.DRAW:
            try:
                draw(number)
            except beacon.BeaconNotYet:
                logger.info("draw waits for the beacon", extra={"wave": number})
                break
        elif step is Step.PUBLISH:
            publish(number)
            done.append(f"{step.value} {number}")
            break  # publication runs on the publish queue; the next step waits for it
        else:
            break
        done.append(f"{step.value} {number}")
    logger.info("waves advanced", extra={"steps": done, "at": now.isoformat()})
    return done


def _refuse_out_of_order(number: int) -> None:
    if number > 1:
        previous = store.find(number - 1)
        if previous is None or previous.state is not WaveState.PUBLISHED:
            raise Conflict(
                ErrorCode.PREVIOUS_WAVE_UNPUBLISHED, f"wave {number - 1} must be published before wave {number} closes"
            )


def close(number: int, now: dt.datetime, early: EarlyClose | None = None) -> None:
    """OPEN -> CLOSED, and the next wave opens at the same moment (with its own commitment); `early` records an
    admin's forced close before `closes_at`."""
    wave = store.find(number)
    if wave is None or not wave.is_open:
        return
    _refuse_out_of_order(number)
    if store.close_and_open_next(number, now, _new_wave(number + 1, now), early):
        metrics.add_metric(name="WaveClosed", unit="Count", value=1)
        logger.info("wave closed", extra={"wave": number})


def read(number: int) -> None:
    """CLOSED: the frozen pool goes to the workers to be read in parts (`services.pool_reading`)."""
    wave = store.find(number)
    if wave is not None:
        pool_reading.queue_parts(wave)


def draw(number: int) -> None:
    """CLOSED -> SELECTED once every part of the pool is read: the seed is revealed and the draw runs on the
    frozen pool, assembled from its parts; its files are written."""
    wave = store.find(number)
    if (
        wave is None
        or wave.state is not WaveState.CLOSED
        or wave.sealed_seed is None
        or wave.pool_reading is not PoolReading.DONE
    ):
        return
    seed = draw_seeds.reveal(number, wave.sealed_seed)
    beacon_value = beacon.value_after(wave.times.closes_at)
    # The places revocations freed while this wave was open; final, since none is counted once it has closed.
    refill = revocations.refill(number)
    rules = DrawRules(quota=wave.quota + refill, kk_cap=wave.kk_cap, province_quotas=wave.province_quotas)
    pool, family_acceptances = pool_reading.read_pool(number)
    result = run_draw(
        pool,
        seed,
        rules,
        family_acceptances,
        bytes.fromhex(beacon_value.randomness) if beacon_value else None,
        wave_secret=wave_secrets.secret_of(wave),
    )
    list_key = results.ranked_list_key(number)
    list_sha256 = results.put_lines(list_key, ranked_list_lines(result))
    published = manifest(
        result,
        wave=number,
        seed=seed,
        beacon=beacon_value.as_manifest() if beacon_value else None,
        ranked_list={"name": "ranked-list.csv", "sha256": list_sha256},
        early_close=wave.early_close.as_manifest() if wave.early_close else None,
        refill=refill,
    )
    results.put_json(results.manifest_key(number), published)
    store.record_selection(
        number,
        DrawOutcome(
            seed=seed.hex(),
            pool_size=len(result.pool),
            pool_digest=result.pool_digest,
            selected_count=result.selected_count,
            manifest_key=results.manifest_key(number),
            ranked_list_key=list_key,
        ),
    )
    logger.info("wave drawn", extra={"wave": number, "pool": len(result.pool), "selected": result.selected_count})


def _selected_draw_ids(number: int) -> set[str]:
    lines = iter(results.get_lines(results.ranked_list_key(number)))
    next(lines, None)  # the header
    return {columns[1] for columns in (line.split(",") for line in lines) if columns[-1] == "true"}


def _chunks(wave: Wave, chunk_size: int) -> list[PublishChunk]:
    """The pool in slices, each applicant with whether it was selected. The ranked list names draw ids only;
    the pool's store records hold the applicant ids, whose draw ids the wave secret gives again."""
    number = wave.number
    selected = _selected_draw_ids(number)
    secret = wave_secrets.secret_of(wave)
    entries = [(applicant_id, draw_id(secret, applicant_id) in selected) for applicant_id in store.member_ids(number)]
    return [
        PublishChunk(wave=number, chunk=index, entries=entries[start : start + chunk_size])
        for index, start in enumerate(range(0, len(entries), chunk_size))
    ]


def publish(number: int) -> None:
    """SELECTED -> (chunks on the publish queue) -> PUBLISHED when every chunk is done.

    The chunks are queued once; a call that finds them planned but not all queued (the last one stopped in
    between) queues the ones not done again, which is harmless: each applicant's change is conditional.
    """
    wave = store.find(number)
    if wave is None or wave.state is not WaveState.SELECTED or wave.chunks_queued_at is not None:
        return
    chunks = _chunks(wave, settings().publish_chunk_size)
    store.plan_publication(number, len(chunks))
    if not chunks:
        store.mark_published_if_complete(number, 0, clock.now())
        return
    queues.send_all(
        settings().publish_queue_url, [c.model_dump_json() for c in chunks if c.chunk not in wave.chunks_done]
    )
    store.chunks_queued(number, clock.now())
    logger.info("wave publishing", extra={"wave": number, "chunks": len(chunks)})


def _terms() -> MembershipTerms:
    current = settings()
    return MembershipTerms(balance=current.training_balance, first_purchase_days=current.first_purchase_days)


def _accept(applicant: Applicant, wave: int, now: dt.datetime) -> str | None:
    """Accepts a selected applicant with a new random card number, drawing another while the number is taken.
    Returns the card it holds (the one of the first time, when a chunk is applied again), or None if it moved on."""
    latest: Applicant | None = applicant
    for _ in range(_CARD_ATTEMPTS):
        if latest is None or latest.status is Status.ACCEPTED:
            return None if latest is None else latest.card_number
        if latest.status is not Status.JOINED or latest.wave != wave:
            return None
        card = new_card_number()
        if store.accept(applicant.applicant_id, wave, card, family=applicant.family, terms=_terms(), now=now):
            return card
        latest = applicants.find(applicant.applicant_id)  # moved on, or the number is taken: look again
    raise RuntimeError("no free card number after several tries")


def _retrying(call: Callable[[], T], deadline: float) -> T:
    return retrying(call, deadline, "PublishThrottled")


class ChunkPublisher:
    """The publish consumer's record handler, with the invocation's time budget (Lambda's remaining time, less
    a margin to hand the rest on). A chunk keeps what it finished: its applicants are read in one BatchGetItem,
    throttled calls back off and retry, and when the time runs out the members not yet done go back on the queue
    as a new, smaller message (its own receive count), so a run of throttles delays a chunk rather than sending
    it to the dead-letter queue. Members already accepted or carried over are skipped by their conditional
    transitions, so a chunk applied again repeats no work."""

    def __init__(self, context: Any = None) -> None:
        self.deadline = deadline_of(context)

    def apply_chunk(self, record: PublishRecord, sends: notifications.BatchSends) -> None:
        """Accepts the selected (with their cards) and carries the others into the next wave, then tells them."""
        chunk = record.body
        now = clock.now()
        told: list[notices.Told] = []
        sender = sends.for_message(record.messageId)
        ids = [applicant_id for applicant_id, _ in chunk.entries]
        done = 0
        try:
            found = _retrying(functools.partial(applicants.find_many, ids), self.deadline)
            for applicant_id, selected in chunk.entries:
                if applicant_id not in found:
                    raise LookupError("a drawn applicant is missing")
                one = functools.partial(_publish_one, found[applicant_id], selected, chunk.wave, now)
                told.extend(_retrying(one, self.deadline))
                done += 1
            _retrying(functools.partial(_chunk_finished, chunk.wave, chunk.chunk, now), self.deadline)
        except OutOfTime:
            # The members not done go on; when all were, an empty rest is left to note the chunk done.
            self._hand_on(chunk, done)
        sender.send(told)

    def _hand_on(self, chunk: PublishChunk, index: int) -> None:
        rest = PublishChunk(wave=chunk.wave, chunk=chunk.chunk, entries=chunk.entries[index:])
        queues.send_later(settings().publish_queue_url, rest.model_dump_json(), _HAND_ON_DELAY_SECONDS)
        metrics.add_metric(name="PublishChunkHandedOn", unit="Count", value=1)
        logger.warning(
            "publish chunk handed on",
            extra={"wave": chunk.wave, "chunk": chunk.chunk, "done": index, "left": len(rest.entries)},
        )


def _publish_one(applicant: Applicant, selected: bool, wave: int, now: dt.datetime) -> list[notices.Told]:
    """One member's result, idempotent: a member accepted or carried over already (as read) is not written again,
    only told again (notices are sent once by their ids)."""
    if selected:
        card = _accept(applicant, wave, now)
        return [] if card is None else [notices.Acceptance(applicant_id=applicant.applicant_id, wave=wave)]
    carried = applicant.status is Status.JOINED and applicant.previous_wave == wave and applicant.wave == wave + 1
    if not carried:
        store.carry_over(applicant, wave, now)
    return [notices.NotSelected(applicant_id=applicant.applicant_id, wave=wave)]


def _chunk_finished(number: int, chunk: int, now: dt.datetime) -> None:
    store.chunk_done(number, chunk)
    wave = store.find(number)
    if wave is None or wave.chunk_count is None:
        return
    if len(wave.chunks_done) == wave.chunk_count and store.mark_published_if_complete(number, wave.chunk_count, now):
        metrics.add_metric(name="WavePublished", unit="Count", value=1)
        logger.info("wave published", extra={"wave": number})


# --- results and admin ------------------------------------------------------------------------------------------


def published_results(number: int) -> dict[str, Any]:
    wave = store.find(number)
    if wave is None or wave.state is not WaveState.PUBLISHED or wave.drawn is None:
        raise NotFound(ErrorCode.RESULTS_NOT_PUBLISHED, f"wave {number} has no published results", "number")
    document = results.get_json(wave.drawn.manifest_key)
    return {
        **document,
        "published_at": wave.published_at.isoformat() if wave.published_at else None,
        "ranked_list_url": results.link(wave.drawn.ranked_list_key),
        "manifest_url": results.link(wave.drawn.manifest_key),
    }


def admin_close(number: int, request: CloseRequest | None = None, admin: str = "") -> dict[str, Any]:
    """The schedule's close, now: the pool goes to the workers, and the draw follows when they have read it (at
    once when they already have). Idempotent, and refused out of order. Before the wave's `closes_at` only with
    `force` and a reason, and the manifest then records who (`admin`), why and when."""
    request = request or CloseRequest()
    now = clock.now()
    open_wave(now)
    wave = store.find(number)
    if wave is None:
        raise NotFound(ErrorCode.NO_SUCH_WAVE, f"there is no wave {number}", "number")
    early = None
    if wave.is_open and closes_early(wave.times.closes_at, now):
        _refuse_out_of_order(number)
        if not request.force:
            raise Conflict(
                ErrorCode.WAVE_NOT_DUE,
                f"wave {number} closes at {wave.times.closes_at.isoformat()}; an early close needs force and a reason",
                "force",
            )
        early = EarlyClose(by=admin or "unknown", reason=request.reason or "", at=now)
    close(number, now, early)
    read(number)
    draw(number)
    return public_view(store.find(number) or wave)


def admin_publish(number: int) -> dict[str, Any]:
    wave = store.find(number)
    if wave is None:
        raise NotFound(ErrorCode.NO_SUCH_WAVE, f"there is no wave {number}", "number")
    if wave.state in (WaveState.OPEN, WaveState.CLOSED):
        raise Conflict(ErrorCode.WAVE_NOT_SELECTED, f"wave {number} has not been drawn yet", "number")
    publish(number)
    return public_view(store.find(number) or wave)
