"""Verify blueprint: email codes and NIK checks against the civil registry (built out by the verification issue)."""

from __future__ import annotations

from chalice.app import Blueprint

verify = Blueprint(__name__)
