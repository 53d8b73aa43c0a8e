"""What no log line may hold, and the scan that looks for it in the logs the local stacks wrote.

Every e2e test that runs a local stack of its own checks that stack's logs with `leaks_in_logs`; the stacks the
e2e tests share are checked together, after all of them, in test_intake_over_http.py.
"""

from __future__ import annotations

import base64
import csv
import json
import re
from collections.abc import Collection, Sequence
from pathlib import Path

from devstack.outbox import EMAIL_CODE, PURCHASE_CODE, OutboxFollower
from devstack.population import Person
from functions.domain.card import is_valid as is_card_number

PII_PATTERNS = {
    "a NIK or KK (16 digits)": re.compile(r"(?<![0-9A-Za-z])[0-9]{16}(?![0-9A-Za-z])"),
    "an email address": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+"),
    "an Indonesian mobile number": re.compile(r"(?<![0-9A-Za-z.])(?:\+62|0)8[0-9]{8,11}(?![0-9A-Za-z])"),
}


def personal_data_in(text: str, people: Sequence[Person], operators: Collection[str] = ()) -> list[str]:
    """What in `text` looks like, or is, personal data of the people the tests used (shown truncated). The
    operators' accounts an admin action records by name (who released a claim, who forced a close) are not."""
    for operator in operators:
        text = text.replace(operator, "")
    found = [
        f"{what}: {m.group()[:4]}..."
        for what, pattern in PII_PATTERNS.items()
        for m in pattern.finditer(text)
        if not is_card_number(m.group())  # Kartu Prakerja numbers are public to their holder, not personal data
    ]
    for person in people:
        if person.full_name in text:
            found.append(f"a name: {person.full_name[:3]}...")
    return found


def dumped_items(items: object) -> str:
    """DynamoDB items as JSON text for the scan, binary (sealed) values as base64: their `repr` would show random
    ciphertext bytes as characters, which now and then spell something email-shaped (`\\x0c@a.b`)."""
    return json.dumps(items, default=lambda v: base64.b64encode(v).decode() if isinstance(v, bytes) else str(v))


# What no log line may hold either, though the store keeps them (sealed, hashed, or as the holder's own).
SECRET_PATTERNS = {
    "a voucher code (16 base32 characters)": re.compile(r"(?<![A-Za-z0-9_])[A-Z2-7]{16}(?![A-Za-z0-9_])"),
    "a partner secret or a signature (64 hex digits)": re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{64}(?![0-9A-Za-z])"),
}
CARD_SHAPE = PII_PATTERNS["a NIK or KK (16 digits)"]
SIX_DIGITS = re.compile(r"(?<![0-9A-Za-z.])[0-9]{6}(?![0-9A-Za-z])")  # after a "." a fraction of a second


def codes_sent(outboxes: list[Path]) -> set[str]:
    """Every email and purchase code these outboxes sent to applicants and members."""
    return {
        message["code"]
        for path in outboxes
        for message in OutboxFollower(path).messages(EMAIL_CODE, PURCHASE_CODE)
        if message.get("code")
    }


def secrets_in_a_log(text: str, codes: Collection[str]) -> list[str]:
    """What in a log's `text` is a card number, a voucher code, a partner's secret or a request's signature, or one
    of the `codes` sent."""
    found = [f"a card number: {m.group()[:4]}..." for m in CARD_SHAPE.finditer(text) if is_card_number(m.group())]
    found += [
        f"{what}: {m.group()[:4]}..." for what, pattern in SECRET_PATTERNS.items() for m in pattern.finditer(text)
    ]
    found += [f"a code sent: {m.group()[:2]}..." for m in SIX_DIGITS.finditer(text) if m.group() in codes]
    return found


DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]{6,20}(?![0-9])")


def account_numbers_given(root: Path) -> set[str]:
    """Every payout account number the local payment providers under `root` were given."""
    numbers = set()
    for path in root.rglob("payout-accounts.csv"):
        with path.open(newline="") as rows:
            numbers.update(row["account_number"] for row in csv.DictReader(rows))
    return numbers


def stack_logs(root: Path) -> list[Path]:
    """Every log the local stacks under `root` wrote (a stack writes its processes' logs to its `logs` folder)."""
    return [path for path in root.rglob("*.log") if path.parent.name == "logs"]


def leaks_in_logs(root: Path, people: Sequence[Person] = ()) -> dict[str, list[str]]:
    """The logs under `root` (named relative to it) holding personal data, a secret, or a code one of the outboxes
    under `root` sent, or an account number its payment providers were given, each with what was found; `people`
    adds their names to what is looked for."""
    codes = codes_sent(list(root.rglob("outbox.jsonl")))
    accounts = account_numbers_given(root)
    found = {}
    for path in stack_logs(root):
        text = path.read_text(errors="replace")
        leaks = [*personal_data_in(text, people), *secrets_in_a_log(text, codes)]
        leaks += [f"an account number: {m.group()[:2]}..." for m in DIGIT_RUN.finditer(text) if m.group() in accounts]
        if leaks:
            found[str(path.relative_to(root))] = leaks
    return found
