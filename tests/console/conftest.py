"""The console tests' fixture `desk` (tests/console/desk.py)."""

from tests.console.desk import desk

__all__ = ["desk"]
