"""The admin authorizer's cache (the security rules' "at most 60 s")."""

from __future__ import annotations

from functions.app import app


def test_admin_authorizer_decisions_are_cached_at_most_a_minute() -> None:
    (authorizer,) = app.builtin_auth_handlers
    assert authorizer.name == "admin_authorizer"
    assert authorizer.ttl_seconds is not None and 0 < authorizer.ttl_seconds <= 60
