"""Fixtures of the region tests (helpers in regionkit.py)."""

from __future__ import annotations

from regionkit import pg  # noqa: F401 (the module-scoped PostgreSQL fixture)
