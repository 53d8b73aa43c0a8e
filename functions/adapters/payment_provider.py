"""The payment provider behind one small interface, and its HTTP JSON client.

Its protocol (the local one, `devstack.payment_provider`, speaks it too):

    POST /v1/account-inquiries {"provider", "account_number"}    -> 200 the account, or 404
    POST /v1/transfers (header Idempotency-Key) {"provider", "account_number", "amount", "description"}
                                                                 -> 200 {"idempotency_key", "status", ...}
    GET  /v1/transfers/{idempotency key}                         -> 200 what it holds for the key, or 404
    GET  /v1/statement?since=&until=&offset=                     -> 200 {"lines": [...], "next_offset"}

Account numbers travel in bodies, never in URLs (which access logs keep). The client is as gentle as the civil
registry's (`functions.adapters.http_client`), with one difference that matters: the reads (inquiry, transfer
status, statement) change nothing and are retried with backoff and jitter, but a transfer is sent once. Once it
may have reached the provider, a failure is `TransferOutcomeUnknown`, and the caller asks `transfer_status` for
the same idempotency key before anything is sent again: no member is ever paid twice.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import urllib.parse
from typing import Any, Protocol, TypeVar

from pydantic import TypeAdapter, ValidationError
from urllib3.exceptions import ConnectTimeoutError, HTTPError, MaxRetryError
from urllib3.util import Retry

from functions import caches
from functions.adapters.http_client import BACKOFF_FACTOR, BACKOFF_JITTER, JsonService
from functions.domain.payments import AccountInquiry, StatementLine, TransferResult

INQUIRY_PATH = "/v1/account-inquiries"
TRANSFERS_PATH = "/v1/transfers"
STATEMENT_PATH = "/v1/statement"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class ProviderUnavailable(Exception):
    """The provider did not answer usably, and nothing was taken: the call may simply be made again later."""


class TransferOutcomeUnknown(Exception):
    """A transfer may or may not have been taken (it timed out, the connection broke, the provider answered with
    an error): ask `transfer_status` with the same idempotency key before sending anything again."""


class PaymentProvider(Protocol):
    def inquire(self, provider: str, account_number: str) -> AccountInquiry | None:
        """The provider's record of the account (holder, NIK, KYC, status), or None when it has no such account."""

    def transfer(
        self, idempotency_key: str, provider: str, account_number: str, amount: int, description: str
    ) -> TransferResult:
        """Pays `amount` rupiah once for this key: PAID, or FAILED with the provider's reason. The same key again
        answers what the first payment did and moves nothing more."""

    def transfer_status(self, idempotency_key: str) -> TransferResult | None:
        """What the provider holds for this key, or None when it never took a transfer with it."""

    def statement(self, since: dt.datetime, until: dt.datetime | None = None) -> list[StatementLine]:
        """Every payment the provider made at or after `since` (and before `until`), in the order it made them."""


Parsed = TypeVar("Parsed")


# Each reader is built on first use: building them all at import would lengthen every cold start.
_readers: dict[Any, TypeAdapter[Any]] = {}


def parsed(kind: type[Parsed], data: bytes | Any) -> Parsed:
    """The provider's JSON (bytes, or a part already decoded) as one of our values, by pydantic. A malformed
    document is a ValueError, which the breaker does not count, naming where it is wrong but never a value:
    pydantic's own message would quote account numbers, NIKs and names into whatever logs it."""
    reader: TypeAdapter[Parsed] = _readers.get(kind) or _readers.setdefault(kind, TypeAdapter(kind))
    try:
        return reader.validate_json(data) if isinstance(data, bytes) else reader.validate_python(data)
    except ValidationError as error:
        wrong = sorted(
            {".".join(map(str, found["loc"])) or found["type"] for found in error.errors(include_input=False)}
        )
        raise ValueError(f"the provider's answer is malformed at {', '.join(wrong)}") from None


class HttpPaymentProvider(JsonService):
    unavailable = ProviderUnavailable

    @functools.cached_property
    def transfer_retry(self) -> Retry:
        """Only a connection that was never made is tried again: then the provider cannot have seen the transfer.
        Read errors and error statuses are not (and POST is not among urllib3's retryable methods anyway)."""
        return Retry(
            total=self.retries,
            connect=self.retries,
            read=0,
            status=0,
            other=0,
            redirect=0,
            raise_on_status=False,
            backoff_factor=BACKOFF_FACTOR,
            backoff_jitter=BACKOFF_JITTER,
        )

    def inquire(self, provider: str, account_number: str) -> AccountInquiry | None:
        return self.call(lambda: self._inquire(provider, account_number))

    def _inquire(self, provider: str, account_number: str) -> AccountInquiry | None:
        # A POST, so that the account number stays out of URLs; it changes nothing, so it is retried like a read.
        answer = self.send("POST", INQUIRY_PATH, {"provider": provider, "account_number": account_number})
        if answer.status == 404:
            return None
        return parsed(AccountInquiry, _answered(answer.status, answer.data))

    def transfer(
        self, idempotency_key: str, provider: str, account_number: str, amount: int, description: str
    ) -> TransferResult:
        body = {"provider": provider, "account_number": account_number, "amount": amount, "description": description}
        return self.call(lambda: self._transfer(idempotency_key, body))

    def _transfer(self, idempotency_key: str, body: dict[str, Any]) -> TransferResult:
        headers = {IDEMPOTENCY_HEADER: idempotency_key}
        try:
            answer = self.send("POST", TRANSFERS_PATH, body, headers=headers, retries=self.transfer_retry)
        except MaxRetryError as error:
            if isinstance(error.reason, ConnectTimeoutError):  # never connected: nothing was sent
                raise ProviderUnavailable(type(error.reason).__name__) from None
            raise TransferOutcomeUnknown(type(error.reason).__name__) from None
        except HTTPError as error:  # a read timeout or a broken connection after the request went out
            raise TransferOutcomeUnknown(type(error).__name__) from None
        if answer.status != 200:
            raise TransferOutcomeUnknown(f"provider answered {answer.status}")
        return parsed(TransferResult, answer.data)

    def transfer_status(self, idempotency_key: str) -> TransferResult | None:
        return self.call(lambda: self._transfer_status(idempotency_key))

    def _transfer_status(self, idempotency_key: str) -> TransferResult | None:
        answer = self.send("GET", f"{TRANSFERS_PATH}/{urllib.parse.quote(idempotency_key, safe='')}")
        if answer.status == 404:
            return None
        return parsed(TransferResult, _answered(answer.status, answer.data))

    def statement(self, since: dt.datetime, until: dt.datetime | None = None) -> list[StatementLine]:
        lines: list[StatementLine] = []
        offset: int | None = 0
        while offset is not None:  # page by page, each page a call of its own under the ceiling
            page = self.call(functools.partial(self._statement_page, since, until, offset))
            lines += parsed(list[StatementLine], page["lines"])
            offset = page.get("next_offset")
        return lines

    def _statement_page(self, since: dt.datetime, until: dt.datetime | None, offset: int) -> dict[str, Any]:
        query = {"since": since.isoformat(), "offset": offset} | ({} if until is None else {"until": until.isoformat()})
        answer = self.send("GET", f"{STATEMENT_PATH}?{urllib.parse.urlencode(query)}")
        document: dict[str, Any] = json.loads(_answered(answer.status, answer.data))
        return document


def _answered(status: int, data: bytes) -> bytes:
    if status != 200:
        raise ProviderUnavailable(f"provider answered {status}")
    return data


@caches.per_process
def payment_provider(containers: int, share: float = 1.0) -> PaymentProvider:
    """The provider client of a consumer that takes `share` of the provider's ceiling and runs at most
    `containers` containers at once."""
    return HttpPaymentProvider.from_settings("payment_provider", containers, share)
