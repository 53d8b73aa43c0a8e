"""Least privilege, on the merged template that is deployed: each function has a role of its own, and that role
(with the key policies) allows exactly what the function's code reaches: no table, queue, key, bucket or function
it does not use, and nothing it does use missing.

`USES` is the specification: for each function, each resource (by logical id) with the actions its code calls
on it, and the code path that calls them. A change that makes a function reach something new must add the line
here and the permission in `template.yaml`; a permission nobody uses any more fails until it is taken away.

How permissions are read: a role's inline and managed policies (`Allow` only; the template has no `Deny`), and
each KMS key's policy. A key policy grants directly to the roles it names; it lets IAM policies grant only the
actions its statements for the account root allow (the draw-seed key lets them grant no kms:Decrypt). Conditions
narrow a grant; in `USES` a conditional grant counts as a grant, and the conditions that matter have tests of their
own: `KEY_PURPOSES` is, per function, which kinds of secret (the encryption context's purpose) it may seal and open
with the personal-data key.
"""

from __future__ import annotations

import copy
import fnmatch
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.provision import load_template
from functions.adapters.purposes import Purpose
from functions.resources import ADMIN_AUTHORIZER_TTL_SECONDS
from infra.package import package

pytestmark = pytest.mark.packaging

FUNCTION = "AWS::Serverless::Function"
ROLE = "AWS::IAM::Role"
KEY = "AWS::KMS::Key"
# Services whose resources are the data and the machinery: every grant on them is specified per resource.
DATA_SERVICES = {"dynamodb", "sqs", "kms", "s3", "lambda"}
CONSUME = frozenset({"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"})

# What every function needs whatever it does (the managed policy FunctionLogsAndTraces).
EVERY_FUNCTION = {
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",  # log lines, and the metrics (Powertools' embedded metric format is log lines)
    "xray:PutTraceSegments",  # Tracing: Active (template Globals) and Powertools' Tracer
    "xray:PutTelemetryRecords",
}
# Beyond the data services, per function.
OUTSIDE_DATA = {
    "EmailCodeConsumer": {
        "ses:SendEmail",  # adapters.notifier: the code's email through SES
        "sns:Publish",  # a purchase code and a payout-account code go by SMS too
    },
    "NotificationConsumer": {
        "ses:SendEmail",  # adapters.notifier: email through SES
        "sns:Publish",  # adapters.notifier: SMS straight to a phone through SNS
    },
}


@dataclass(frozen=True)
class Use:
    resource: str
    actions: frozenset[str]
    why: str


def use(resource: str, *actions: str, why: str) -> Use:
    return Use(resource, frozenset(actions), why)


_SCHEDULE = [
    use(
        "WavesTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        why="waves.advance: find and open_wave read; open_first and close_and_open_next put the next wave and "
        "update the closed one and the pointer; pool_parts_queued, record_selection, plan_publication, "
        "chunks_queued and mark_published_if_complete update",
    ),
    use("WaveMembersTable", "dynamodb:Query", why="publish: member_ids maps the ranked list's draw ids back"),
    use(
        "ResultsBucket",
        "s3:PutObject",
        "s3:GetObject",
        "s3:AbortMultipartUpload",
        why="draw reads the pool's parts (pool_reading.read_pool) and writes the ranked list (upload_fileobj, "
        "multipart past 8 MiB, aborted on failure) and the manifest; publish reads the ranked list back into chunks",
    ),
    use("PublishQueue", "sqs:SendMessage", why="publish queues the wave's chunks"),
    use("PoolPartsQueue", "sqs:SendMessage", why="read: pool_reading.queue_parts hands the closed pool's parts out"),
    use(
        "CountersTable",
        "dynamodb:BatchGetItem",
        why="draw: revocations.refill sums the places revocations freed while the wave was open",
    ),
    use(
        "PersonalDataKey",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        why="the publish and pool-part queues' encryption (SQS asks KMS for the sender); wave_secrets: new_secret "
        "for the wave "
        "that opens at a close, open_secret at the draw and publication (encryption context wave-secret only); "
        "no personal data is opened",
    ),
    use(
        "DrawSeedKey",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        why="draw_seeds: new_seed for the wave that opens at a close (and wave 1, at the first run), reveal at "
        "the draw",
    ),
]

USES: dict[str, list[Use]] = {
    "APIHandler": [
        use(
            "ApplicantsTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="applicants.find behind every applicant route; count_wrong_code and the verified transition "
            "(POST /verifications/email), replace_email_code (resend), the join transition",
        ),
        use(
            "IdentityGuardsTable",
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            why="members.find_by_card reads a card's guard (POST /partners/purchases, the admin revocation); a "
            "confirmation claims its voucher (voucher#<code>); verify_email claims the email and phone (a "
            "duplicate gives nothing back, and claims.holders reads whom to tell); POST /admin/claims/release "
            "reads the holder, "
            "gives its claims back and records the release; the admin revocation's find_by_card reads the card's "
            "guard",
        ),
        use(
            "CountersTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            why="throttle.count_failure (wrong tokens and codes) and the funnel counts of verify and join; the "
            "mailbox's code emails and current code (mailboxes.find, note_code: resend); a purchase request takes "
            "the card's slots (free_slot reads them, taking_slot puts one, release_slot frees one); "
            "funnel_totals for GET /admin/stats; the admin revocation counts REVOKED, the RETURN total and the "
            "open wave's refill",
        ),
        use(
            "KeyringTable",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            why="personal_data.keyring_secret: the look-up pepper and the access-token key, made on first use",
        ),
        use(
            "IdempotencyTable",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            why="Powertools Idempotency (Idempotency-Key on POST /registrations): its persistence layer's calls",
        ),
        use(
            "WavesTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:ConditionCheckItem",
            why="waves.find (current, join, results, PROCESSING in the applicant view); admin publish's "
            "plan_publication, chunks_queued, mark_published_if_complete; the join transaction and the admin "
            "revocation check the wave is still open (it never opens a wave: the closing schedules do)",
        ),
        use(
            "WaveMembersTable",
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:DeleteItem",
            why="the join transaction puts the pool membership; waves_joined reads the applicant's pools for its "
            "draw ids (GET /applicants/{id}); admin publish's member_ids maps draw ids back to applicants; "
            "waves.release_claim takes a released holder out of its open wave's pool",
        ),
        use(
            "PartnersTable",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            why="partner_auth.authenticate behind every partner route: partners.find reads the signing partner, "
            "first_sighting remembers its signature for the replay window; PUT /partners/courses lists a course "
            "and a purchase request reads it (find_course)",
        ),
        use(
            "MembersTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:Scan",
            why="members.find (purchases, the applicant view); confirm debits, cancel refunds, complete and review "
            "mark the member's first time; GET /admin/ledger's all_members scans; POST /admin/memberships/"
            "{card_number}/revoke: the revocation's member update; PUT /applicants/{id}/payout-account: "
            "payout_accounts.change (and find when it is refused)",
        ),
        use("LedgerTable", "dynamodb:PutItem", why="confirm's PURCHASE and cancel's REFUND entries (members.entry)"),
        use(
            "PurchasesTable",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:Query",
            why="the partner routes: request puts the purchase and its reference item; find, find_by_ref; "
            "count_code_try, confirm, cancel, complete and review update it; for_member queries the by-member "
            "index (only the index) for GET /applicants/{id}",
        ),
        use("IntakeQueue", "sqs:SendMessage", why="POST /registrations queues the sealed registration"),
        use("NikCheckQueue", "sqs:SendMessage", why="POST /verifications/email queues the NIK check"),
        use("EmailCodesQueue", "sqs:SendMessage", why="resend queues the new email code's message at once"),
        use("PublishQueue", "sqs:SendMessage", why="POST /admin/waves/{number}/publish queues the chunks"),
        use("LedgerTable", "dynamodb:PutItem", why="the admin revocation's RETURN entry (members.entry)"),
        use(
            "NotificationsQueue",
            "sqs:SendMessage",
            why="the admin revocation tells the member; a payout account's change is told",
        ),
        use("PayoutChecksQueue", "sqs:SendMessage", why="PUT /applicants/{id}/payout-account queues the inquiry"),
        use(
            "ResultsBucket",
            "s3:GetObject",
            why="GET /waves/{number}/results reads the manifest and signs links to both files; admin publish "
            "reads the ranked list",
        ),
        use(
            "PersonalDataKey",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            why="seals registrations and email codes, opens keyring secrets, partners' signing secrets "
            "(partner_secrets.open_secret) and the sealed idempotent answer; the encryption of the queues it "
            "sends to",
        ),
        use(
            "CloseDueWaves",
            "lambda:InvokeFunction",
            why="services.closing: POST /admin/waves/{number}/close runs in the closing function",
        ),
        use(
            "PaymentsTable",
            "dynamodb:GetItem",
            "dynamodb:Scan",
            "dynamodb:Query",
            why="GET /applicants/{id}: payments.of_member queries the by-member index (only the index); GET "
            "/admin/ledger: payments.totals scans, last_reconciliation reads the newest report",
        ),
    ],
    "AdminAuthorizer": [
        use(
            "KeyringTable",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            why="admin.subject_of: the admin-token key from the keyring (made on first use)",
        ),
        use(
            "PersonalDataKey",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            why="that key is sealed under the personal-data key (encryption context keyring:admin-token only)",
        ),
    ],
    "IntakeConsumer": [
        use("IntakeQueue", *CONSUME, why="its SQS event source"),
        use(
            "EmailCodesQueue", "sqs:SendMessage", why="the batch's email-code messages (notifications.BatchSends.flush)"
        ),
        use("ApplicantsTable", "dynamodb:PutItem", why="the registration transaction puts the applicant"),
        use(
            "CountersTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="the registration transaction counts REGISTERED; the mailbox's current code and code emails "
            "(mailboxes.find, note_code)",
        ),
        use("KeyringTable", "dynamodb:GetItem", "dynamodb:PutItem", why="the pepper of email-code hashes"),
        use(
            "PersonalDataKey",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            why="seals the email code to its mailbox, opens keyring secrets; the queues' encryption",
        ),
    ],
    "NotificationConsumer": [
        use("NotificationsQueue", *CONSUME, why="its SQS event source"),
        use(
            "ApplicantsTable",
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:UpdateItem",
            why="BatchDelivery: find_many ahead, find again; mark_notified",
        ),
        use(
            "PersonalDataKey",
            "kms:Decrypt",
            why="opens the contact details; the queue's encryption",
        ),
    ],
    "EmailCodeConsumer": [
        use(
            "EmailCodesQueue",
            *CONSUME,
            "sqs:ChangeMessageVisibility",
            why="its SQS event source; code_delivery.deliver: a throttled code's message comes back after "
            "redelivery_delay (queues.come_back_in)",
        ),
        # deliver_code: finds the applicant; mark_code_sent, and unmark_code_sent when the email fails
        use("ApplicantsTable", "dynamodb:GetItem", "dynamodb:UpdateItem", why="deliver_code: find, mark sent"),
        use(
            "PurchasesTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="purchases.deliver_code: find the purchase; mark_code_sent, and unmark_code_sent when sending fails",
        ),
        use(
            "MembersTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="payout_account_codes.deliver_code: the member's code; mark_code_sent, and unmark_code_sent on failure",
        ),
        use("PartnersTable", "dynamodb:GetItem", why="purchases.deliver_code: the partner's display name"),
        use("PersonalDataKey", "kms:Decrypt", why="opens the email and the sealed code; the queue's encryption"),
    ],
    "PayoutCheckConsumer": [
        use("PayoutChecksQueue", *CONSUME, why="its SQS event source"),
        use("NotificationsQueue", "sqs:SendMessage", why="the verdict's notice (BatchSends.flush)"),
        use(
            "MembersTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="payout_accounts.find reads the account; record_verdict writes the provider's verdict",
        ),
        use("ApplicantsTable", "dynamodb:GetItem", why="applicants.find: the member's sealed name and NIK"),
        use(
            "PaymentsTable",
            "dynamodb:UpdateItem",
            "dynamodb:Query",
            why="account_verified: of_member queries the by-member index; requeue moves a FAILED payment to QUEUED",
        ),
        use("PaymentsQueue", "sqs:SendMessage", why="account_verified queues the FAILED payment again"),
        use(
            "PersonalDataKey",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            why="opens the member's name and NIK and the sealed account number; the queues' encryption",
        ),
    ],
    "NikCheckConsumer": [
        use("NikCheckQueue", *CONSUME, why="its SQS event source"),
        use("NotificationsQueue", "sqs:SendMessage", why="the NIK results (notifications.Gathered.flush)"),
        use(
            "ApplicantsTable",
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="looking_ahead: find_many; check_record: find; the decision's transition",
        ),
        use(
            "IdentityGuardsTable",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            why="record_registry_decision claims a confirmed NIK; a duplicate (read by held_identity_keys) or a "
            "rejected NIK gives back the email and phone",
        ),
        use("CountersTable", "dynamodb:UpdateItem", why="the decision counts NIK_VERIFIED and ELIGIBLE"),
        use("KeyringTable", "dynamodb:GetItem", "dynamodb:PutItem", why="the pepper of the family-card hash"),
        use(
            "PersonalDataKey",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            why="opens what the applicant declared for the registry look-up, keyring secrets; the queues' encryption",
        ),
    ],
    "PublishConsumer": [
        use(
            "PublishQueue",
            *CONSUME,
            "sqs:SendMessage",
            why="its SQS event source; ChunkPublisher._hand_on queues the members left when time runs out",
        ),
        use("NotificationsQueue", "sqs:SendMessage", why="acceptance and not-selected notices"),
        use(
            "ApplicantsTable",
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="apply_chunk: find_many; _accept's find again; accept and carry_over transitions",
        ),
        use("CountersTable", "dynamodb:UpdateItem", why="accept counts ACCEPTED and ACTIVATED, and the GRANT total"),
        use(
            "WavesTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="chunk_done, find, mark_published_if_complete (carry_over checks nothing: its wave is open by order)",
        ),
        use("WaveMembersTable", "dynamodb:PutItem", why="carry_over puts the member into the next wave's pool"),
        use("FamiliesTable", "dynamodb:UpdateItem", why="accept remembers the acceptance on the family card"),
        use("MembersTable", "dynamodb:PutItem", why="accept activates the membership (members.activation)"),
        use("LedgerTable", "dynamodb:PutItem", why="accept's activation appends the GRANT entry"),
        use(
            "IdentityGuardsTable",
            "dynamodb:PutItem",
            why="accept claims the random card number with a guard item (card#<number>), only if none holds it",
        ),
        use(
            "PersonalDataKey",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            why="only the queues' encryption (SQS asks KMS); no personal data is opened",
        ),
    ],
    "RevokeOverdueMemberships": [
        use(
            "WavesTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="revocation.sweep: current_number and find walk back over the waves; revocations_queued notes the "
            "sweep on the wave",
        ),
        use("RevocationQueue", "sqs:SendMessage", why="sweep queues one message per shard of a wave's members"),
        use("PersonalDataKey", "kms:GenerateDataKey", "kms:Decrypt", why="only the queue's encryption"),
    ],
    "RevocationConsumer": [
        use(
            "RevocationQueue",
            *CONSUME,
            "sqs:SendMessage",
            why="its SQS event source; CohortWalk._hand_on queues the rest of the shard",
        ),
        use("NotificationsQueue", "sqs:SendMessage", why="the revoked members' notices"),
        use(
            "MembersTable",
            "dynamodb:Query",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="members.cohort queries the by-cohort index; revoke reads a member again after a race and updates it",
        ),
        use("LedgerTable", "dynamodb:PutItem", why="revoke's RETURN entry (members.entry)"),
        use("CountersTable", "dynamodb:UpdateItem", why="revoke counts REVOKED, the RETURN total and the refill"),
        use(
            "WavesTable",
            "dynamodb:GetItem",
            "dynamodb:ConditionCheckItem",
            why="revoke reads the pointer to the open wave and checks it is still open",
        ),
        use("PersonalDataKey", "kms:GenerateDataKey", "kms:Decrypt", why="only the queues' encryption"),
    ],
    "PoolPartConsumer": [
        use("PoolPartsQueue", *CONSUME, why="its SQS event source"),
        use(
            "WavesTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="pool_reading.read_part: find (the secret, the parts done); pool_part_done",
        ),
        use("WaveMembersTable", "dynamodb:Query", why="a pool part: read_shard queries its shard"),
        use("FamiliesTable", "dynamodb:Scan", why="a families part: family_acceptances scans its segment"),
        use("ResultsBucket", "s3:PutObject", why="results.put_bytes writes the part file (pool-parts/ only)"),
        use(
            "PersonalDataKey",
            "kms:Decrypt",
            why="wave_secrets.open_secret for the draw ids (encryption context wave-secret only); the queue's "
            "encryption",
        ),
        use(
            "CloseDueWaves",
            "lambda:InvokeFunction",
            why="closing.read_pool_part: the worker that completes the pool starts the closing function to draw",
        ),
    ],
    "QueueDueIncentives": [
        use("WavesTable", "dynamodb:GetItem", why="incentive_payments.sweep: current_number and find list the waves"),
        use("IncentivesQueue", "sqs:SendMessage", why="sweep queues one message per shard of each published wave"),
        use("PersonalDataKey", "kms:GenerateDataKey", "kms:Decrypt", why="only the queue's encryption"),
    ],
    "IncentiveConsumer": [
        use(
            "IncentivesQueue",
            *CONSUME,
            "sqs:SendMessage",
            why="its SQS event source; CohortWalk._hand_on queues the rest of the shard",
        ),
        use("PaymentsQueue", "sqs:SendMessage", why="each payment queued (or queued again on a redelivery)"),
        use("NotificationsQueue", "sqs:SendMessage", why="the held members' notices"),
        use(
            "MembersTable",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            why="payments.cohort queries the by-cohort index; payments.queue marks the payment in flight",
        ),
        use("ApplicantsTable", "dynamodb:GetItem", why="the screening: applicants.find for the declared data"),
        use(
            "PaymentsTable",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            why="payments.find; payments.queue and hold create the payment once",
        ),
        use(
            "PersonalDataKey",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            why="the screening opens what the member declared for the registry look-up; the queues' encryption",
        ),
    ],
    "PaymentConsumer": [
        use("PaymentsQueue", *CONSUME, why="its SQS event source"),
        use("NotificationsQueue", "sqs:SendMessage", why="the paid and failed notices"),
        use(
            "PaymentsTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="payments.find; send, pay and fail move the payment",
        ),
        use(
            "MembersTable",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            why="payments.payout_account reads the sealed account; pay and fail free it, pay counts it settled",
        ),
        use("LedgerTable", "dynamodb:PutItem", why="pay's INCENTIVE entry (members.entry)"),
        use("CountersTable", "dynamodb:UpdateItem", why="pay adds to the INCENTIVE total"),
        use(
            "PersonalDataKey",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            why="opens the sealed payout account number for the transfer; the queues' encryption",
        ),
    ],
    "ReconcilePayments": [
        use(
            "PaymentsTable",
            "dynamodb:Query",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            why="payments.paid_on queries the by-paid-day index; reconciliations reads the stored reports, "
            "save_reconciliation writes the day's",
        ),
        use(
            "KeyringTable",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            why="payout_account_hash: the look-up pepper hashes each statement line's account",
        ),
        use(
            "PersonalDataKey",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            why="the look-up pepper is sealed under the personal-data key (context keyring:lookup-pepper only)",
        ),
    ],
    # The three schedules run the same code, waves.advance (whatever is due: close, draw, publish); the
    # Thursday one also runs the admin close the API hands over (services.closing).
    "CloseDueWaves": _SCHEDULE,
    "PublishDueWaves": _SCHEDULE,
    "CatchUpWaves": _SCHEDULE,
}

DRAW_SEED_READERS = {"CloseDueWaves", "PublishDueWaves", "CatchUpWaves"}
USES_OF_KEY = {
    function: {action for u in uses if u.resource == "PersonalDataKey" for action in u.actions}
    for function, uses in USES.items()
}

# What each function may do with the personal-data key, per purpose of the encryption context
# (functions/adapters/purposes.py) or through SQS (its queues' encryption): the secrets its code seals (with
# GenerateDataKey, or Encrypt) and opens (Decrypt). A function absent here may not use the key at all.
SEAL = "kms:GenerateDataKey"
OPEN = "kms:Decrypt"
VIA_SQS = "through SQS"
ANY_PURPOSE = "any purpose"
P = Purpose
_SCHEDULE_KEY = [
    use(
        P.WAVE_SECRET, SEAL, OPEN, why="wave_secrets.new_secret for the wave that opens; secret_of at draw and publish"
    ),
    use(VIA_SQS, SEAL, OPEN, why="the publish and pool-part queues"),
]
_QUEUES_ONLY = [use(VIA_SQS, SEAL, OPEN, why="its queues; no secret is opened")]
KEY_PURPOSES: dict[str, list[Use]] = {
    "APIHandler": [
        use(P.APPLICANT_DATA, SEAL, why="registration.intake_message seals the person for the intake queue"),
        use(P.PAYOUT_ACCOUNT, SEAL, why="payout_accounts.change_account seals the new account number (never opens)"),
        use(P.EMAIL_CODE, SEAL, why="the resend: email_codes.issue seals the new code"),
        use(P.PURCHASE_CODE, SEAL, why="purchases._new_purchase seals the purchase's code"),
        use(P.PAYOUT_ACCOUNT_CODE, SEAL, why="payout_account_codes.request_code seals the member's code"),
        use(P.SIGN_IN_CODE, SEAL, why="sign_in.ask_for_code seals the sign-in code in its message"),
        use(P.IDEMPOTENCY_ANSWER, SEAL, OPEN, why="registration._SealedAnswer keeps a keyed answer sealed"),
        use(P.PARTNER_SECRET, OPEN, why="partner_auth.authenticate: partner_secrets.open_secret"),
        use(P.WAVE_SECRET, OPEN, why="the applicant view's draw ids; admin publish's chunks"),
        use(P.LOOKUP_PEPPER, SEAL, OPEN, why="lookup_hash: identities, request digests, code hashes (made once)"),
        use(P.ACCESS_TOKEN_KEY, SEAL, OPEN, why="new_access_token, token_was_issued_for (made once)"),
        use(VIA_SQS, SEAL, OPEN, why="the queues it sends to"),
    ],
    "AdminAuthorizer": [use(P.ADMIN_TOKEN_KEY, SEAL, OPEN, why="admin.subject_of's key (made once)")],
    "IntakeConsumer": [
        use(P.EMAIL_CODE, SEAL, why="email_codes.issue seals the first code"),
        use(P.LOOKUP_PEPPER, SEAL, OPEN, why="the email code's hash"),
        use(VIA_SQS, SEAL, OPEN, why="its queue and the email-code queue"),
    ],
    "NotificationConsumer": [
        use(P.APPLICANT_DATA, OPEN, why="notifications._send: the email and phone"),
        use(VIA_SQS, OPEN, why="its queue"),
    ],
    "EmailCodeConsumer": [
        use(P.APPLICANT_DATA, OPEN, why="the email and phone the code goes to"),
        use(P.EMAIL_CODE, OPEN, why="notifications.deliver_email_code"),
        use(P.PURCHASE_CODE, OPEN, why="notifications.deliver_purchase_code"),
        use(P.PAYOUT_ACCOUNT_CODE, OPEN, why="notifications.deliver_payout_account_code"),
        use(P.SIGN_IN_CODE, OPEN, why="notifications.deliver_sign_in_code"),
        use(VIA_SQS, OPEN, why="its queue"),
    ],
    "NikCheckConsumer": [
        use(P.APPLICANT_DATA, OPEN, why="nik_check.look_up: what the applicant declared"),
        use(P.LOOKUP_PEPPER, SEAL, OPEN, why="the family-card hash"),
        use(VIA_SQS, SEAL, OPEN, why="its queue and the notifications queue"),
    ],
    "PayoutCheckConsumer": [
        use(P.APPLICANT_DATA, OPEN, why="payout_accounts._inquire: the member's name and NIK"),
        use(P.PAYOUT_ACCOUNT, OPEN, why="payout_accounts._inquire: the number to ask the provider about"),
        use(VIA_SQS, SEAL, OPEN, why="its queue, the notifications and payments queues"),
    ],
    "IncentiveConsumer": [
        use(P.APPLICANT_DATA, OPEN, why="the screening (nik_check.look_up); never an account number"),
        use(VIA_SQS, SEAL, OPEN, why="its queue, the payments and notifications queues"),
    ],
    "PaymentConsumer": [
        use(P.PAYOUT_ACCOUNT, OPEN, why="incentive_payments._transfer: the number to pay into"),
        use(VIA_SQS, SEAL, OPEN, why="its queue and the notifications queue"),
    ],
    "PublishConsumer": _QUEUES_ONLY,
    "RevokeOverdueMemberships": _QUEUES_ONLY,
    "RevocationConsumer": _QUEUES_ONLY,
    "QueueDueIncentives": _QUEUES_ONLY,
    "PoolPartConsumer": [
        use(P.WAVE_SECRET, OPEN, why="pool_reading.read_part: the draw ids"),
        use(VIA_SQS, OPEN, why="its queue"),
    ],
    "ReconcilePayments": [
        use(P.LOOKUP_PEPPER, SEAL, OPEN, why="payout_account_hash: each statement line's account, hashed as pinned"),
    ],
    "CloseDueWaves": _SCHEDULE_KEY,
    "PublishDueWaves": _SCHEDULE_KEY,
    "CatchUpWaves": _SCHEDULE_KEY,
}


# --- reading the template -------------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def matches(patterns: set[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns)


class Permissions:
    """What each function may do under a (merged) template, by resource logical id ("*" for any resource)."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.resources: dict[str, Any] = template["Resources"]

    def of_type(self, resource_type: str) -> dict[str, Any]:
        return {name: r for name, r in self.resources.items() if r["Type"] == resource_type}

    def role_of(self, function: str) -> str:
        role = self.resources[function]["Properties"]["Role"]
        assert isinstance(role, dict) and "Fn::GetAtt" in role, (function, role)
        name = str(role["Fn::GetAtt"][0])
        assert self.resources[name]["Type"] == ROLE, (function, name)
        return name

    def role_statements(self, role: str) -> list[dict[str, Any]]:
        properties = self.resources[role]["Properties"]
        documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        for arn in properties.get("ManagedPolicyArns", []):
            assert isinstance(arn, dict) and "Ref" in arn, f"{role}: a managed policy from outside the template: {arn}"
            documents.append(self.resources[arn["Ref"]]["Properties"]["PolicyDocument"])
        statements = [statement for document in documents for statement in document["Statement"]]
        for statement in statements:
            assert statement["Effect"] == "Allow" and "NotAction" not in statement, (role, statement.get("Sid"))
            assert "NotResource" not in statement, (role, statement.get("Sid"))
        return statements

    def resource_id(self, value: Any) -> str:
        """The logical id a policy's resource names, "*", or the text of an ARN that names none of ours."""
        if value == "*":
            return "*"
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if isinstance(value, dict) and "Ref" in value:
            return str(value["Ref"])
        text = value["Fn::Sub"] if isinstance(value, dict) else value
        assert isinstance(text, str), value
        found = re.match(r"\$\{(\w+)\.Arn\}", text)
        if found:
            return found.group(1)
        if ":function:" in text:  # a function named by its FunctionName, not a reference
            name = text.split(":function:", 1)[1]
            for logical_id, function in self.of_type(FUNCTION).items():
                declared = function["Properties"].get("FunctionName")
                if isinstance(declared, dict) and declared.get("Fn::Sub") == name:
                    return logical_id
        return text

    def key_policy(self, key: str, role: str) -> tuple[set[str], set[str]]:
        """(the actions the key policy grants `role` itself, the actions it lets IAM policies grant)."""
        named: set[str] = set()
        delegated: set[str] = set()
        for statement in self.resources[key]["Properties"]["KeyPolicy"]["Statement"]:
            assert statement["Effect"] == "Allow", (key, statement.get("Sid"))
            principals = as_list(statement["Principal"]["AWS"])
            actions = set(as_list(statement["Action"]))
            for principal in principals:
                if principal == {"Fn::GetAtt": [role, "Arn"]}:
                    named |= actions
                elif isinstance(principal, dict) and str(principal.get("Fn::Sub", "")).endswith(":root"):
                    delegated |= actions
                else:
                    assert isinstance(principal, dict) and "Fn::GetAtt" in principal, (key, principal)
        return named, delegated

    def key_purposes(self, function: str, key: str = "PersonalDataKey") -> dict[str, set[str]]:
        """{purpose (or VIA_SQS, or ANY_PURPOSE): the KMS actions} that `function`'s role allows on `key`."""
        named, _ = self.key_policy(key, self.role_of(function))
        assert not named, f"{key}'s policy names {function}'s role: its grants would bypass these conditions"
        found: dict[str, set[str]] = defaultdict(set)
        for statement in self.role_statements(self.role_of(function)):
            if not {self.resource_id(r) for r in as_list(statement["Resource"])} & {key, "*"}:
                continue
            actions = {a for a in as_list(statement["Action"]) if a.startswith("kms:")}
            for purpose in _purposes_of(statement):
                found[purpose] |= actions
        return {purpose: actions for purpose, actions in found.items() if actions}

    def of_function(self, function: str) -> tuple[dict[str, set[str]], set[str]]:
        """({resource: data actions}, the other actions) that `function` may do."""
        role = self.role_of(function)
        data: dict[str, set[str]] = defaultdict(set)
        other: set[str] = set()
        for statement in self.role_statements(role):
            for action in as_list(statement["Action"]):
                if action.split(":")[0] not in DATA_SERVICES:
                    other.add(action)
                    continue
                for resource in as_list(statement["Resource"]):
                    data[self.resource_id(resource)].add(action)
        keys = self.of_type(KEY)
        for key in keys:
            named, delegated = self.key_policy(key, role)
            through_iam = {a for a in data.get(key, set()) | data.get("*", set()) if a.startswith("kms:")}
            allowed = {a for a in through_iam if matches(delegated, a)} | named
            data.pop(key, None)
            if allowed:
                data[key] = allowed
        return {resource: actions for resource, actions in data.items() if actions}, other


def _purposes_of(statement: dict[str, Any]) -> list[str]:
    """The purposes a statement's condition allows: only an exact `kms:EncryptionContext:purpose` (StringEquals,
    one value or a list: a single-valued key) or SQS's own calls narrow it; any other condition counts as none."""
    condition = statement.get("Condition", {})
    equals = condition.get("StringEquals", {}) if set(condition) == {"StringEquals"} else {}
    if set(equals) == {"kms:ViaService"} and str(equals["kms:ViaService"].get("Fn::Sub", "")).startswith("sqs."):
        return [VIA_SQS]
    if set(equals) == {"kms:EncryptionContext:purpose"}:
        return [str(purpose) for purpose in as_list(equals["kms:EncryptionContext:purpose"])]
    return [ANY_PURPOSE]


def purpose_differences(template: dict[str, Any]) -> list[str]:
    """Every way in which the roles' use of the personal-data key differs from `KEY_PURPOSES`; [] when they agree."""
    permissions = Permissions(template)
    found: list[str] = []
    for function in sorted(set(permissions.of_type(FUNCTION)) & set(KEY_PURPOSES)):
        allowed = permissions.key_purposes(function)
        wanted = {u.resource: set(u.actions) for u in KEY_PURPOSES[function]}
        for purpose in sorted(set(allowed) | set(wanted)):
            extra = allowed.get(purpose, set()) - wanted.get(purpose, set())
            missing = wanted.get(purpose, set()) - allowed.get(purpose, set()) - allowed.get(ANY_PURPOSE, set())
            if extra:
                found.append(f"{function} may {sorted(extra)} under {purpose}, which its code does not")
            if missing:
                found.append(f"{function} lacks {sorted(missing)} under {purpose}, which its code needs")
    return found


def differences(template: dict[str, Any]) -> list[str]:
    """Every way in which the template's permissions differ from `USES`; [] when they agree."""
    permissions = Permissions(template)
    found: list[str] = []
    functions = set(permissions.of_type(FUNCTION))
    if functions != set(USES):
        found.append(f"functions {sorted(functions)} but specified {sorted(USES)}")
    for function in sorted(functions & set(USES)):
        data, other = permissions.of_function(function)
        wanted = {u.resource: set(u.actions) for u in USES[function]}
        for resource in sorted(set(data) | set(wanted)):
            extra = data.get(resource, set()) - wanted.get(resource, set())
            missing = wanted.get(resource, set()) - data.get(resource, set())
            if extra:
                found.append(f"{function} may {sorted(extra)} on {resource}, which it does not use")
            if missing:
                why = next(u.why for u in USES[function] if u.resource == resource)
                found.append(f"{function} lacks {sorted(missing)} on {resource}, which it needs: {why}")
        expected_other = EVERY_FUNCTION | OUTSIDE_DATA.get(function, set())
        if other != expected_other:
            found.append(
                f"{function}: beyond the data, allows {sorted(other - expected_other)} it does not use "
                f"and lacks {sorted(expected_other - other)}"
            )
    return found


# --- the packaged template ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Packaged:
    template_path: Path
    template: dict[str, Any]


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    # Once per module, as in test_package.py: chalice package resolves and unpacks every dependency.
    root = tmp_path_factory.mktemp("least-privilege")
    template_path = package(root / "package", stage_dir=root / "chalice-project")
    assert zipfile.is_zipfile(template_path.parent / "deployment.zip")
    return Packaged(template_path, load_template(template_path))


# --- tests ----------------------------------------------------------------------------------------------------


def test_every_function_has_a_role_of_its_own(packaged: Packaged) -> None:
    permissions = Permissions(packaged.template)
    functions = set(permissions.of_type(FUNCTION))
    # The API, the admin authorizer, the SQS consumers, the three wave schedules, the daily revocation,
    # the daily incentive schedule and the daily reconciliation
    assert functions == set(USES)
    roles = [permissions.role_of(function) for function in sorted(functions)]
    assert len(set(roles)) == len(roles), roles
    # No role is left that no function runs as (Chalice is told to make none: .chalice/config.json)
    assert set(permissions.of_type(ROLE)) == set(roles)


def test_each_role_allows_exactly_what_its_function_uses(packaged: Packaged) -> None:
    assert differences(packaged.template) == []


def test_each_role_seals_and_opens_only_the_purposes_its_code_does(packaged: Packaged) -> None:
    assert set(KEY_PURPOSES) == set(USES)
    assert purpose_differences(packaged.template) == []


def test_the_purposes_specified_are_the_codes_own(packaged: Packaged) -> None:
    specified = {u.resource for uses in KEY_PURPOSES.values() for u in uses} - {VIA_SQS}
    # Every kind of secret sealed under the personal-data key is opened by someone (draw seeds have their own key)
    assert specified == set(Purpose) - {Purpose.DRAW_SEED}
    for function, uses in KEY_PURPOSES.items():
        personal_data = {action for u in uses for action in u.actions}
        assert personal_data == USES_OF_KEY.get(function, set()), function


def test_only_the_payment_functions_open_an_account_number_and_only_the_authorizer_the_admin_key(
    packaged: Packaged,
) -> None:
    permissions = Permissions(packaged.template)

    def openers(purpose: Purpose) -> set[str]:
        return {
            function
            for function in permissions.of_type(FUNCTION)
            if any(
                OPEN in actions and name in (purpose, ANY_PURPOSE)
                for name, actions in permissions.key_purposes(function).items()
            )
        }

    assert openers(Purpose.PAYOUT_ACCOUNT) == {"PayoutCheckConsumer", "PaymentConsumer"}
    assert openers(Purpose.ADMIN_TOKEN_KEY) == {"AdminAuthorizer"}
    assert openers(Purpose.APPLICANT_DATA) == {
        "NotificationConsumer",
        "EmailCodeConsumer",
        "NikCheckConsumer",
        "PayoutCheckConsumer",
        "IncentiveConsumer",
    }


def test_the_purpose_check_fails_a_grant_without_a_purpose(packaged: Packaged) -> None:
    template = copy.deepcopy(packaged.template)
    for role, sid in (("APIHandlerRole", "Open"), ("IncentiveConsumerRole", "Open")):
        statements = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        (statement,) = [s for s in statements if s.get("Sid") == sid]
        del statement["Condition"]  # as every role's key grant was before purposes
    payments = template["Resources"]["PaymentConsumerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (opens,) = [s for s in payments["Statement"] if s.get("Sid") == "Open"]
    opens["Condition"] = {"StringLike": {"kms:EncryptionContext:purpose": "*"}}
    found = purpose_differences(template)
    assert "APIHandler may ['kms:Decrypt'] under any purpose, which its code does not" in found
    assert "IncentiveConsumer may ['kms:Decrypt'] under any purpose, which its code does not" in found
    assert "PaymentConsumer may ['kms:Decrypt'] under any purpose, which its code does not" in found
    assert len(found) == 3, found
    # A role that may open no account number is refused one: the incentive consumer before and after.
    without = copy.deepcopy(packaged.template)
    incentive = without["Resources"]["IncentiveConsumerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (opens,) = [s for s in incentive["Statement"] if s.get("Sid") == "Open"]
    opens["Condition"]["StringEquals"]["kms:EncryptionContext:purpose"] = ["applicant-data", "payout-account"]
    assert purpose_differences(without) == [
        "IncentiveConsumer may ['kms:Decrypt'] under payout-account, which its code does not"
    ]


def test_the_check_fails_a_role_that_allows_a_resource_its_function_does_not_use(packaged: Packaged) -> None:
    template = copy.deepcopy(packaged.template)
    api = template["Resources"]["APIHandlerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    api.append({"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": {"Fn::GetAtt": ["FamiliesTable", "Arn"]}})
    api.append({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})
    found = differences(template)
    assert "APIHandler may ['dynamodb:Scan'] on FamiliesTable, which it does not use" in found
    assert "APIHandler may ['kms:Decrypt'] on PersonalDataKey, which it does not use" not in found  # it uses it
    assert "APIHandler may ['kms:Decrypt'] on *, which it does not use" in found


def test_the_check_fails_a_role_that_lacks_a_permission_its_function_needs(packaged: Packaged) -> None:
    template = copy.deepcopy(packaged.template)
    intake = template["Resources"]["IntakeConsumerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    intake["Statement"] = [s for s in intake["Statement"] if s.get("Sid") != "Counters"]
    found = differences(template)
    assert len(found) == 1 and found[0].startswith(
        "IntakeConsumer lacks ['dynamodb:GetItem', 'dynamodb:UpdateItem'] on CountersTable, which it needs"
    ), found


def test_the_api_can_neither_make_nor_open_a_draw_seed(packaged: Packaged) -> None:
    permissions = Permissions(packaged.template)
    role = permissions.role_of("APIHandler")
    # Neither its own policies (on the key or on any resource) ...
    for statement in permissions.role_statements(role):
        resources = {permissions.resource_id(r) for r in as_list(statement["Resource"])}
        if resources & {"DrawSeedKey", "*"}:
            actions = set(as_list(statement["Action"]))
            assert not matches(actions, "kms:Decrypt") and not matches(actions, "kms:GenerateDataKey"), statement
    # ... nor the key policy, which names it nowhere and lets no IAM policy grant a use of the key.
    named, delegated = permissions.key_policy("DrawSeedKey", role)
    assert named == set()
    for use_of_key in ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:CreateGrant"):
        assert not matches(delegated, use_of_key), use_of_key
    data, _ = permissions.of_function("APIHandler")
    assert "DrawSeedKey" not in data


def test_only_the_closing_functions_may_decrypt_a_draw_seed_and_only_a_seed(packaged: Packaged) -> None:
    permissions = Permissions(packaged.template)
    readers = {
        function
        for function in permissions.of_type(FUNCTION)
        if "kms:Decrypt" in permissions.of_function(function)[0].get("DrawSeedKey", set())
    }
    assert readers == DRAW_SEED_READERS
    for statement in packaged.template["Resources"]["DrawSeedKey"]["Properties"]["KeyPolicy"]["Statement"]:
        if matches(set(as_list(statement["Action"])), "kms:Decrypt") or matches(
            set(as_list(statement["Action"])), "kms:GenerateDataKey"
        ):
            # The encryption context adapters.draw_seeds seals with: {"purpose": "draw-seed", "wave": n}
            assert statement["Condition"] == {"StringEquals": {"kms:EncryptionContext:purpose": "draw-seed"}}


def test_the_wave_schedules_open_only_wave_secrets_themselves(packaged: Packaged) -> None:
    # Beyond their queues' encryption (through SQS), the schedules and the pool-part workers may use the
    # personal-data key only for the wave secrets adapters.wave_secrets seals: {"purpose": "wave-secret", "wave": n}.
    permissions = Permissions(packaged.template)
    for function in DRAW_SEED_READERS | {"PoolPartConsumer"}:
        for statement in permissions.role_statements(permissions.role_of(function)):
            resources = {permissions.resource_id(r) for r in as_list(statement["Resource"])}
            if "PersonalDataKey" in resources:
                condition = statement["Condition"]["StringEquals"]
                assert condition == {"kms:EncryptionContext:purpose": "wave-secret"} or set(condition) == {
                    "kms:ViaService"
                }, (function, statement.get("Sid"))


def test_the_functions_get_the_draw_seed_key(packaged: Packaged) -> None:
    variables = packaged.template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["PRAKERJA_DRAW_SEED_KEY_ID"] == {"Ref": "DrawSeedKey"}
    for function in ("APIHandler", "PoolPartConsumer"):
        properties = packaged.template["Resources"][function]["Properties"]
        assert properties["Environment"]["Variables"]["PRAKERJA_CLOSE_FUNCTION"] == {"Ref": "CloseDueWaves"}


def test_the_admin_authorizer_opens_only_the_admin_token_key(packaged: Packaged) -> None:
    permissions = Permissions(packaged.template)
    for statement in permissions.role_statements(permissions.role_of("AdminAuthorizer")):
        if any(action.startswith("kms:") for action in as_list(statement["Action"])):
            assert statement["Condition"] == {"StringEquals": {"kms:EncryptionContext:purpose": "keyring:admin-token"}}


def test_admin_authorizer_decisions_are_cached_at_most_a_minute(packaged: Packaged) -> None:
    api = packaged.template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    authorizers = {
        name: definition["x-amazon-apigateway-authorizer"]
        for name, definition in api["securityDefinitions"].items()
        if "x-amazon-apigateway-authorizer" in definition
    }
    assert authorizers
    for name, authorizer in authorizers.items():
        # Absent, API Gateway would cache for 300 s.
        assert 0 < authorizer["authorizerResultTtlInSeconds"] <= 60, name
        assert authorizer["authorizerResultTtlInSeconds"] == ADMIN_AUTHORIZER_TTL_SECONDS
