"""The one check of every partner route: who signed the request (openapi.yaml, tag `partners`), and the
operator's command that creates or rotates a partner's secret.

Unknown partner, malformed headers, stale timestamp, wrong signature and replay all get the same 401; why is
counted in a metric (`PartnerRequestRefused`, and one per reason) and logged by reason only, never with the
signature.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from functions import clock
from functions.adapters import partner_secrets
from functions.domain.errors import NotAuthorised
from functions.domain.partners import PARTNER_ID, Partner, PartnerRejected, Rejection, SignedRequest, new_secret
from functions.observability import logger, metrics
from functions.settings import settings
from functions.store import partners

REFUSED = "the request is not signed by a known partner, or not within the allowed time, or was seen before"


def _window() -> dt.timedelta:
    return dt.timedelta(seconds=settings().partner_signature_window_seconds)


def authenticate(headers: Mapping[str, str], method: str, path: str, body: bytes) -> str:
    """The partner id that signed this request, or a 401 refusal (the same for every reason)."""
    now = clock.now()
    try:
        request = SignedRequest.of(headers, method, path, body)
        request.check_fresh(now, _window())  # before any AWS call: a stale request costs nothing
        partner = partners.find(request.partner_id)
        request.check_signature(
            None if partner is None else partner_secrets.open_secret(partner.partner_id, partner.sealed_secret)
        )
        # Seen twice within the window is a replay. Remembered twice as long: a timestamp may be that far apart.
        if not partners.first_sighting(request.replay_key(), now + 2 * _window()):
            raise PartnerRejected(Rejection.REPLAYED)
    except PartnerRejected as rejected:
        metrics.add_metric(name="PartnerRequestRefused", unit="Count", value=1)
        metrics.add_metric(name=f"PartnerRequestRefused_{rejected.why.value}", unit="Count", value=1)
        logger.warning("partner request refused", extra={"why": rejected.why.value, "path": path})
        raise NotAuthorised(REFUSED) from None
    return request.partner_id


def create_or_rotate(partner_id: str, display_name: str | None = None) -> str:
    """Creates the partner, or gives it a new secret (the old one stops working at once); returns the secret,
    which is kept nowhere but sealed: it is shown to the operator once."""
    if not PARTNER_ID.fullmatch(partner_id):
        raise ValueError("a partner id is 2-63 lower-case letters, digits and dashes, starting with a letter or digit")
    now = clock.now()
    existing = partners.find(partner_id)
    secret = new_secret()
    partners.save(
        Partner(
            partner_id=partner_id,
            display_name=display_name or (existing.display_name if existing else partner_id),
            sealed_secret=partner_secrets.seal(partner_id, secret),
            created_at=existing.created_at if existing else now,
            rotated_at=now,
        )
    )
    return secret
