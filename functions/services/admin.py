"""Admin credentials: short-lived signed tokens (JWT, HS256) under a key kept sealed in the keyring.

The same check runs in the API's authorizer deployed and in the local gateway, so admin routes behave the same
everywhere. Operators mint tokens with `python -m ops admin-token`, which needs AWS rights to the keyring.
"""

from __future__ import annotations

import datetime as dt

from functions import clock
from functions.adapters import personal_data
from functions.adapters.purposes import Purpose
from functions.settings import settings

ISSUER = "prakerja"
ROLE = "admin"


def _key() -> bytes:
    return personal_data.keyring_secret(Purpose.ADMIN_TOKEN_KEY)


def mint(subject: str, hours: float) -> str:
    if not 0 < hours <= settings().admin_token_max_hours:
        raise ValueError(f"an admin token lives at most {settings().admin_token_max_hours} hours")
    now = clock.now()
    claims = {"iss": ISSUER, "sub": subject, "role": ROLE, "iat": now, "exp": now + dt.timedelta(hours=hours)}
    import jwt  # only the admin authorizer and the ops command need PyJWT: not loaded at every cold start

    return jwt.encode(claims, _key(), algorithm="HS256")


def subject_of(authorization: str) -> str | None:
    """The admin's name when the Authorization header carries a valid, unexpired admin token; else None."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    import jwt  # (see mint)

    try:
        # What is not even an HS256 token is refused before the keyring is read: garbage costs no AWS call.
        if jwt.get_unverified_header(token.strip()).get("alg") != "HS256":
            return None
        claims = jwt.decode(
            token.strip(),
            _key(),
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.PyJWTError:
        return None
    lifetime = int(claims["exp"]) - int(claims["iat"])
    if claims.get("role") != ROLE or lifetime > settings().admin_token_max_hours * 3600:
        return None
    return str(claims["sub"])
