"""What a running kiosk or call screen takes from an edited hall config, and what only a restart changes.

Each app has one table of the keys it reads (`KIOSK_KEYS`, `DISPLAY_KEYS`): how to read the value, and — for a
key a running process cannot change — why not. `decide(...)` compares the configuration it runs with the edited
one through that table and says what changed and whether the new one can run now: pure, no I/O, no clock. A key
the app does not read (staff, devices, another kiosk's entry, …) is not its business: a file that changes only
those is taken as it is. docs/kiosk.md and docs/display.md list the same tables for installers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from hallq.config import DisplayConfig, HallConfig, KioskConfig

Own = TypeVar("Own", KioskConfig, DisplayConfig)


@dataclass(frozen=True)
class Key(Generic[Own]):
    """One thing an app reads: `name` as the YAML says it (`{id}` is the app's own entry), how to read it from
    the configuration and the app's own entry, and `restart` — why only a restart changes it (None: live)."""

    name: str
    read: Callable[[HallConfig, Own], object]
    restart: str | None = None


@dataclass(frozen=True)
class Decision:
    """What an edited configuration changes for one running app, and whether it can run now."""

    who: str                                      # "kiosk k1", "display tv"
    live: tuple[str, ...] = ()                    # changed keys it takes without a restart
    restart: tuple[tuple[str, str], ...] = ()     # changed keys it cannot take, each with why
    missing: str | None = None                    # its own entry is no longer in the file

    @property
    def ok(self) -> bool:
        return self.missing is None and not self.restart

    def refusal(self) -> str:
        """One line: why the new configuration cannot run in this process (empty when it can)."""
        if self.missing is not None:
            return self.missing
        if not self.restart:
            return ""
        keys = "; ".join(f"{key} ({why})" for key, why in self.restart)
        return f"{keys} — cannot change while {self.who} runs: restart it for that"

    def changes(self) -> str:
        """The changed keys it takes, for its log line."""
        return ", ".join(self.live) + " changed" if self.live else f"nothing {self.who} uses changed"


def decide(keys: Sequence[Key[Own]], who: str, old: HallConfig, old_own: Own, new: HallConfig,
           new_own: Own | None, missing: str = "") -> Decision:
    """Compare what the app runs (`old`, its entry `old_own`) with the edited file (`new`, its entry there, None
    when it is gone: `missing` says so) key by key through `keys`."""
    if new_own is None:
        return Decision(who, missing=missing or f"{who} is not in the new configuration")
    live: list[str] = []
    restart: list[tuple[str, str]] = []
    for key in keys:
        if key.read(old, old_own) != key.read(new, new_own):
            name = key.name.format(id=old_own.id)
            if key.restart is None:
                live.append(name)
            else:
                restart.append((name, key.restart))
    return Decision(who, tuple(live), tuple(restart))


# -- what every hallq process keeps from its start (as the controller: controller/reload.py) -------------------
def _shared(_own: type[Own]) -> tuple[Key[Own], ...]:
    return (
        Key("hall.id", lambda c, _o: c.hall.id, "its topics and MQTT client id name the hall"),
        Key("hall.timezone", lambda c, _o: c.hall.timezone,
            "the controller keeps its time zone until it is restarted, and the hall's hours follow it"),
        Key("mqtt", lambda c, _o: c.mqtt, "the broker link (host, port, TLS, credentials) is made at start"),
        Key("security.mode", lambda c, _o: c.security.mode, "its topics and broker account are chosen at start"),
        Key("data_dir", lambda c, _o: c.data_dir, "its files (pid, answers, stores) are there"),
    )


K = "kiosks[{id}]"
KIOSK_KEYS: tuple[Key[KioskConfig], ...] = (
    *_shared(KioskConfig),
    Key("evaluation.rater_public_key", lambda c, _k: c.evaluation.rater_public_key,
        "the scanner and the ID card reader seal raters' identities with the key they started with"),
    Key(f"{K}.printer", lambda _c, k: k.printer, "the printer is opened at start"),
    Key(f"{K}.scanner", lambda _c, k: k.scanner, "the scanner is opened at start"),
    Key(f"{K}.idcard", lambda _c, k: k.idcard, "the ID card reader and its keys are opened at start"),
    Key(f"{K}.credentials", lambda _c, k: k.credentials, "the code verifier is made at start with these keys"),
    Key(f"{K}.voice (voice_dir, volume, mode off)", lambda _c, k: (k.voice.voice_dir, k.voice.volume,
                                                                   k.voice.mode == "off"),
        "the voice player is made at start"),
    # live: the next screen the kiosk draws (a visit under way finishes with what it started with)
    Key("hall.name", lambda c, _k: c.hall.name),
    Key("services", lambda c, _k: c.services),               # names, prefixes, hours, appointment-only days, areas
    Key("hours", lambda c, _k: c.hours),
    Key("windows (services, areas)", lambda c, _k: [(w.id, w.services, w.area) for w in c.windows]),
    Key(f"{K}.services", lambda _c, k: k.services),
    Key(f"{K}.idle_timeout_s", lambda _c, k: k.idle_timeout_s),
    Key(f"{K}.ticket_notice", lambda _c, k: k.ticket_notice),
    Key(f"{K}.lookup_url", lambda _c, k: k.lookup_url),
    Key(f"{K}.voice (mode, quiet_hours)", lambda _c, k: (k.voice.mode, k.voice.quiet_hours)),
)

D = "displays[{id}]"
DISPLAY_KEYS: tuple[Key[DisplayConfig], ...] = (
    *_shared(DisplayConfig),
    Key("displays (which entry this screen is)", lambda _c, d: d.id,
        "the screen's persistent MQTT session and reply topic are named by its id"),
    Key(f"{D}.client_id", lambda _c, d: d.client_id, "the screen's persistent MQTT session is named by it"),
    Key(f"{D}.voice, voice_dir, languages", lambda _c, d: (d.voice, d.voice_dir, d.languages),
        "the announcer is made at start"),
    # live: the next frame the screen draws (a call is spoken with the area its window had when it came)
    Key("hall.name", lambda c, _d: c.hall.name),
    Key("services (names, order)", lambda c, _d: [(s.id, s.name) for s in c.services]),
    Key("windows", lambda c, _d: c.windows),                 # services, names, areas
    Key(f"{D}.windows", lambda _c, d: d.windows),
    Key(f"{D}.services", lambda _c, d: d.services),
    Key(f"{D}.notice", lambda _c, d: d.notice),
    Key(f"{D}.history", lambda _c, d: d.history),
    Key(f"{D}.notice_speed_px_s", lambda _c, d: d.notice_speed_px_s),
    Key(f"{D}.waiting_per_page", lambda _c, d: d.waiting_per_page),
    Key(f"{D}.waiting_page_s", lambda _c, d: d.waiting_page_s),
    Key(f"{D}.announce_max_age_s", lambda _c, d: d.announce_max_age_s),
)


def for_kiosk(old: HallConfig, kiosk: KioskConfig, new: HallConfig) -> tuple[Decision, KioskConfig | None]:
    """The decision for kiosk `kiosk` (running `old`), and its entry in `new` (None when it is gone)."""
    mine = new.kiosk(kiosk.id)
    known = ", ".join(k.id for k in new.kiosks) or "none configured"
    return decide(KIOSK_KEYS, f"kiosk {kiosk.id}", old, kiosk, new, mine,
                  missing=f"kiosks: no kiosk {kiosk.id!r} in the new file (known: {known})"), mine
