"""Which pushed events the call screen believes: in seq order, gaps filled from the controller's log, a
forged event far ahead dropped instead of making the screen skip the real ones (hypothesis: any order of
losses, forgeries and late fetch answers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from display.sequence import EventSequence, Step
from hallq.api import EventHead, EventsPage

LOG = "seg-a"


def _ev(seq: int, forged: bool = False, log: str = LOG) -> EventHead:
    body: dict[str, Any] = {"type": "ticket.called", "seq": seq, "at": "2026-11-23T09:00:00+08:00", "log": log,
                            "ticket": "X999" if forged else f"A{seq:03d}"}
    return EventHead("ticket.called", seq, body["at"], log, body)


@dataclass
class Controller:
    """The controller's log as the `events` command answers it (CONTRACT §3.7), `limit` per page."""

    log: list[EventHead] = field(default_factory=list)
    limit: int = 1000

    def page(self, since: int) -> EventsPage:
        evs = [e for e in self.log if e.seq > since][: self.limit]
        return EventsPage(tuple(evs), evs[-1].seq if evs else since, len(self.log), 1 if self.log else 0)


@dataclass
class Screen:
    seq: EventSequence = field(default_factory=EventSequence)
    applied: list[EventHead] = field(default_factory=list)
    fetches: list[tuple[int, int]] = field(default_factory=list)     # (since, fetch no) awaiting an answer

    def take(self, step: Step) -> None:
        self.applied += step.events
        if step.fetch is not None:
            self.fetches.append((step.fetch, step.fetch_no))

    def answer_all(self, ctl: Controller) -> None:
        while self.fetches:
            since, no = self.fetches.pop(0)
            self.take(self.seq.fetched(ctl.page(since), since, no))


def test_in_order_events_need_no_fetch_once_anchored() -> None:
    s, ctl = Screen(), Controller([_ev(1)])
    s.take(s.seq.offer(_ev(1)))
    assert s.fetches == [(0, 1)] and s.applied == [], "the first event is checked against the log"
    s.answer_all(ctl)
    ctl.log += [_ev(2), _ev(3)]
    s.take(s.seq.offer(_ev(2)))
    s.take(s.seq.offer(_ev(2)))
    s.take(s.seq.offer(_ev(3)))
    assert [e.seq for e in s.applied] == [1, 2, 3] and s.fetches == []
    assert s.seq.duplicates == 1


def test_forged_call_far_ahead_does_not_hide_the_next_real_calls() -> None:
    s, ctl = Screen(), Controller([_ev(1), _ev(2)])
    s.seq.last, s.seq.log = 2, LOG
    s.take(s.seq.offer(_ev(1_000_000, forged=True)))
    assert s.fetches == [(2, 1)]
    s.answer_all(ctl)
    assert s.applied == [] and s.seq.forged == 1 and s.seq.last == 2
    ctl.log.append(_ev(3))
    s.take(s.seq.offer(_ev(3)))
    assert [e.body["ticket"] for e in s.applied] == ["A003"], "the next real call is shown at once"


def test_a_gap_is_filled_from_the_log() -> None:
    s, ctl = Screen(), Controller([_ev(i) for i in range(1, 8)], limit=2)
    s.seq.last, s.seq.log = 2, LOG
    s.take(s.seq.offer(_ev(7)))          # 3..6 were lost
    s.answer_all(ctl)                     # three pages of two
    assert [e.seq for e in s.applied] == [3, 4, 5, 6, 7]


def test_a_restored_log_behind_the_screen_re_anchors() -> None:
    s = Screen()
    s.seq.last, s.seq.log = 50, LOG
    ctl = Controller([_ev(i, log="seg-b") for i in range(1, 41)])        # restored from an older backup
    ctl.log.append(_ev(41, log="seg-b"))
    s.take(s.seq.offer(_ev(41, log="seg-b")))
    s.answer_all(ctl)
    ctl.log.append(_ev(42, log="seg-b"))
    s.take(s.seq.offer(_ev(42, log="seg-b")))
    s.answer_all(ctl)
    assert [e.seq for e in s.applied][-1] == 42 and s.seq.log == "seg-b"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["log", "log", "log", "lose", "forge", "answer"]),
                          st.integers(0, 10 ** 9)), max_size=60),
       st.integers(1, 5))
def test_only_the_log_is_believed_in_order_and_nothing_of_it_is_lost(script: list[tuple[str, int]],
                                                                      limit: int) -> None:
    ctl, s = Controller(limit=limit), Screen()
    n_real = sum(1 for op, _ in script if op in ("log", "lose"))
    for op, x in script:
        if op in ("log", "lose"):
            ev = _ev(len(ctl.log) + 1)
            ctl.log.append(ev)            # written before it is published
            if op == "log":
                s.take(s.seq.offer(ev))
        elif op == "forge":              # a stranger's event: a seq the log never reaches, or a stale one
            # (a forgery of exactly the next seq is believed in an open hall: the limit docs/display.md names)
            held = s.seq.last or 0
            seq = n_real + 2 + x if x % 3 or not held else max(1, held - x % 5)
            s.take(s.seq.offer(_ev(seq, forged=True)))
        elif s.fetches:                  # the controller answers the oldest fetch now (others later)
            since, no = s.fetches.pop(0)
            s.take(s.seq.fetched(ctl.page(since), since, no))
    s.answer_all(ctl)
    s.take(s.seq.resync())               # the controller (back) online: the screen asks what it missed
    s.answer_all(ctl)
    seqs = [e.seq for e in s.applied]
    assert not any(e.body["ticket"] == "X999" for e in s.applied), "a forged event was believed"
    assert seqs == sorted(set(seqs)), "in order, each once"
    if seqs:
        assert seqs == list(range(seqs[0], len(ctl.log) + 1)), "from the anchor on, every logged event"
