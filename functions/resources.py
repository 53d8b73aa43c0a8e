"""Names and limits that the app's event sources and `template.yaml` share.

Chalice binds SQS handlers by queue name and bakes the event sources into the template at package time, so these
are build-time constants; a test checks that `template.yaml` agrees.
"""

INTAKE_QUEUE = "prakerja-intake"
NOTIFICATIONS_QUEUE = "prakerja-notifications"
# Email codes on a queue and consumer of their own, so that no backlog of other notices can delay them.
EMAIL_CODES_QUEUE = "prakerja-email-codes"
NIK_CHECK_QUEUE = "prakerja-nik-checks"

# How many NIK-check consumers may run at once (Lambda's maximum concurrency for the event source, 2-1000):
# together with the requests-per-second ceiling this is what protects the civil registry.
NIK_CHECK_MAX_CONCURRENCY = 4

# Outside peaks NIK checks and notices arrive one or two at a time. Lambda may then wait this long for a fuller batch
# (its MaximumBatchingWindowInSeconds), so that each invocation's fixed calls (the receive, the delete, the batch's
# read or send, the invocation itself) serve more records; at a launch's rates batches fill at once. Not on intake
# or the code queues: an email or purchase code follows them, and codes must arrive at once.
BATCHING_WINDOW_SECONDS = 2
PUBLISH_QUEUE = "prakerja-publish"

# The daily revocation fans out over a wave's members in shards; this many consumers work through them at once.
REVOCATION_QUEUE = "prakerja-revocations"
REVOCATION_MAX_CONCURRENCY = 4

# Payout accounts are checked, and incentives paid, through the payment provider by capped consumers: with its
# requests-per-second ceiling this is what protects the provider.
PAYOUT_CHECKS_QUEUE = "prakerja-payout-checks"
PAYOUT_CHECK_MAX_CONCURRENCY = 2
PAYMENTS_QUEUE = "prakerja-payments"
PAYMENT_MAX_CONCURRENCY = 2
# The daily incentive schedule fans out over a wave's members in shards, screening each due member with the civil
# registry: this many consumers at once.
INCENTIVES_QUEUE = "prakerja-incentives"
INCENTIVE_MAX_CONCURRENCY = 4

# An outside service's requests-per-second ceiling is shared by every consumer that calls it (each container keeps
# its own bucket): each caller takes its share of the ceiling, split among its containers, so that together they
# never exceed it. The NIK checks keep most of the registry's (a launch's backlog drains at it), the incentive
# screening (one look-up per member due, once a day) the rest; payments and account checks halve the provider's.
NIK_CHECK_SHARE_OF_REGISTRY = 0.8
SCREENING_SHARE_OF_REGISTRY = 1 - NIK_CHECK_SHARE_OF_REGISTRY
PAYMENT_SHARE_OF_PROVIDER = 0.5
PAYOUT_CHECK_SHARE_OF_PROVIDER = 1 - PAYMENT_SHARE_OF_PROVIDER

# Publication fans a wave's ranked list out in chunks; this many consumers work through them at once.
PUBLISH_MAX_CONCURRENCY = 4

# A closed wave's pool is read in parts (one per pool shard, one per segment of the family-card memory); this many
# workers read them at once: the 32 shards in parallel, the close's wall time one shard's (bench/bench_close.py).
POOL_PARTS_QUEUE = "prakerja-pool-parts"
POOL_PARTS_MAX_CONCURRENCY = 32

# How long API Gateway may reuse the admin authorizer's decision for a token (Chalice's default is 300 s): a
# revoked or expired admin token stops working within this many seconds.
ADMIN_AUTHORIZER_TTL_SECONDS = 60
