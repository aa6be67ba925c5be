"""Voice announcements built from clips: "请 A012 号到 3 号窗口办理", in Chinese and in Mongolian.

`plan()` is pure: a call -> the clip names to play, in each language's word order (`ORDER`). Clips
are WAV files (16 kHz mono 16-bit) in a folder per language; professionally recorded clips in the
hall's `voice_dir` take precedence (layout and names: docs/display.md), and the Chinese set is
generated with espeak-ng at install time (`hallq voice clips`, run by scripts/setup), or on first
use when missing. espeak-ng has no Mongolian voice: without
recorded Mongolian clips the Mongolian announcement is skipped and the log says which files to
record. `Announcer` queues announcements so they never cut each other off.
"""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import threading
import wave
from collections.abc import Callable
from pathlib import Path

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
    "zh": ("qing", "{number}", "hao", "dao", "{window}", "hao", "chuangkou", "banli"),
    "mn": ("{number}", "dugaar", "{window}", "dugaar", "tsonh_du", "ochina_uu"),
}

# What a speaker records for each Mongolian clip (docs/display.md lists the same table).
MN_PHRASES = {"dugaar": "ᠳ᠋ᠤᠭᠠᠷ", "tsonh_du": "ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ", "ochina_uu": "ᠣᠴᠢᠨ᠎ᠠ ᠤᠤ",
              **{str(d): t for d, t in zip("0123456789", ("ᠲᠡᠭ", "ᠨᠢᠭᠡ", "ᠬᠣᠶᠠᠷ", "ᠭᠤᠷᠪᠠ", "ᠳᠥᠷᠪᠡ", "ᠲᠠᠪᠤ",
                                                           "ᠵᠢᠷᠭᠤᠭ᠎ᠠ", "ᠳᠣᠯᠣᠭ᠎ᠠ", "ᠨᠠᠶᠢᠮᠠ", "ᠶᠢᠰᠦ"),
                                            strict=True)},
              **{c: c for c in "ABCDEFGHJKLMNPQRSTUVWXYZ"}}
MN_CLIPS = tuple(MN_PHRASES)


def spell(s: str) -> list[str]:
    return [c.upper() if c.isalpha() else c for c in s if c.isalnum()]


def plan(number: str, window: str, lang: str = "zh") -> list[str]:
    """The clip sequence of one announcement in `lang` (ORDER, with the number and window spelled)."""
    try:
        order = ORDER[lang]
    except KeyError:
        raise ValueError(f"no announcement order for language {lang!r} (known: {', '.join(ORDER)})") from None
    slots = {"{number}": spell(number), "{window}": spell(window)}
    return [clip for part in order for clip in slots.get(part, [part])]


class ClipLibrary:
    """Clips per language: recorded ones in `recorded/{lang}/NAME.wav` first, then generated ones."""

    def __init__(self, cache: Path, recorded: Path | None = None) -> None:
        self.cache, self.recorded = cache, recorded

    def path(self, lang: str, name: str) -> Path | None:
        for base in (self.recorded, self.cache):
            if base is not None and (base / lang / f"{name}.wav").exists():
                return base / lang / f"{name}.wav"
        if lang == "zh" and name in ZH_PHRASES:
            return self._generate(name)
        return None

    def _generate(self, name: str) -> Path:
        out = self.cache / "zh" / f"{name}.wav"
        out.parent.mkdir(parents=True, exist_ok=True)
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            raise FileNotFoundError("espeak-ng is not installed (apt-get install espeak-ng; scripts/setup does it)")
        raw = out.with_suffix(".raw.wav")
        subprocess.run([espeak, "-v", "cmn", "-s", "150", "-w", str(raw), ZH_PHRASES[name]], check=True,
                       capture_output=True, timeout=30)
        subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True,
                       capture_output=True, timeout=30)
        raw.unlink()
        return out

    def missing(self, lang: str, names: list[str]) -> list[str]:
        return [n for n in names if self.path(lang, n) is None]


def concatenate(paths: list[Path], out: Path, gap_s: float = GAP_S) -> float:
    """Write the clips with short gaps into one WAV; returns its duration in seconds."""
    frames = bytearray()
    silence = b"\0\0" * int(RATE * gap_s)
    for i, p in enumerate(paths):
        with wave.open(str(p), "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
                raise ValueError(f"clip {p} must be {RATE} Hz mono 16-bit (convert it with sox)")
            frames += w.readframes(w.getnframes())
        if i < len(paths) - 1:
            frames += silence
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
        self.q: queue.Queue[tuple[int, str, str, int]] = queue.Queue()
        self.done: list[Path] = []
        self._seen: set[int] = set()
        self._warned = False
        self._thread = threading.Thread(target=self._run, name="announcer", daemon=True)
        self._thread.start()

    def announce(self, seq: int, number: str, window: str, recall: int = 0) -> bool:
        """Queue a call (a recall is a new event, so it is announced again); False for a duplicate seq."""
        if seq in self._seen:
            return False
        self._seen.add(seq)
        self.q.put((seq, number, window, recall))
        return True

    def wait(self) -> None:
        """Block until every queued announcement was played."""
        self.q.join()

    def _warm_up(self) -> None:
        if "zh" not in self.languages:
            return
        try:
            self.library.missing("zh", list(ZH_PHRASES))
        except (OSError, subprocess.SubprocessError) as e:
            log.warning("Chinese voice clips could not be generated: %s", e)

    def _run(self) -> None:
        if self.warm:
            self._warm_up()
        while True:
            seq, number, window, _recall = self.q.get()
            try:
                for lang in self.languages:
                    names = plan(number, window, lang)
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
