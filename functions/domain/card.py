"""Kartu Prakerja numbers: sixteen digits, the programme digit, fourteen random digits (from the operating
system's CSPRNG) and a Luhn check digit, so that a mistyped number is caught before it reaches anyone's records.

A card number says nothing about its wave or its holder's place in the ranked list, so the published list cannot
be mapped to cards (the partner API takes card numbers). Uniqueness is the store's: acceptance claims the number
with a conditional write and draws a new one on a clash (`functions.store.waves.accept`).
"""

from __future__ import annotations

import secrets

PROGRAMME_DIGIT = "7"
RANDOM_DIGITS = 14


def luhn_digit(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_card_number() -> str:
    """'7' + 14 random digits + Luhn digit: 10^14 possible numbers, none derived from anything public."""
    body = PROGRAMME_DIGIT + f"{secrets.randbelow(10**RANDOM_DIGITS):0{RANDOM_DIGITS}d}"
    return body + luhn_digit(body)


def is_valid(number: str) -> bool:
    return len(number) == 16 and number.isdigit() and luhn_digit(number[:-1]) == number[-1]
