"""A local payment provider beside the local civil registry: a small real HTTP service that speaks the provider
client's protocol (`functions.adapters.payment_provider`).

- Account inquiries answer from `PRAKERJA_PAYOUT_ACCOUNTS_CSV` (columns `provider,account_number,holder_name,nik,
  kyc,status`), read again when the file changes.
- Transfers are keyed by their idempotency key: the same key twice moves money once and answers the first payment.
  A transfer to an unknown, non-KYC or BLOCKED account FAILS with that reason and moves nothing, so its key may be
  sent again once the account is fixed.
- The statement lists what it paid, in order.

Its faults are the stand-ins' (`devstack.stand_in`: `up`, `slow`, `down`, `error`, `hang`) and one of its own,
`timeout-after-commit`: it takes a transfer (the money moves) and then does not answer until long after the client
has given up; reads are answered as usual. `POST /_control` also takes `{"now": ISO time}`, which sets the clock
its payments are stamped with (it then runs on from there), so that a run on the scheduler's clock reconciles by
that clock. It never logs a request: the bodies are account numbers, NIKs and names.

Run as `python -m devstack.payment_provider --port PORT --csv PATH`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from devstack.stand_in import CsvColumns, CsvRecords, StandIn, StandInHandler, StandInServer, serve_from_command_line
from functions.adapters.payment_provider import IDEMPOTENCY_HEADER, INQUIRY_PATH, STATEMENT_PATH, TRANSFERS_PATH
from functions.domain.payments import AccountInquiry, AccountStatus, TransferStatus, transfer_refusal

COLUMNS = CsvColumns(("provider", "account_number", "holder_name", "nik", "kyc", "status"), booleans=frozenset({"kyc"}))
TIMEOUT_AFTER_COMMIT = "timeout-after-commit"
STATEMENT_PAGE = 1000


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Writes payout accounts (dicts with COLUMNS; `kyc` as true/false, `status` ACTIVE or BLOCKED), atomically."""
    COLUMNS.write(path, rows)


def _account_key(provider: str, account_number: str) -> tuple[str, str]:
    return provider.strip().upper(), account_number.strip()


@dataclass(frozen=True)
class Transfer:
    idempotency_key: str
    provider: str
    account_number: str
    amount: int
    status: TransferStatus
    reason: str | None
    paid_at: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        """The answer to a transfer and its status, and a line of the statement."""
        return {**dataclasses.asdict(self), "paid_at": None if self.paid_at is None else self.paid_at.isoformat()}


class Provider(StandIn):
    modes: ClassVar[frozenset[str]] = StandIn.modes | {TIMEOUT_AFTER_COMMIT}

    def __init__(self, csv_path: Path) -> None:
        super().__init__()
        self.csv_path = csv_path
        self.accounts = CsvRecords(
            csv_path, COLUMNS, key=lambda row: _account_key(str(row["provider"]), str(row["account_number"]))
        )
        self.transfers: dict[str, Transfer] = {}
        self.paid: list[Transfer] = []  # the statement, in the order paid
        self.clock_offset = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.clock_offset

    def control(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if "now" in body:
            with self.lock:
                self.clock_offset = dt.datetime.fromisoformat(body["now"]) - dt.datetime.now(dt.UTC)
        return super().control(body)

    def stats(self) -> dict[str, Any]:
        found = super().stats()
        with self.lock:
            return {
                **found,
                "paid": len(self.paid),
                "paid_amount": sum(transfer.amount for transfer in self.paid),
                "now": self.now().isoformat(),
            }

    def inquiry(self, provider: str, account_number: str) -> AccountInquiry | None:
        with self.lock:
            row = self.accounts.get(_account_key(provider, account_number))
        if row is None:
            return None
        return AccountInquiry(
            provider=row["provider"],
            account_number=row["account_number"],
            holder_name=row["holder_name"],
            nik=row["nik"],
            kyc=row["kyc"],
            status=AccountStatus(row["status"].strip().upper()),
        )

    def transfer(self, key: str, provider: str, account_number: str, amount: int) -> Transfer:
        """Pays once per key: what the key already holds is read, and the payment recorded, under one lock, so
        two requests with the same key at once still pay once."""
        refusal = transfer_refusal(self.inquiry(provider, account_number))
        with self.lock:
            earlier = self.transfers.get(key)
            if earlier is not None and earlier.status is TransferStatus.PAID:
                return earlier
            if refusal is None:
                done = Transfer(key, provider, account_number, amount, TransferStatus.PAID, None, self.now())
                self.paid.append(done)
            else:
                done = Transfer(key, provider, account_number, amount, TransferStatus.FAILED, refusal.value, None)
            self.transfers[key] = done
            return done

    def transfer_for(self, key: str) -> Transfer | None:
        with self.lock:
            return self.transfers.get(key)

    def statement(self, since: dt.datetime, until: dt.datetime | None, offset: int) -> dict[str, Any]:
        with self.lock:
            lines = [
                transfer.as_json()
                for transfer in self.paid
                if transfer.paid_at is not None
                and transfer.paid_at >= since
                and (until is None or transfer.paid_at < until)
            ]
        page = lines[offset : offset + STATEMENT_PAGE]
        more = offset + STATEMENT_PAGE < len(lines)
        return {"lines": page, "next_offset": offset + STATEMENT_PAGE if more else None}


def _moment(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment


def handler_for(provider: Provider) -> type[StandInHandler]:
    class Handler(StandInHandler):
        stand_in = provider

        def on_get(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path.startswith(TRANSFERS_PATH + "/"):
                self._served(lambda: self._transfer_status(urllib.parse.unquote(url.path[len(TRANSFERS_PATH) + 1 :])))
            elif url.path == STATEMENT_PATH:
                self._served(lambda: self._statement(urllib.parse.parse_qs(url.query)))
            else:
                super().on_get()

        def on_post(self, body: dict[str, Any]) -> None:
            if self.path == INQUIRY_PATH:
                self._served(lambda: self._inquiry(body))
            elif self.path == TRANSFERS_PATH:
                self._transfer(body)
            else:
                super().on_post(body)

        def _served(self, work: Callable[[], None]) -> None:
            with provider.serving() as mode:
                if not self.faulted(mode):
                    work()

        def _inquiry(self, body: dict[str, Any]) -> None:
            found = provider.inquiry(str(body.get("provider", "")), str(body.get("account_number", "")))
            if found is None:
                self.answer(404, {"found": False})
            else:
                self.answer(200, dataclasses.asdict(found))

        def _transfer_status(self, key: str) -> None:
            found = provider.transfer_for(key)
            if found is None:
                self.answer(404, {"found": False})
            else:
                self.answer(200, found.as_json())

        def _statement(self, query: dict[str, list[str]]) -> None:
            try:
                since = _moment(query["since"][0])
                until = _moment(query["until"][0]) if "until" in query else None
                offset = int(query.get("offset", ["0"])[0])
            except (KeyError, ValueError):
                self.answer(400, {"error": "since is required; since and until are ISO times with an offset"})
                return
            self.answer(200, provider.statement(since, until, offset))

        def _transfer(self, body: dict[str, Any]) -> None:
            with provider.serving() as mode:
                if self.faulted(mode):
                    return
                key = self.headers.get(IDEMPOTENCY_HEADER, "")
                amount = body.get("amount")
                if not key or not isinstance(amount, int) or amount <= 0:
                    self.answer(400, {"error": f"{IDEMPOTENCY_HEADER} and a positive whole amount are required"})
                    return
                done = provider.transfer(
                    key, str(body.get("provider", "")), str(body.get("account_number", "")), amount
                )
                if mode == TIMEOUT_AFTER_COMMIT:  # taken, and then silence until the client has given up
                    time.sleep(provider.hang_seconds)
                    self.drop()
                    return
                self.answer(200, done.as_json())

    return Handler


ProviderServer = StandInServer[Provider]


def serve(port: int, csv_path: Path) -> ProviderServer:
    return StandInServer(port, Provider(csv_path), handler_for)


def main() -> None:
    serve_from_command_line(serve, __doc__)


if __name__ == "__main__":
    main()
