"""From reader polls to what the kiosk acts on: a placed card's holder (no clear ID number), a refusal, reader down/up.

`CardWatch.step(today)` blocks on the serial line: the kiosk's loop runs it in a worker thread every
`poll_interval_s` (`await asyncio.to_thread(watch.step, today)`) and handles the event it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

from devices.idcard.errors import CardError, CardProblem, ReaderError
from devices.idcard.holder import CardHolder, holder_of

if TYPE_CHECKING:
    from devices.idcard import IdCardReader


@dataclass(frozen=True)
class CardPlaced:
    holder: CardHolder


@dataclass(frozen=True)
class CardRefused:
    problem: CardProblem | Literal["expired"]
    log: str          # names the reader and the problem; no personal data


@dataclass(frozen=True)
class ReaderDown:
    log: str          # the ReaderError: names the reader, says what to check


@dataclass(frozen=True)
class ReaderUp:
    reader: str


ReaderEvent = CardPlaced | CardRefused | ReaderDown | ReaderUp


class CardWatch:
    """Polls one reader and turns what it finds into events; a reader that failed is closed and reopened on the
    next step, and its failure is reported once (ReaderDown), its return once (ReaderUp)."""

    def __init__(self, reader: IdCardReader, key: bytes, *, elderly_min_age: int | None,
                 accept_expired: bool = False, rater_public_key: str | None = None) -> None:
        self.reader, self.key = reader, key
        self.elderly_min_age, self.accept_expired = elderly_min_age, accept_expired
        self.rater_public_key = rater_public_key
        self._open = False
        self._down = False

    def step(self, today: date) -> ReaderEvent | None:
        if not self._open:
            try:
                self.reader.open()
            except ReaderError as e:
                return self._failed(e)
            self._open = True
            if self._down:
                self._down = False
                return ReaderUp(self.reader.describe())
        try:
            card = self.reader.poll()
        except CardError as e:
            return CardRefused(e.problem, str(e))
        except ReaderError as e:
            self.close()
            return self._failed(e)
        if card is None:
            return None
        holder = holder_of(card, self.key, today, self.elderly_min_age, self.rater_public_key)
        if holder.expired and not self.accept_expired:
            return CardRefused("expired", f"{self.reader.describe()}: card of {holder.holder_key} expired — "
                                          "the holder needs a valid card or a ticket from the reception desk")
        return CardPlaced(holder)

    def close(self) -> None:
        if self._open:
            self.reader.close()
            self._open = False

    def _failed(self, e: ReaderError) -> ReaderDown | None:
        first, self._down = not self._down, True
        return ReaderDown(str(e)) if first else None
