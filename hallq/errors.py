"""Errors every part of hallq raises for its user: `UsageError` is one line on stderr and exit code 2 (the CLI
turns it into that); applications import it from here, never from the CLI that loads them."""

from __future__ import annotations


class UsageError(Exception):
    """A mistake of the user's that the CLI reports as one line and exit code 2."""
