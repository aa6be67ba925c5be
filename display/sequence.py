"""Which pushed events a screen believes: those that follow the last seq it holds; a gap is filled from the
controller's log with the `events` command (CONTRACT §3.4, §3.7), never by jumping ahead. Pure, no MQTT.

The controller writes an event to its log before it publishes it, so an event received before a fetch was
sent, with a seq beyond the `head_seq` that fetch reports, is not in the log: it is dropped as forged (a
`ticket.called` with a seq far ahead must not make the screen drop the next real calls). Events received
after a fetch was sent are judged again by the same rule once it is answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hallq.api import EventHead, EventsPage

MAX_PENDING = 1000       # events held while a gap is filled; beyond, the highest seqs go first


@dataclass
class Step:
    """What the owner must do: apply `events` (in order) and, if `fetch` is set, send `events` with
    `since_seq` = fetch (and later hand the reply to `fetched` with the fetch number `fetch_no`)."""

    events: list[EventHead] = field(default_factory=list)
    fetch: int | None = None
    fetch_no: int = 0


class EventSequence:
    def __init__(self) -> None:
        self.last: int | None = None            # the newest seq believed (None: not anchored yet)
        self.log: str | None = None             # the log segment of `last`
        self.pending: dict[int, tuple[EventHead, int]] = {}   # seq -> (event, fetches sent before it came)
        self.sent = 0                           # fetches sent so far
        self.outstanding: int | None = None     # the number of the fetch awaiting its reply
        self.duplicates = 0
        self.forged = 0

    # -- input -------------------------------------------------------------------------------------
    def offer(self, ev: EventHead) -> Step:
        """A pushed event (already of the controller's shape)."""
        step = Step()
        same_log = ev.log is None or self.log is None or ev.log == self.log
        if self.last is not None and same_log and ev.seq <= self.last:
            self.duplicates += 1
            return step
        if self.last is not None and same_log and ev.seq == self.last + 1:
            self._accept(ev, step)
            self._release(step)
            return step
        self._hold(ev)
        self._want_fetch(step)
        return step

    def fetched(self, page: EventsPage, since: int, fetch_no: int) -> Step:
        """The controller's answer to fetch `fetch_no` (sent with `since_seq` = since)."""
        step = Step()
        if fetch_no != self.outstanding:
            return step                          # an old fetch answered late: its successor decides
        self.outstanding = None
        if page.head_seq < since:
            # the log ends before where we asked (restored from a backup, or we anchored on a forgery):
            # what came before this fetch beyond the log's head is not in it
            self.last, self.log = None, None
            for seq, (_ev, n) in list(self.pending.items()):
                if n < fetch_no and seq > page.head_seq:
                    del self.pending[seq]
                    self.forged += 1
            if not self.pending:
                self.last = page.head_seq            # anchored on the head: the next event follows it
        else:
            if self.last is not None and page.head_seq < self.last:
                self.last, self.log = since, None    # the log is behind what we held: take it from `since`
            for ev in sorted(page.events, key=lambda e: e.seq):
                if ev.seq > since and (self.last is None or ev.seq > self.last):
                    self._accept(ev, step)
            if self.last is None or page.next_seq > self.last:
                self.last = page.next_seq
            logged = {e.seq: e for e in page.events}
            for seq, (ev, n) in sorted(self.pending.items()):
                if seq <= self.last:
                    del self.pending[seq]         # confirmed by the page (applied from it) or a duplicate
                    known = logged.get(seq)
                    if known is not None and known.body != ev.body:
                        self.forged += 1
                elif n < fetch_no and seq > page.head_seq:
                    del self.pending[seq]         # not in the log although the log was asked after it came
                    self.forged += 1
        self._release(step)
        if self.pending:
            self._want_fetch(step)
        elif page.events and page.next_seq < page.head_seq and self.last is not None:
            self._send(self.last, step)          # the log holds more than one page: the next one
        return step

    def failed(self, fetch_no: int) -> Step:
        """Fetch `fetch_no` got no usable answer (timeout, error): ask again."""
        step = Step()
        if fetch_no == self.outstanding:
            self.outstanding = None
            if self.pending:
                self._want_fetch(step)
        return step

    def resync(self) -> Step:
        """The controller came (back) online: fetch whatever came after the last seq held."""
        step = Step()
        if self.last is not None and self.outstanding is None:
            self._send(self.last, step)
        return step

    def trust_pushed(self) -> Step:
        """The controller cannot answer `events` (a v1 controller): believe held events in order, as v1 did."""
        step = Step()
        self.outstanding = None
        for seq, (ev, _n) in sorted(self.pending.items()):
            del self.pending[seq]
            if self.last is None or seq > self.last:
                self._accept(ev, step)
        return step

    # -- inside ------------------------------------------------------------------------------------
    def _accept(self, ev: EventHead, step: Step) -> None:
        self.last = ev.seq
        if ev.log is not None:
            self.log = ev.log
        step.events.append(ev)

    def _release(self, step: Step) -> None:
        """Held events that now follow the last seq (their gap was filled) are believed in turn."""
        while self.last is not None and self.last + 1 in self.pending:
            ev, _n = self.pending.pop(self.last + 1)
            if ev.log is not None and self.log is not None and ev.log != self.log:
                self.pending[ev.seq] = (ev, _n)
                break
            self._accept(ev, step)

    def _hold(self, ev: EventHead) -> None:
        self.pending[ev.seq] = (ev, self.sent)
        if len(self.pending) > MAX_PENDING:
            for seq in sorted(self.pending)[MAX_PENDING:]:
                del self.pending[seq]
                self.forged += 1

    def _want_fetch(self, step: Step) -> None:
        if self.outstanding is not None or not self.pending:
            return
        low = min(self.pending) - 1
        since = low if self.last is None else min(self.last, low)
        self._send(since, step)

    def _send(self, since: int, step: Step) -> None:
        self.sent += 1
        self.outstanding = self.sent
        step.fetch, step.fetch_no = since, self.sent
