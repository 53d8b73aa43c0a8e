"""The programme's rule values as the 2020-21 regulations set them: the one home of each default.

`functions/settings.py` takes its defaults from here, and a deployment may change most of them through the
environment (`PRAKERJA_MIN_AGE`, `PRAKERJA_KK_CAP`, ...). The wave calendar is the exception: the EventBridge
schedules (`functions/schedules.py`) are derived from `WAVE_CLOSE` and `WAVE_PUBLISH` when Chalice packages
the app, so a deployed function refuses a calendar that differs from them (change it here and package again).
Texts shown to applicants render these values from what they are given, never from literals of their own.
"""

from __future__ import annotations

from typing import Final

# The weekly calendar, in WIB (Asia/Jakarta): a wave closes on Thursday 16:00 and is published on Friday 10:00.
WAVE_CLOSE: Final = "THU 16:00"
WAVE_PUBLISH: Final = "FRI 10:00"

# Who may join: aged 18-64 when eligibility is decided, and not of these occupations (the civil registry's codes).
MIN_AGE: Final = 18
MAX_AGE: Final = 64
BARRED_OCCUPATIONS: Final = (
    "ASN",
    "TNI",
    "POLRI",
    "STATE_OFFICIAL",
    "DPRD",
    "VILLAGE_HEAD",
    "VILLAGE_OFFICIAL",
    "BUMN_DIRECTOR",
    "BUMN_COMMISSIONER",
    "BUMD_DIRECTOR",
    "BUMD_COMMISSIONER",
)
# Served first: those who lost work or income to the pandemic.
PRIORITY_EMPLOYMENT: Final = ("laid_off", "furloughed", "micro_business")

# The draw: at most this many recipients per family card (KK), over all waves.
KK_CAP: Final = 2
# Wave 1's quota: 2020's first wave.
WAVE_QUOTA: Final = 164_000

# Email codes: a day's life, five wrong tries, a new code at most once a minute and five times a day.
EMAIL_CODE_TTL_SECONDS: Final = 24 * 3600
EMAIL_CODE_MAX_WRONG_TRIES: Final = 5
EMAIL_CODE_RESEND_INTERVAL_SECONDS: Final = 60
EMAIL_CODE_RESENDS_PER_DAY: Final = 5
# Code emails to one mailbox (its keyed hash), whoever asks: at most three an hour and ten a day.
MAILBOX_CODES_PER_HOUR: Final = 3
MAILBOX_CODES_PER_DAY: Final = 10

# Access tokens last 30 days; a new one is had by signing in with a code sent to the verified email, which lives
# ten minutes and allows five wrong tries.
ACCESS_TOKEN_DAYS: Final = 30
SIGN_IN_CODE_TTL_SECONDS: Final = 10 * 60
SIGN_IN_CODE_MAX_WRONG_TRIES: Final = 5

# After acceptance: the training balance granted on acceptance (rupiah), and the days the member has to buy a first
# training before the membership is revoked; the daily revocation runs at 00:05 WIB.
TRAINING_BALANCE: Final = 1_000_000
FIRST_PURCHASE_DAYS: Final = 30
REVOCATION_TIME: Final = "00:05"
# Purchase codes (the member's consent): fifteen minutes' life, five wrong tries.
PURCHASE_CODE_TTL_SECONDS: Final = 15 * 60
PURCHASE_CODE_MAX_WRONG_TRIES: Final = 5
# A payout account changes only with a fresh code sent to the member's verified email and phone.
PAYOUT_ACCOUNT_CODE_TTL_SECONDS: Final = 10 * 60
PAYOUT_ACCOUNT_CODE_MAX_WRONG_TRIES: Final = 5
PAYOUT_ACCOUNT_CODES_PER_HOUR: Final = 3
PAYOUT_ACCOUNT_CODES_WINDOW_SECONDS: Final = 3600  # the hour those codes are counted in
# A card has at most this many purchases awaiting its code, and is sent at most this many codes an hour, across
# partners (a partner must not be able to flood a member with requests).
PURCHASES_AWAITING_PER_CARD: Final = 3
PURCHASE_CODES_PER_CARD: Final = 5
PURCHASE_CODES_WINDOW_SECONDS: Final = 3600
# A partner's catalogue: the longest minimum duration a course may declare (hours).
COURSE_MINIMUM_HOURS_MAX: Final = 1_000
# A partner's signed request is good this long either side of now, and a signature is never taken twice in it.
PARTNER_SIGNATURE_WINDOW_SECONDS: Final = 300
# Reviews: a rating of 1-5 and a comment of at most this many characters.
REVIEW_COMMENT_MAX_LENGTH: Final = 1_000

# Incentives: Rp600,000 four times, the first when the first training is completed and reviewed and a payout
# account is verified, each next one 30 days after the previous; the daily schedule runs at 09:00 WIB.
INCENTIVE_AMOUNT: Final = 600_000
INCENTIVE_COUNT: Final = 4
INCENTIVE_INTERVAL_DAYS: Final = 30
INCENTIVE_TIME: Final = "09:00"
# The daily reconciliation with the payment provider's statement (after the day's payments).
RECONCILIATION_TIME: Final = "23:30"
# The payout accounts the programme pays into: e-wallets and banks.
PAYOUT_PROVIDERS: Final = ("OVO", "GOPAY", "DANA", "LINKAJA", "SHOPEEPAY", "BNI", "BRI", "MANDIRI", "BCA", "BTN")
