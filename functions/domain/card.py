"""Kartu Prakerja numbers: sixteen digits, unique per (wave, place among the selected), with a Luhn check digit
so that a mistyped number is caught before it reaches anyone's records."""

from __future__ import annotations

PROGRAMME_DIGIT = "7"
MAX_WAVE = 999
MAX_SELECTED = 10**11


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


def card_number(wave: int, selected_index: int) -> str:
    """'7' + wave (3 digits) + place among the wave's selected (11 digits, from 0) + Luhn digit."""
    if not 1 <= wave <= MAX_WAVE or not 0 <= selected_index < MAX_SELECTED:
        raise ValueError("wave or index out of the card number's range")
    body = f"{PROGRAMME_DIGIT}{wave:03d}{selected_index:011d}"
    return body + luhn_digit(body)


def is_valid(number: str) -> bool:
    return len(number) == 16 and number.isdigit() and luhn_digit(number[:-1]) == number[-1]
