"""Select blueprint: waves, the draw and its publication (built out by the waves issue)."""

from __future__ import annotations

from chalice.app import Blueprint

select = Blueprint(__name__)
