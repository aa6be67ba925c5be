"""What can go wrong with an ID card reader: the reader itself (`ReaderError`) or the card on it (`CardError`).

Messages name the reader and say what to do; none ever carries a card's ID number or other text.
"""

from __future__ import annotations

from typing import Literal

# moved: lifted while read; not_genuine: authentication failed; unsupported: a card type the kiosk does not
# take; unreadable: anything else about the card
CardProblem = Literal["moved", "not_genuine", "unsupported", "unreadable"]


class IdCardError(Exception):
    """Base of the reader's errors."""


class ReaderError(IdCardError):
    """The reader cannot be reached or misbehaves (port, no answer, garbled frames, SAM failure)."""


class CardError(IdCardError):
    """The card could not be read or is not one the kiosk takes; the holder should try again or ask staff."""

    def __init__(self, message: str, problem: CardProblem = "unreadable") -> None:
        super().__init__(message)
        self.problem: CardProblem = problem
