"""A consumer's walk over one shard of a wave's members (the daily revocation, the daily incentives): a page of the
shard, each member visited within the invocation's time budget, the rest of the shard handed on as a new message
(at once after a full page; after a pause, from the member where it stopped, when throttling or an outside
service used up the time). What differs is the page, the visit and the queue; the walk is this one."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from functions.adapters import queues
from functions.domain import notices
from functions.domain.messages import CohortShard
from functions.observability import metrics
from functions.services import notifications
from functions.services.time_budget import OutOfTime, deadline_of, retrying


class OneOfTheCohort(Protocol):
    @property
    def applicant_id(self) -> str: ...


Shard = TypeVar("Shard", bound=CohortShard)
Member = TypeVar("Member", bound=OneOfTheCohort)
Shard_co = TypeVar("Shard_co", bound=CohortShard, covariant=True)


class ShardRecord(Protocol[Shard_co]):
    @property
    def messageId(self) -> str: ...  # noqa: N802 - SQS's name

    @property
    def body(self) -> Shard_co: ...


Visit = Callable[[Member], list[notices.Told]]


class CohortWalk(ABC, Generic[Shard, Member]):
    throttled_metric: str  # each throttled retry
    handed_on_metric: str  # each shard handed on unfinished
    pause_seconds: int  # before a shard stopped early is taken again
    interruptions: tuple[type[Exception], ...] = (OutOfTime,)

    def __init__(self, context: Any = None) -> None:
        self.deadline = deadline_of(context)

    @abstractmethod
    def page(self, shard: Shard) -> tuple[list[Member], str | None]:
        """A page of the shard's members from after `shard.after`, and where the next page starts (None: done)."""

    @abstractmethod
    def visitor(self, shard: Shard) -> Visit[Member]:
        """What is done to each member of a page (it may read, once a page, what the visits share)."""

    @abstractmethod
    def queue_url(self) -> str:
        """The queue the shard's rest goes back on."""

    def _retrying(self, call: Callable[[], Any]) -> Any:
        return retrying(call, self.deadline, self.throttled_metric)

    def walk(self, record: ShardRecord[Shard], sends: notifications.BatchSends) -> None:
        shard = record.body
        told: list[notices.Told] = []
        done_up_to = shard.after
        try:
            members, rest = self._retrying(functools.partial(self.page, shard))
            visit = self.visitor(shard)
            for member in members:
                told.extend(self._retrying(functools.partial(visit, member)))
                done_up_to = member.applicant_id
            if rest is not None:
                self._hand_on(shard, rest, 0)
        except self.interruptions:
            self._hand_on(shard, done_up_to, self.pause_seconds)
            metrics.add_metric(name=self.handed_on_metric, unit="Count", value=1)
        sends.for_message(record.messageId).send(told)

    def _hand_on(self, shard: BaseModel, after: str | None, delay_seconds: int) -> None:
        rest = shard.model_copy(update={"after": after})
        queues.send_later(self.queue_url(), rest.model_dump_json(), delay_seconds)
