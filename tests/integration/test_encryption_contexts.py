"""Each kind of secret is sealed under an encryption context of its own (adapters.purposes), and KMS (moto checks
the context as AWS does) opens it under that context only: a role allowed one purpose cannot open another kind."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.adapters import personal_data
from functions.adapters.purposes import KEYRING_PREFIX, Purpose
from functions.store import keyring

KEYRING = [purpose for purpose in Purpose if purpose.value.startswith(KEYRING_PREFIX)]
# What the envelope seals (the wave and partner secrets and draw seeds have adapters of their own).
SEALED_RECORDS = [
    Purpose.APPLICANT_DATA,
    Purpose.PAYOUT_ACCOUNT,
    Purpose.IDEMPOTENCY_ANSWER,
    Purpose.EMAIL_CODE,
    Purpose.PURCHASE_CODE,
]


@pytest.mark.parametrize("purpose", SEALED_RECORDS)
def test_a_sealed_record_opens_under_its_own_purpose_only(aws: Any, purpose: Purpose) -> None:
    sealed = personal_data.seal_text("1234567890", "owner-1", purpose)
    assert personal_data.open_text(sealed, "owner-1", purpose) == "1234567890"
    for other in set(SEALED_RECORDS) - {purpose}:
        with pytest.raises(ClientError) as refused:
            personal_data.open_text(sealed, "owner-1", other)
        assert refused.value.response["Error"]["Code"] == "InvalidCiphertextException", other


def test_the_kinds_of_secret_have_contexts_of_their_own(aws: Any) -> None:
    assert len({purpose.value for purpose in Purpose}) == len(Purpose)
    assert {purpose.keyring_name for purpose in KEYRING} == {"lookup-pepper", "access-token", "admin-token"}
    with pytest.raises(ValueError, match="not a keyring secret"):
        _ = Purpose.PAYOUT_ACCOUNT.keyring_name


def test_each_keyring_secret_opens_under_its_own_purpose_only(aws: Any) -> None:
    kms = boto3.client("kms")
    for purpose in KEYRING:
        secret = personal_data.keyring_secret(purpose)
        sealed = keyring.read_sealed(purpose.keyring_name)
        assert sealed is not None
        assert kms.decrypt(CiphertextBlob=sealed, EncryptionContext={"purpose": purpose.value})["Plaintext"] == secret
        for other in set(Purpose) - {purpose}:
            with pytest.raises(ClientError) as refused:
                kms.decrypt(CiphertextBlob=sealed, EncryptionContext={"purpose": other.value})
            assert refused.value.response["Error"]["Code"] == "InvalidCiphertextException", other
