"""What the kiosk says about a service's opening hours (hallq/opening.py, the controller's rule): today's
spans on its button, why it issues no ticket now, and what a tap on it shows and says instead of `issue`."""

from __future__ import annotations

from hallq.opening import Issuing, Opening, spans_text
from hallq.text.words import Msg, join, msg


def why_closed(o: Opening, appointment: bool) -> Msg | None:
    """Why a service issues no ticket of this kind now (已停止取号, 14:00 起取号, 今日仅限预约), or None."""
    if o.issues(appointment):
        return None
    if o.issuing is Issuing.CLOSED_DAY:
        return msg("closed_today")
    if not appointment and o.appointment_only:     # no walk-in today at any hour: the reason that lasts
        return msg("appointment_only")
    if o.issuing is Issuing.NOT_YET and o.opens_at is not None:
        return msg("opens_at", time=f"{o.opens_at:%H:%M}")
    return msg("issuing_stopped")


def hours_today(o: Opening) -> Msg | None:
    """今日 08:30–12:00、14:30–17:00 for a service with its own hours and a span today (else None)."""
    if not (o.own_hours and o.spans):
        return None
    return msg("hours_today", spans=Msg(spans_text(o.spans, "–", "、"), spans_text(o.spans, "–", " ᠂ ")))


def refusal(name: Msg, o: Opening, appointment: bool) -> tuple[tuple[Msg, ...], str] | None:
    """The lines of the screen a tap on a service that issues no ticket now leads to, and its voice prompt
    (`closed`, or `appointment_only` when walk-ins are barred all day); None when it issues."""
    why = why_closed(o, appointment)
    if why is None:
        return None
    barred = not appointment and o.appointment_only and o.issuing is not Issuing.CLOSED_DAY
    hours = hours_today(o)
    lines = (join(name, why, sep="：", sep_mn=" : "), *((hours,) if hours else ()),
             *((msg("appointment_hint"),) if barred else ()))
    return lines, "appointment_only" if barred else "closed"
