"""Voice announcements built from clips: "请 A012 号到 3 号窗口办理", in Chinese and in Mongolian.

`plan()` is pure: a call -> the clip names to play, in each language's word order (`ORDER`), with the
window's area (二楼B区) when the hall names one; `guide()` plans the kiosk's spoken guidance the same way
(`GUIDE_ORDER`, docs/kiosk.md). Clips
are WAV files (16 kHz mono 16-bit) in a folder per language; professionally recorded clips in the
hall's `voice_dir` take precedence (layout and names: docs/display.md), and the Chinese set is
generated with espeak-ng at install time (`hallq voice clips`, run by scripts/setup), or on first
use when missing. espeak-ng has no Mongolian voice: without
recorded Mongolian clips the Mongolian announcement is skipped and the log says which files to
record. `Announcer` queues announcements so they never cut each other off.
"""

from __future__ import annotations

import array
import hashlib
import logging
import queue
import shutil
import subprocess
import threading
import wave
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hallq.config import HallConfig, LocalName

log = logging.getLogger("hallq.voice")
DEFAULT_CACHE = Path.home() / ".cache" / "hallq" / "voice"   # generated clips; `hallq voice clips` fills it
RATE = 16000
GAP_S = 0.12

# clip name -> Chinese text spoken by espeak-ng
ZH_PHRASES = {"qing": "请", "hao": "号", "dao": "到", "chuangkou": "窗口", "banli": "办理",
              **{str(d): t for d, t in zip("0123456789", "零一二三四五六七八九", strict=True)},
              **{c: c for c in "ABCDEFGHJKLMNPQRSTUVWXYZ"}}

# The word order of one announcement per language: clip names, with {number} and {window} spelled
# out character by character into letter and digit clips. Mongolian puts the verb last:
# "A012 ᠳ᠋ᠤᠭᠠᠷ ᠂ 3 ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ ᠣᠴᠢᠨ᠎ᠠ ᠤᠤ" (number A012, please go to window number 3).
ORDER: dict[str, tuple[str, ...]] = {
    "zh": ("qing", "{number}", "hao", "dao", "{area}", "{window}", "hao", "chuangkou", "banli"),
    "mn": ("{number}", "dugaar", "{area}", "{window}", "dugaar", "tsonh_du", "ochina_uu"),
}

# What a speaker records for each Mongolian clip (docs/display.md lists the same table).
MN_PHRASES = {"dugaar": "ᠳ᠋ᠤᠭᠠᠷ", "tsonh_du": "ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ", "ochina_uu": "ᠣᠴᠢᠨ᠎ᠠ ᠤᠤ",
              **{str(d): t for d, t in zip("0123456789", ("ᠲᠡᠭ", "ᠨᠢᠭᠡ", "ᠬᠣᠶᠠᠷ", "ᠭᠤᠷᠪᠠ", "ᠳᠥᠷᠪᠡ", "ᠲᠠᠪᠤ",
                                                           "ᠵᠢᠷᠭᠤᠭ᠎ᠠ", "ᠳᠣᠯᠣᠭ᠎ᠠ", "ᠨᠠᠶᠢᠮᠠ", "ᠶᠢᠰᠦ"),
                                            strict=True)},
              **{c: c for c in "ABCDEFGHJKLMNPQRSTUVWXYZ"}}
MN_CLIPS = tuple(MN_PHRASES)

# The kiosk's spoken guidance (docs/kiosk.md): clip name -> text, and each prompt's clips per language.
# {n} is a count (Chinese: read as a number, 十二; Mongolian: digit by digit), {area} the area's clip.
GUIDE_ZH = {"g_welcome": "欢迎光临，请选择取号方式", "g_choose": "请选择办理的业务",
            "g_card_read": "已读取您的身份证", "g_green": "已为您开通绿色通道", "g_place_card": "请将身份证放在读卡区",
            "g_scan": "请将蒙速办二维码对准扫码口", "g_printing": "正在打印号票，请稍候", "g_take": "请取走您的号票",
            "g_ahead": "您前面还有", "ren": "人", "g_reprinted": "您已有该业务的号码，已为您重新打印",
            "g_error": "请看屏幕提示，或联系工作人员", "shi": "十", "bai": "百", "qian": "千",
            "g_closed": "该业务现在不能取号，请看屏幕上的取号时间",
            "g_appointment_only": "该业务今日仅限预约，已预约的群众请扫预约码签到"}
GUIDE_MN = {"g_welcome": "ᠮᠡᠨᠳᠦ ᠬᠦᠷᠭᠡᠶ᠎ᠡ", "g_choose": "ᠠᠵᠢᠯ ᠬᠡᠷᠡᠭ ᠢ᠋ᠶ᠋ᠡᠨ ᠰᠣᠩᠭᠣᠨ᠎ᠠ ᠤᠤ",
            "g_card_read": "ᠦᠨᠡᠮᠯᠡᠯ ᠢ᠋ ᠤᠩᠱᠢᠪᠠ", "g_green": "ᠨᠣᠭᠣᠭᠠᠨ ᠵᠠᠮ ᠨᠡᠭᠡᠭᠡᠪᠡ",
            "g_place_card": "ᠪᠡᠶ᠎ᠡ ᠶ᠋ᠢᠨ ᠦᠨᠡᠮᠯᠡᠯ ᠢ᠋ᠶ᠋ᠡᠨ ᠤᠩᠱᠢᠭᠤᠷ ᠲᠤ ᠲᠠᠯᠪᠢᠨ᠎ᠠ ᠤᠤ",
            "g_scan": "ᠮᠣᠩᠭᠣᠯ ᠬᠤᠷᠳᠤᠨ ᠠᠯᠪᠠ ᠶ᠋ᠢᠨ ᠺᠣᠳ᠋ ᠢ᠋ᠶ᠋ᠠᠨ ᠰᠢᠷᠪᠢᠭᠦᠯᠦᠨ᠎ᠡ ᠦᠦ",
            "g_printing": "ᠳ᠋ᠤᠭᠠᠷ ᠢ᠋ ᠳᠠᠷᠤᠮᠠᠯᠵᠤ ᠪᠠᠶᠢᠨ᠎ᠠ", "g_take": "ᠳ᠋ᠤᠭᠠᠷ ᠤ᠋ᠨ ᠲᠠᠰᠤᠭ ᠢ᠋ᠶ᠋ᠠᠨ ᠠᠪᠤᠨ᠎ᠠ ᠤᠤ",
            "g_ahead": "ᠡᠮᠦᠨ᠎ᠡ ᠪᠡᠨ", "humun": "ᠬᠦᠮᠦᠨ", "g_reprinted": "ᠳᠠᠬᠢᠵᠤ ᠳᠠᠷᠤᠮᠠᠯᠠᠪᠠ",
            "g_error": "ᠠᠵᠢᠯᠲᠠᠨ ᠳ᠋ᠤ ᠬᠠᠨᠳᠤᠨ᠎ᠠ ᠤᠤ", "bairi_du": "ᠪᠠᠶᠢᠷᠢ ᠳ᠋ᠤ ᠣᠴᠢᠨ᠎ᠠ ᠤᠤ",
            "g_closed": "ᠡᠨᠡ ᠠᠵᠢᠯ ᠳ᠋ᠤ ᠣᠳᠣ ᠳ᠋ᠤᠭᠠᠷ ᠠᠪᠬᠤ ᠪᠣᠯᠤᠮᠵᠢ ᠦᠭᠡᠢ",
            "g_appointment_only": "ᠥᠨᠥᠳᠥᠷ ᠵᠥᠪᠬᠡᠨ ᠤᠷᠢᠳᠴᠢᠯᠠᠨ ᠵᠠᠬᠢᠶᠠᠯᠠᠭᠰᠠᠨ ᠂ ᠵᠠᠬᠢᠶᠠᠯᠠᠭᠰᠠᠨ ᠺᠣᠳ᠋ ᠢ᠋ᠶ᠋ᠠᠨ ᠰᠢᠷᠪᠢᠭᠦᠯᠦᠨ᠎ᠡ ᠦᠦ"}
KIOSK_MN_CLIPS = tuple(GUIDE_MN)
GUIDE_ORDER: dict[str, dict[str, tuple[str, ...]]] = {
    "zh": {"welcome": ("g_welcome",), "choose": ("g_choose",), "card_read": ("g_card_read", "g_choose"),
           "green": ("g_card_read", "g_green", "g_choose"), "place_card": ("g_place_card",), "scan": ("g_scan",),
           "printing": ("g_printing",), "result": ("g_take", "g_ahead", "{n}", "ren", "{goto}"),
           "reprinted": ("g_reprinted", "g_ahead", "{n}", "ren", "{goto}"), "error": ("g_error",),
           "closed": ("g_closed",), "appointment_only": ("g_appointment_only",)},
    "mn": {"welcome": ("g_welcome",), "choose": ("g_choose",), "card_read": ("g_card_read", "g_choose"),
           "green": ("g_card_read", "g_green", "g_choose"), "place_card": ("g_place_card",), "scan": ("g_scan",),
           "printing": ("g_printing",), "result": ("g_take", "g_ahead", "{n}", "humun", "{goto}"),
           "reprinted": ("g_reprinted", "g_ahead", "{n}", "humun", "{goto}"), "error": ("g_error",),
           "closed": ("g_closed",), "appointment_only": ("g_appointment_only",)},
}
GOTO = {"zh": ("qing", "dao", "{area}", "banli"), "mn": ("{area}", "bairi_du")}   # 请到 二楼B区 办理


def spell(s: str) -> list[str]:
    return [c.upper() if c.isalpha() else c for c in s if c.isalnum()]


def area_clip(area_zh: str) -> str:
    """The clip name of an area (`area_` + 8 hex of its Chinese name): generated in Chinese, recorded in
    Mongolian as voice_dir/mn/area_….wav (`hallq voice clips --config FILE` lists them with their text)."""
    return "area_" + hashlib.sha256(area_zh.encode("utf-8")).hexdigest()[:8]


def hall_areas(cfg: HallConfig) -> list[str]:
    """The Chinese names of every area the hall's windows and services name (each is a clip)."""
    return list(dict.fromkeys(name.zh for name in _areas(cfg)))


def hall_area_clips(cfg: HallConfig) -> dict[str, tuple[str, str]]:
    """area clip name -> (Chinese, Mongolian): what `hallq voice clips --config` asks a speaker to record."""
    out: dict[str, tuple[str, str]] = {}
    for name in _areas(cfg):
        out.setdefault(area_clip(name.zh), (name.zh, name.mn))
    return out


def _areas(cfg: HallConfig) -> list[LocalName]:
    return [a for a in [*(w.area for w in cfg.windows), *(s.area for s in cfg.services)] if a is not None]


def zh_count(n: int) -> list[str]:
    """A count read in Chinese, as clips: 5 -> 五, 12 -> 十二, 105 -> 一百零五; from 10000 on, digit by digit."""
    if n < 0 or n >= 10000:
        return spell(str(n))
    if n < 10:
        return [str(n)]
    out: list[str] = []
    digits = [int(d) for d in str(n)]
    units = ["qian", "bai", "shi", ""][4 - len(digits):]
    zero = False
    for i, (d, unit) in enumerate(zip(digits, units, strict=True)):
        if d == 0:
            zero = True
            continue
        if zero and out:
            out.append("0")
        zero = False
        if not (d == 1 and unit == "shi" and i == 0):    # 十二, not 一十二
            out.append(str(d))
        if unit:
            out.append(unit)
    return out


def plan(number: str, window: str, lang: str = "zh", area: str | None = None) -> list[str]:
    """The clip sequence of one announcement in `lang` (ORDER, with the number and window spelled, and the
    area's clip when the window has an area)."""
    try:
        order = ORDER[lang]
    except KeyError:
        raise ValueError(f"no announcement order for language {lang!r} (known: {', '.join(ORDER)})") from None
    slots = {"{number}": spell(number), "{window}": spell(window), "{area}": [area_clip(area)] if area else []}
    return [clip for part in order for clip in slots.get(part, [part])]


def guide(prompt: str, lang: str = "zh", n: int | None = None, area: str | None = None) -> list[str]:
    """The clip sequence of one kiosk prompt in `lang` (GUIDE_ORDER): "请取走您的号票 您前面还有 五 人"."""
    try:
        order = GUIDE_ORDER[lang][prompt]
    except KeyError:
        raise ValueError(f"no kiosk prompt {prompt!r} in language {lang!r}") from None
    count = (zh_count(n) if lang == "zh" else spell(str(n))) if n is not None else []
    goto = [c for part in GOTO[lang] for c in ([area_clip(area)] if part == "{area}" else [part])] if area else []
    slots = {"{n}": count, "{goto}": goto}
    return [clip for part in order for clip in slots.get(part, [part])]


class ClipLibrary:
    """Clips per language: recorded ones in `recorded/{lang}/NAME.wav` first, then generated ones."""

    def __init__(self, cache: Path, recorded: Path | None = None, areas: list[str] | tuple[str, ...] = ()) -> None:
        self.cache, self.recorded = cache, recorded
        # Chinese texts espeak-ng may speak: the call's words, the kiosk's guidance, the hall's areas
        self.phrases = {**ZH_PHRASES, **GUIDE_ZH, **{area_clip(a): a for a in areas}}

    def path(self, lang: str, name: str) -> Path | None:
        for base in (self.recorded, self.cache):
            if base is not None and (base / lang / f"{name}.wav").exists():
                return base / lang / f"{name}.wav"
        if lang == "zh" and name in self.phrases:
            return self._generate(name)
        return None

    def _generate(self, name: str) -> Path:
        out = self.cache / "zh" / f"{name}.wav"
        out.parent.mkdir(parents=True, exist_ok=True)
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            raise FileNotFoundError("espeak-ng is not installed (apt-get install espeak-ng; scripts/setup does it)")
        raw = out.with_suffix(".raw.wav")
        subprocess.run([espeak, "-v", "cmn", "-s", "150", "-w", str(raw), self.phrases[name]], check=True,
                       capture_output=True, timeout=30)
        subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True,
                       capture_output=True, timeout=30)
        raw.unlink()
        return out

    def missing(self, lang: str, names: list[str]) -> list[str]:
        return [n for n in names if self.path(lang, n) is None]


def concatenate(paths: list[Path], out: Path, gap_s: float = GAP_S, volume: float = 1.0) -> float:
    """Write the clips with short gaps into one WAV (samples scaled by `volume`); returns its duration in s."""
    frames = bytearray()
    silence = b"\0\0" * int(RATE * gap_s)
    for i, p in enumerate(paths):
        with wave.open(str(p), "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
                raise ValueError(f"clip {p} must be {RATE} Hz mono 16-bit (convert it with sox)")
            frames += w.readframes(w.getnframes())
        if i < len(paths) - 1:
            frames += silence
    if volume != 1.0:
        samples = array.array("h", bytes(frames))
        samples = array.array("h", (max(-32768, min(32767, int(x * volume))) for x in samples))
        frames = bytearray(samples.tobytes())
    out.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))
    return len(frames) / 2 / RATE


class Announcer:
    """A queue of announcements played one after another by a worker thread (never cut off)."""

    def __init__(self, library: ClipLibrary, out_dir: Path, languages: tuple[str, ...] = ("mn", "zh"),
                 play: Callable[[Path], None] | None = None, keep: bool = False,
                 on_start: Callable[[int, str], None] | None = None, warm: bool = False) -> None:
        self.library, self.out_dir, self.languages = library, out_dir, languages
        self.keep = keep  # keep the announcement WAVs (tests); a hall deletes each once played
        self.play = play or _play
        self.on_start = on_start  # (seq, lang) just before the player starts: the bench's "audio started"
        self.warm = warm  # generate every missing Chinese clip first, so the first call is not slow
        self.q: queue.Queue[tuple[int, str, str, int, str | None]] = queue.Queue()
        self.done: list[Path] = []
        self._seen: set[int] = set()
        self._warned = False
        self._thread = threading.Thread(target=self._run, name="announcer", daemon=True)
        self._thread.start()

    def announce(self, seq: int, number: str, window: str, recall: int = 0, area: str | None = None) -> bool:
        """Queue a call (a recall is a new event, so it is announced again); False for a duplicate seq.
        `area`: the window's area in Chinese (its clip is `area_clip(area)`), said before the window."""
        if seq in self._seen:
            return False
        self._seen.add(seq)
        self.q.put((seq, number, window, recall, area))
        return True

    def wait(self) -> None:
        """Block until every queued announcement was played."""
        self.q.join()

    def _warm_up(self) -> None:
        if "zh" not in self.languages:
            return
        try:
            self.library.missing("zh", list(self.library.phrases))
        except (OSError, subprocess.SubprocessError) as e:
            log.warning("Chinese voice clips could not be generated: %s", e)

    def _run(self) -> None:
        if self.warm:
            self._warm_up()
        while True:
            seq, number, window, _recall, area = self.q.get()
            try:
                for lang in self.languages:
                    names = plan(number, window, lang, area)
                    missing = self.library.missing(lang, names)
                    if missing:
                        if not self._warned:
                            log.warning("no %s voice clips for %s: record them as %s/%s/NAME.wav (16 kHz mono, "
                                        "names and texts in docs/display.md); announcing in the other language "
                                        "only", lang, ", ".join(missing), self.library.recorded or "voice_dir", lang)
                            self._warned = True
                        continue
                    out = self.out_dir / f"{seq:06d}-{lang}.wav"
                    concatenate([p for p in (self.library.path(lang, n) for n in names) if p], out)
                    self.done.append(out)
                    if self.on_start is not None:
                        self.on_start(seq, lang)
                    self.play(out)
                    if not self.keep:
                        out.unlink(missing_ok=True)
            except (OSError, ValueError, subprocess.SubprocessError) as e:
                log.warning("announcement of %s failed: %s", number, e)
            finally:
                self.q.task_done()


_player_failed = False


def _play(path: Path) -> None:
    global _player_failed
    player = shutil.which("aplay") or shutil.which("paplay")
    if player is None:
        log.info("no sound player (aplay/paplay): announcement written to %s", path)
        return
    done = subprocess.run([player, str(path)], capture_output=True, timeout=60)
    if done.returncode != 0 and not _player_failed:
        _player_failed = True  # once: a screen without a sound card would otherwise log every call
        err = done.stderr.decode(errors="replace").strip().splitlines()
        log.warning("%s could not play the announcement (%s): check the sound card and volume",
                    Path(player).name, err[-1] if err else f"exit code {done.returncode}")


def play_wav(path: Path) -> None:
    """Play a WAV with aplay/paplay (the kiosk's guidance uses the same player as the call)."""
    _play(path)
