"""The encryption context of each kind of secret: its `purpose`, the one home of these names.

Every secret sealed with KMS names its kind in the encryption context, so that each function's role may open only
the kinds its code opens (template.yaml's `kms:EncryptionContext:purpose` conditions, checked by
tests/packaging/test_least_privilege.py): a role that may read payout accounts cannot open the admin-token key,
and one that may open an applicant's data cannot read an account number. Per-record parts (the applicant id as
associated data, the wave number, the partner id) are bound as well, by each adapter.
"""

from __future__ import annotations

from enum import StrEnum

KEYRING_PREFIX = "keyring:"


class Purpose(StrEnum):
    APPLICANT_DATA = "applicant-data"  # what a registration declared (name, NIK, KK, birth date, email, phone)
    PAYOUT_ACCOUNT = "payout-account"  # a member's account number
    IDEMPOTENCY_ANSWER = "idempotency-answer"  # a keyed registration's first answer (its access token)
    EMAIL_CODE = "email-code"  # an applicant's email code until it is sent
    PURCHASE_CODE = "purchase-code"  # a purchase's consent code until it is sent
    SIGN_IN_CODE = "sign-in-code"  # a sign-in code, sealed in its message until the code consumer sends it
    PAYOUT_ACCOUNT_CODE = "payout-account-code"  # a member's code to change its payout account, until it is sent
    PARTNER_SECRET = "partner-secret"  # noqa: S105 - a name; a training partner's signing secret
    WAVE_SECRET = "wave-secret"  # noqa: S105 - a name; a wave's secret (draw ids, family pseudonyms)
    DRAW_SEED = "draw-seed"  # a wave's draw seed, under a key of its own
    # The keyring's secrets, one each: a keyring key is named by its purpose without the prefix.
    LOOKUP_PEPPER = KEYRING_PREFIX + "lookup-pepper"
    ACCESS_TOKEN_KEY = KEYRING_PREFIX + "access-token"
    ADMIN_TOKEN_KEY = KEYRING_PREFIX + "admin-token"

    @property
    def keyring_name(self) -> str:
        if not self.value.startswith(KEYRING_PREFIX):
            raise ValueError(f"{self.value} is not a keyring secret")
        return self.value.removeprefix(KEYRING_PREFIX)
