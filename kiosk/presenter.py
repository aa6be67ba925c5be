"""The kiosk's logic as a pure state machine: intents in (taps, scans, replies, time), effects out.

`KioskPresenter.handle(intent, now)` returns the effects the runtime must carry out (issue a ticket,
print it, look one up); `view()` describes the screen to draw, and what the kiosk may say about it
(`View.voice`, spoken by kiosk/voice.py). No Kivy, no MQTT, no clock: the same presenter runs under the
touchscreen app, the headless kiosk and the tests. The time of the last intent is the presenter's "now": a
service's button shows today's hours and, when the service does not issue (hallq/opening.py, the controller's
own rule), is greyed with the reason; a tap on it says why instead of sending an `issue` that would be refused.
An edited configuration (`Reconfigure`, after a reload) is taken only on the home screen: a visit under way ends
with the configuration it started with, then the kiosk goes home and takes the new one (`Reconfigured`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from devices.idcard.holder import CardHolder
from devices.printer.ticket import TicketData
from hallq.config import HallConfig, KioskConfig, LocalName, ServiceConfig
from hallq.opening import Opening, service_opening
from hallq.text.words import Lang, Msg, join, msg
from hallq.ticketqr import TicketRef
from kiosk.hours import hours_today, refusal, why_closed
from kiosk.intents import (
    AppointmentRead,
    CardRead,
    CardRejected,
    ControllerChanged,
    CredentialRead,
    Effect,
    Intent,
    IssueDone,
    IssueFailed,
    IssueTicket,
    LookupDone,
    LookupFailed,
    LookupTicket,
    PrintDone,
    PrinterChanged,
    PrintFailed,
    PrintProgress,
    PrintTicket,
    QueuesChanged,
    ReaderChanged,
    Reconfigure,
    Reconfigured,
    ReprintOpen,
    SayAgain,
    ScanRejected,
    Tap,
    Tick,
    TicketRead,
    Touch,
)

RESULT_SHOWN_S = 12.0          # the result screen goes home by itself after this
ELDER_MAX_SERVICES = 4         # 长者模式: fewer, larger choices
PRINTER_BLOCKING = ("paper_out", "cover_open", "offline", "error")


class Screen(StrEnum):
    HOME = "home"
    SERVICES = "services"
    SCAN = "scan"
    ISSUING = "issuing"
    PRINTING = "printing"
    RESULT = "result"
    STATUS = "status"
    ERROR = "error"


@dataclass(frozen=True)
class Button:
    action: str
    label: Msg
    arg: str = ""
    enabled: bool = True
    detail: Msg | None = None        # a second line: waiting count, estimated wait
    note: Msg | None = None          # why it is disabled
    style: str = "normal"            # normal | primary | green | quiet | closed (greyed: tapping says why)
    lang: Lang | None = None         # drawn in this language whatever the kiosk's language
    hours: Msg | None = None         # a service's own opening hours today (今日 09:00–12:00)


@dataclass(frozen=True)
class Prompt:
    """What the kiosk says about a screen (hallq/voice.py `guide`): a prompt, a count, the area to go to."""

    key: str                         # welcome, choose, card_read, green, place_card, scan, printing, result, ...
    n: int | None = None
    area: str | None = None          # the area's Chinese name: its clip is hallq.voice.area_clip(area)


@dataclass(frozen=True)
class View:
    screen: Screen
    lang: Lang
    elder: bool
    title: Msg
    lines: tuple[Msg, ...] = ()
    buttons: tuple[Button, ...] = ()
    number: str | None = None
    progress: float | None = None
    banner: Msg | None = None
    voice: Prompt | None = None      # the screen's spoken guidance
    speak: bool = False              # said by itself (长者 mode, or voice.mode always); else only on 再听一遍

    def texts(self) -> list[str]:
        """Every text on the screen in reading order, in the screen's language (tests, logs)."""
        out = [self.banner.get(self.lang)] if self.banner else []
        out.append(self.title.get(self.lang))
        if self.number:
            out.append(self.number)
        out += [m.get(self.lang) for m in self.lines]
        for b in self.buttons:
            lang = b.lang or self.lang
            out += [x.get(lang) for x in (b.label, b.detail, b.hours, b.note) if x is not None]
        return out


@dataclass
class _Visit:
    """What one citizen has chosen so far; forgotten when the kiosk goes home (privacy)."""

    lang: Lang = "zh"
    elder: bool = False
    scan_purpose: str = ""                 # credential | green | appointment
    holder_key: str | None = None
    holder_name: str | None = None
    sealed: str | None = field(default=None, repr=False)  # the holder's identity, sealed: never shown
    token: str | None = field(default=None, repr=False)   # the scanned code: sent as `credential`, never shown
    green_reason: Msg | None = None
    appointment_service: str | None = None
    card: CardHolder | None = field(default=None, repr=False)   # an ID card read at this kiosk (kiosk/idcard.py)
    service: str | None = None             # the service last asked for
    reprint: bool = False                  # the ticket shown is the holder's open one, printed again
    reprint_tried: bool = False
    ticket: dict[str, Any] | None = None
    ticket_data: TicketData | None = None
    looked_up: dict[str, Any] | None = None
    error: tuple[Msg, ...] = ()
    error_buttons: tuple[str, ...] = ("home",)
    error_title: Msg | None = None         # instead of 取号未成功 (a service that does not issue now)
    error_voice: str = "error"             # the error screen's prompt
    back_to: Screen = Screen.HOME          # where "back" on an error screen leads
    progress: float = 0.0


class KioskPresenter:
    def __init__(self, cfg: HallConfig, kiosk: KioskConfig, now: datetime) -> None:
        self.cfg, self.kiosk = cfg, kiosk
        self.screen = Screen.HOME
        self.visit = _Visit()
        self.last_touch = now
        self.shown_at = now
        self.now = now                      # the time of the last intent: what the buttons show is for then
        self.queues: dict[str, dict[str, Any]] = {}
        self.controller_online = False
        self.printer_state = "unknown"
        self.card_reader: bool | None = True if kiosk.idcard.enabled else None   # None: the kiosk has none
        self.services = self._offered()
        self.pending: Reconfigure | None = None     # a new configuration waiting for the kiosk to be home

    def _offered(self) -> list[ServiceConfig]:
        return [s for s in self.cfg.services if self.kiosk.services is None or s.id in self.kiosk.services]

    # -- intents --------------------------------------------------------------------------------
    def handle(self, intent: Intent, now: datetime) -> list[Effect]:
        effects = self._handle(intent, now)
        if self.pending is not None and self.screen is Screen.HOME:
            effects.append(self._reconfigure(self.pending))
        return effects

    def _reconfigure(self, new: Reconfigure) -> Reconfigured:
        """Take the new configuration at once, between two intents: the next view is drawn from it."""
        self.pending = None
        self.cfg, self.kiosk = new.cfg, new.kiosk
        self.services = self._offered()
        return Reconfigured(new.sha, new.changes)

    def _handle(self, intent: Intent, now: datetime) -> list[Effect]:
        self.now = now
        if isinstance(intent, Tap | Touch):
            self.last_touch = now
        if isinstance(intent, Tap):
            return self._tap(intent, now)
        if isinstance(intent, Tick):
            self._tick(now)
        elif isinstance(intent, QueuesChanged):
            self.queues = {s["id"]: s for s in intent.services if isinstance(s, dict) and "id" in s}
        elif isinstance(intent, ControllerChanged):
            self.controller_online = intent.online
        elif isinstance(intent, PrinterChanged):
            self.printer_state = intent.state
        elif isinstance(intent, ReaderChanged):
            self.card_reader = intent.ok
        elif isinstance(intent, CardRead | CardRejected):
            self._card(intent, now)
        elif isinstance(intent, CredentialRead | AppointmentRead | TicketRead | ScanRejected):
            return self._scanned(intent, now)
        elif isinstance(intent, IssueDone | IssueFailed):
            return self._issued(intent, now)
        elif isinstance(intent, PrintProgress) and self.screen is Screen.PRINTING:
            self.visit.progress = max(0.0, min(1.0, intent.fraction))
        elif isinstance(intent, PrintDone | PrintFailed):
            self._printed(intent, now)
        elif isinstance(intent, LookupDone | LookupFailed):
            self._looked_up(intent, now)
        elif isinstance(intent, Reconfigure):
            self.pending = intent          # a newer one replaces one still waiting
        return []

    def _go(self, screen: Screen, now: datetime) -> None:
        self.screen, self.shown_at = screen, now

    def go_home(self, now: datetime) -> None:
        """Back to the home screen, the visitor forgotten (idle timeout, home, a failure)."""
        self.visit = _Visit()
        self._go(Screen.HOME, now)

    def _tick(self, now: datetime) -> None:
        if self.screen in (Screen.HOME, Screen.ISSUING, Screen.PRINTING):
            return
        shown_s = (now - self.shown_at).total_seconds()
        idle_s = (now - max(self.last_touch, self.shown_at)).total_seconds()
        if (self.screen is Screen.RESULT and shown_s >= RESULT_SHOWN_S) or idle_s >= self.kiosk.idle_timeout_s:
            self.go_home(now)

    def _tap(self, tap: Tap, now: datetime) -> list[Effect]:
        if tap.action == "repeat":
            return [SayAgain()]
        busy = self.screen in (Screen.ISSUING, Screen.PRINTING)
        if busy:
            return []
        v = self.visit
        if tap.action in ("lang", "elder", "scan", "green", "appointment", "idcard") and tap.arg in ("zh", "mn"):
            v.lang = "mn" if tap.arg == "mn" else "zh"
        if tap.action == "lang":
            v.elder = False
            self._go(Screen.SERVICES, now)
        elif tap.action == "elder":
            v.elder = True
            self._go(Screen.SERVICES, now)
        elif tap.action in ("scan", "green", "appointment", "idcard"):
            v.scan_purpose = {"scan": "credential"}.get(tap.action, tap.action)
            self._go(Screen.SCAN, now)
        elif tap.action == "service":
            return self._choose(tap.arg, now)
        elif tap.action == "back":
            if self.screen is Screen.ERROR and v.back_to is not Screen.HOME:
                self._go(v.back_to, now)
            else:
                self.go_home(now)
        elif tap.action == "home":
            self.go_home(now)
        elif tap.action == "reprint" and v.ticket_data is not None:
            v.progress = 0.0
            self._go(Screen.PRINTING, now)
            return [PrintTicket(v.ticket_data)]
        return []

    def _choose(self, service_id: str, now: datetime) -> list[Effect]:
        button = next((b for b in self._service_buttons() if b.arg == service_id), None)
        if button is None or not button.enabled:
            return []
        if self._closed(service_id, appointment=False, now=now):
            return []
        return self._issue(service_id, "kiosk", now)

    def _opening(self, service_id: str) -> Opening:
        """Whether the service issues now: the controller's rule (hallq/opening.py) at the kiosk's time."""
        return service_opening(self.cfg, service_id, self.now.astimezone(self.cfg.zone))

    def _closed(self, service_id: str, appointment: bool, now: datetime) -> bool:
        """A service that does not issue now: say why (screen and voice) instead of sending `issue`."""
        svc = self.cfg.service(service_id)
        said = refusal(_msg(svc.name), self._opening(service_id), appointment) if svc is not None else None
        if said is None:
            return False
        lines, voice = said
        self.visit.back_to = Screen.HOME if appointment else Screen.SERVICES
        self._error(lines, ("home",) if appointment else ("back", "home"), now, title=msg("service_closed"),
                    voice=voice)
        return True

    def _issue(self, service_id: str, how: str, now: datetime) -> list[Effect]:
        v = self.visit
        self._go(Screen.ISSUING, now)
        v.service, v.reprint, v.reprint_tried = service_id, False, False
        # a checked-in appointment (its APT1. code goes as `credential`) is called before walk-ins (CONTRACT §3.7)
        priority = "green" if v.green_reason else "appointment" if how == "appointment" and v.token else "normal"
        if v.card is not None:     # the runtime signs the card's token when it sends the command
            return [IssueTicket(service_id, priority, None, f"idcard:{self.kiosk.id}", v.sealed, card=v.card)]
        return [IssueTicket(service_id, priority, v.token, f"{how}:{self.kiosk.id}", v.sealed)]

    def _card(self, intent: CardRead | CardRejected, now: datetime) -> None:
        """A card on the reader starts a new visit (also over an unfinished one), except while a ticket is made."""
        if self.screen in (Screen.ISSUING, Screen.PRINTING):
            return
        lang = self.visit.lang if self.screen is not Screen.HOME else "zh"
        self.visit = _Visit(lang=lang)
        v = self.visit
        if isinstance(intent, CardRejected):
            v.back_to = Screen.HOME
            self._error((intent.reason,), ("home",), now)
            return
        h = intent.holder
        v.card, v.holder_key, v.holder_name, v.sealed = h, h.holder_key, h.name, h.sealed
        v.elder = h.elderly
        v.green_reason = _age_reason(intent.green) if intent.green else None
        self.last_touch = now
        self._go(Screen.SERVICES, now)

    def _scanned(self, intent: Intent, now: datetime) -> list[Effect]:
        if self.screen in (Screen.ISSUING, Screen.PRINTING, Screen.RESULT):
            return []                       # a code shown while a ticket prints is not a new visit
        v = self.visit
        v.back_to = Screen.SCAN if self.screen is Screen.SCAN else Screen.HOME
        if isinstance(intent, ScanRejected):
            self._error((intent.reason,), ("back", "home"), now)
        elif isinstance(intent, CredentialRead):
            v.holder_key, v.holder_name, v.sealed = intent.holder_key, intent.name, intent.sealed
            v.token = intent.token
            v.green_reason = intent.green_reason
            if v.scan_purpose == "green" and intent.green_reason is None:
                v.back_to = Screen.SERVICES          # may still take a normal ticket
                self._error((msg("green_no"),), ("back", "home"), now)
            else:
                self._go(Screen.SERVICES, now)
        elif isinstance(intent, AppointmentRead):
            v.holder_key, v.holder_name, v.sealed = intent.holder_key, intent.name, intent.sealed
            v.token = intent.token
            v.appointment_service = intent.service
            if self._service(intent.service) is None:
                self._error((msg("service_closed"),), ("home",), now)
                return []
            if self._closed(intent.service, appointment=True, now=now):   # its appointment-only days: issued
                return []
            return self._issue(intent.service, "appointment", now)
        elif isinstance(intent, TicketRead):
            if intent.hall != self.cfg.hall.id:
                self._error((msg("ticket_other_hall"),), ("home",), now)
                return []
            v.looked_up = None
            self._go(Screen.STATUS, now)
            return [LookupTicket(intent.number, intent.day)]
        return []

    def _error(self, lines: tuple[Msg, ...], buttons: tuple[str, ...], now: datetime, title: Msg | None = None,
               voice: str = "error") -> None:
        v = self.visit
        v.error, v.error_buttons, v.error_title, v.error_voice = lines, buttons, title, voice
        self._go(Screen.ERROR, now)

    def _issued(self, intent: IssueDone | IssueFailed, now: datetime) -> list[Effect]:
        if self.screen is not Screen.ISSUING:
            return []
        if isinstance(intent, IssueFailed):
            v = self.visit
            if (intent.code == "ALREADY_WAITING" and v.card is not None and v.service is not None
                    and not v.reprint_tried):
                v.reprint_tried = True          # one open ticket per person: that one is printed again
                return [ReprintOpen(v.service, v.card.holder_key, intent.message)]
            key = {"SERVICE_CLOSED": "service_closed", "ALREADY_WAITING": "already_waiting"}.get(
                intent.code, "issue_failed")
            self.visit.back_to = Screen.HOME if self.visit.appointment_service else Screen.SERVICES
            self._error((msg(key),), ("back", "home"), now)
            return []
        t = intent.ticket
        v = self.visit
        v.ticket, v.reprint = t, intent.reprint
        v.ticket_data = self.ticket_data(t, intent.code, now)
        v.progress = 0.0
        self._go(Screen.PRINTING, now)
        return [PrintTicket(v.ticket_data)]

    def _printed(self, intent: PrintDone | PrintFailed, now: datetime) -> None:
        if self.screen is not Screen.PRINTING:
            return
        if isinstance(intent, PrintDone):
            self._go(Screen.RESULT, now)
            return
        number = (self.visit.ticket or {}).get("number", "")
        reason = msg("paper_out") if intent.state == "paper_out" else msg("printer_fault")
        self._error((join(msg("print_failed"), reason, sep="：", sep_mn=" : "), msg("number_valid", number=number)),
                    ("reprint", "home"), now)

    def _looked_up(self, intent: LookupDone | LookupFailed, now: datetime) -> None:
        if self.screen is not Screen.STATUS:
            return
        if isinstance(intent, LookupFailed):
            self._error((msg("ticket_unknown"),), ("home",), now)
        else:
            self.visit.looked_up = intent.ticket

    # -- the ticket ------------------------------------------------------------------------------
    def _service(self, service_id: str) -> ServiceConfig | None:
        return next((s for s in self.services if s.id == service_id), None)

    def area(self, service_id: str) -> Msg | None:
        """Where a service is served: its own area, else the one area all its windows share (else None)."""
        s = self.cfg.service(service_id)
        if s is not None and s.area is not None:
            return _msg(s.area)
        areas = {(w.area.zh, w.area.mn) for w in self.cfg.windows if service_id in w.services and w.area}
        bare = any(w.area is None for w in self.cfg.windows if service_id in w.services)
        if len(areas) == 1 and not bare:
            zh, mn = areas.pop()
            return Msg(zh, mn)
        return None

    def ticket_data(self, t: dict[str, Any], code: str, now: datetime) -> TicketData:
        """What goes on paper for a ticket the controller issued."""
        s = self.cfg.service(str(t.get("service")))
        issued = datetime.fromisoformat(t["issued_at"]) if t.get("issued_at") else now
        local = issued.astimezone(self.cfg.zone)
        est = t.get("est_wait_s")
        payload = TicketRef(self.cfg.hall.id, local.date(), str(t["number"]), code or None).text()
        base = self.kiosk.lookup_url
        notice = self.kiosk.ticket_notice
        area = self.area(str(t.get("service")))
        return TicketData(
            self.cfg.hall.name.zh, self.cfg.hall.name.mn, str(t["number"]),
            s.name.zh if s else str(t.get("service")), s.name.mn if s else "",
            int(t.get("ahead") or 0), None if est is None else _minutes(est),
            f"{local:%Y-%m-%d %H:%M}", f"{base}?q={payload}" if base else payload,
            wait_mn=join(*self._wait_lines(t)[:2]).mn,
            **({"area_zh": area.zh, "area_mn": area.mn} if area else {}),
            **({"notice_zh": notice["zh"]} if "zh" in notice else {}),
            **({"notice_mn": notice["mn"]} if "mn" in notice else {}),
        )

    # -- the view --------------------------------------------------------------------------------
    def _banner(self) -> Msg | None:
        if not self.controller_online:
            return msg("offline")
        if self.printer_state == "paper_out":
            return msg("paper_out")
        if self.printer_state in PRINTER_BLOCKING:
            return msg("printer_fault")
        return None

    def _service_buttons(self) -> list[Button]:
        services = self.services[:ELDER_MAX_SERVICES] if self.visit.elder else self.services
        blocked = not self.controller_online or self.printer_state in PRINTER_BLOCKING
        out = []
        for s in services:
            q = self.queues.get(s.id, {})
            issuing = q.get("issuing", "open")
            waiting = int(q.get("waiting") or 0)
            est = q.get("est_wait_s")
            detail = msg("waiting_n", n=waiting)
            if q:
                detail = join(detail, msg("wait_unknown") if est is None else msg("wait_min", m=_minutes(est)))
            # closed/quota come from retained state, which a stranger in an open hall can forge: they are
            # shown, but the tap still goes to the controller, whose reply decides (docs/kiosk.md); the
            # hours and appointment-only days are the kiosk's own config read by the controller's rule
            note = msg("closed") if issuing == "closed" else msg("quota") if issuing == "quota" else None
            style = "green" if self.visit.green_reason else "normal"
            o = self._opening(s.id)
            why = why_closed(o, appointment=False)
            if why is not None:
                note, style = why, "closed"
            out.append(Button("service", Msg(s.name.zh, s.name.mn), s.id, enabled=not blocked, detail=detail,
                              note=note, style=style, hours=hours_today(o)))
        return out

    def view(self) -> View:
        view = self._view()
        prompt = self._prompt()
        mode = self.kiosk.voice.mode
        speak = mode == "always" or (mode == "elder" and self.visit.elder)
        if prompt is not None and speak and self.screen not in (Screen.HOME, Screen.ISSUING, Screen.PRINTING):
            view = replace(view, buttons=(*view.buttons, Button("repeat", msg("repeat"), style="quiet")))
        return replace(view, voice=prompt, speak=speak and prompt is not None)

    def _prompt(self) -> Prompt | None:
        v = self.visit
        if self.screen is Screen.HOME:
            return Prompt("welcome")
        if self.screen is Screen.SERVICES:
            return Prompt("green" if v.card and v.green_reason else "card_read" if v.card else "choose")
        if self.screen is Screen.SCAN:
            return Prompt("place_card" if v.scan_purpose == "idcard" else "scan")
        if self.screen is Screen.PRINTING:
            return Prompt("printing")
        if self.screen is Screen.RESULT:
            t = v.ticket or {}
            area = self.area(str(t.get("service")))
            return Prompt("reprinted" if v.reprint else "result", int(t.get("ahead") or 0),
                          area.zh if area else None)
        if self.screen is Screen.ERROR:
            return Prompt(v.error_voice)
        return None

    def _view(self) -> View:
        v, banner, lang = self.visit, self._banner(), self.visit.lang
        base = View(self.screen, lang, v.elder, Msg(self.cfg.hall.name.zh, self.cfg.hall.name.mn), banner=banner)
        if self.screen is Screen.HOME:
            buttons: list[Button] = []
            for side in ("mn", "zh"):
                lg: Lang = "mn" if side == "mn" else "zh"
                buttons += [Button("lang", msg("take_number"), side, style="primary", lang=lg),
                            Button("elder", msg("elder"), side, lang=lg),
                            Button("green", msg("green"), side, style="green", lang=lg),
                            Button("scan", msg("scan_msb"), side, lang=lg),
                            Button("appointment", msg("appointment"), side, lang=lg)]
                if self.card_reader is not None:
                    buttons.append(Button("idcard", msg("idcard"), side, lang=lg, enabled=self.card_reader,
                                          note=None if self.card_reader else msg("idcard_down")))
            return replace(base, lines=(msg("welcome"),), buttons=tuple(buttons))
        if self.screen is Screen.SERVICES:
            greet: list[Msg] = []
            if v.holder_name:
                greet.append(msg("hello_holder", name=v.holder_name))
            if v.card is not None:    # the masked number only: the clear one never left the reader's thread
                greet.append(msg("idcard_number", masked=v.card.id_masked))
            if v.green_reason:
                greet.append(msg("green_yes", reason=v.green_reason))
            return replace(base, title=msg("choose_service"), lines=tuple(greet),
                           buttons=(*self._service_buttons(), Button("home", msg("home"), style="quiet")))
        if self.screen is Screen.SCAN:
            title = {"green": msg("green"), "appointment": msg("appointment"), "idcard": msg("idcard")}.get(
                v.scan_purpose, msg("scan_msb"))
            line = {"green": msg("green_scan"), "appointment": msg("show_appointment"),
                    "idcard": msg("idcard_place")}.get(v.scan_purpose, msg("show_msb"))
            extra: tuple[Msg, ...] = (msg("green_who"),) if v.scan_purpose == "green" else ()
            if self.card_reader and v.scan_purpose in ("green", "credential"):
                extra += (msg("idcard_home"),)         # no phone: the ID card proves age as well
            return replace(base, title=title, lines=(line, *extra),
                           buttons=(Button("home", msg("back"), style="quiet"),))
        if self.screen is Screen.ISSUING:
            svc = self._service(v.appointment_service or "")
            for_ = (msg("appointment_for", service=Msg(svc.name.zh, svc.name.mn)),) if svc else ()
            return replace(base, title=msg("issuing"), lines=for_, progress=0.0)
        if self.screen is Screen.PRINTING:
            return replace(base, title=msg("printing"), number=(v.ticket or {}).get("number"), progress=v.progress)
        if self.screen is Screen.RESULT:
            t = v.ticket or {}
            area = self.area(str(t.get("service")))
            lines = ((msg("reprinted"),) if v.reprint else ()) + self._wait_lines(t) + (
                (msg("area_at", area=area),) if area else ())
            return replace(base, title=msg("your_number"), number=t.get("number"), lines=lines,
                           buttons=(Button("home", msg("home"), style="primary"),))
        if self.screen is Screen.STATUS:
            found = v.looked_up
            status = (self._status_line(found),) if found else (msg("issuing"),)
            return replace(base, title=msg("your_number"), number=found.get("number") if found else None,
                           lines=status,
                           buttons=(Button("home", msg("home"), style="primary"),))
        labels = {"back": msg("back"), "home": msg("home"), "reprint": msg("reprint")}
        title = v.error_title or (msg("issue_failed") if v.ticket is None else msg("your_number"))
        return replace(base, title=title,
                       number=(v.ticket or {}).get("number"), lines=v.error,
                       buttons=tuple(Button(a, labels[a], style="primary" if a == "reprint" else "quiet")
                                     for a in v.error_buttons))

    def _wait_lines(self, t: dict[str, Any]) -> tuple[Msg, ...]:
        est = t.get("est_wait_s")
        wait = msg("est_wait", m=_minutes(est)) if est is not None else msg("est_wait_unknown")
        return (msg("ahead_n", n=int(t.get("ahead") or 0)), wait, msg("take_ticket"))

    def _status_line(self, t: dict[str, Any]) -> Msg:
        status = t.get("status")
        if status == "waiting":
            return msg("st_waiting", n=int(t.get("ahead") or 0))
        if status == "serving":
            return msg("st_serving", window=t.get("window") or "")
        return msg("st_finished") if status == "finished" else msg("st_no_show")


def _msg(name: LocalName) -> Msg:
    return Msg(name.zh, name.mn)


def _age_reason(reason: str) -> Msg:
    """'age 78' -> 年满78周岁 (as kiosk/peripherals.py words a 蒙速办 code's reason)."""
    years = reason.removeprefix("age ")
    return Msg(f"年满{years}周岁", f"{years} ᠨᠠᠰᠤ")


def _minutes(est_s: Any) -> int:
    return 0 if not est_s else max(1, round(int(est_s) / 60))

