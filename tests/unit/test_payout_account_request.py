"""`PUT /applicants/{id}/payout-account` bodies: a provider of the programme's (in any case), an account number
of digits and the one-time code; anything else is a 400 naming the field, never repeating the number."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.domain import rules
from functions.domain.errors import InvalidField
from functions.domain.messages import PayoutAccountRequest
from functions.domain.requests import parse_body
from functions.web import status_of

PROGRAMME = {"providers": rules.PAYOUT_PROVIDERS}
CODE = {"code": "123456"}  # the one-time code a change needs (its shape and worth are the service's to judge)


def parsed(body: Any) -> PayoutAccountRequest:
    return parse_body(PayoutAccountRequest, json.dumps(body).encode(), PROGRAMME)


def test_a_provider_in_any_case_and_a_number_of_digits_are_taken() -> None:
    request = parsed({**CODE, "provider": " gopay", "account_number": "081234567890"})
    assert (request.provider, request.account_number) == ("GOPAY", "081234567890")
    assert parsed({**CODE, "provider": "BRI", "account_number": "012301230123045"}).provider == "BRI"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({**CODE, "provider": "PAYPAL", "account_number": "081234567890"}, "provider", "UNKNOWN_PROVIDER"),
        ({**CODE, "provider": "", "account_number": "081234567890"}, "provider", "UNKNOWN_PROVIDER"),
        ({**CODE, "provider": 7, "account_number": "081234567890"}, "provider", "WRONG_TYPE"),
        ({**CODE, "account_number": "081234567890"}, "provider", "MISSING_FIELD"),
        ({**CODE, "provider": "OVO", "account_number": "0812-3456-7890"}, "account_number", "INVALID_ACCOUNT_NUMBER"),
        ({**CODE, "provider": "OVO", "account_number": "+6281234567890"}, "account_number", "INVALID_ACCOUNT_NUMBER"),
        ({**CODE, "provider": "OVO", "account_number": "1234567"}, "account_number", "INVALID_ACCOUNT_NUMBER"),
        ({**CODE, "provider": "OVO", "account_number": "1" * 21}, "account_number", "INVALID_ACCOUNT_NUMBER"),
        ({**CODE, "provider": "OVO", "account_number": "٠٨١٢٣٤٥٦٧٨٩٠"}, "account_number", "INVALID_ACCOUNT_NUMBER"),
        ({**CODE, "provider": "OVO", "account_number": 81234567890}, "account_number", "WRONG_TYPE"),
        ({**CODE, "provider": "OVO"}, "account_number", "MISSING_FIELD"),
        ({**CODE, "provider": "OVO", "account_number": "081234567890", "pin": "1234"}, "pin", "UNKNOWN_FIELD"),
        ({"provider": "OVO", "account_number": "081234567890"}, "code", "MISSING_FIELD"),
        ({"code": 123456, "provider": "OVO", "account_number": "081234567890"}, "code", "WRONG_TYPE"),
    ],
)
def test_a_bad_field_is_a_400_naming_it_without_its_value(body: dict[str, Any], field: str, code: str) -> None:
    with pytest.raises(InvalidField) as refused:
        parsed(body)
    assert (refused.value.field, refused.value.code, status_of(refused.value)) == (field, code, 400)
    assert str(body.get("account_number")) not in refused.value.message


def test_a_body_that_is_no_object_is_a_400() -> None:
    for body in (b"[]", b"not json", b""):
        with pytest.raises(InvalidField) as refused:
            parse_body(PayoutAccountRequest, body, PROGRAMME)
        assert status_of(refused.value) == 400
