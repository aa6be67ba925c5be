"""`python -m hallq` = the hallq command."""

from hallq.cli import entry

entry()
