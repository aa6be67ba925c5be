"""The kiosk's spoken guidance: each screen's `Prompt` planned into clips (hallq/voice.py) and played in order.

Chinese clips are generated with espeak-ng; Mongolian is spoken only from recorded clips (voice_dir/mn/),
never faked: a Mongolian visit without them is guided in Chinese and the log names the files to record
(`hallq voice clips` lists them). A newer prompt replaces one not yet played (the screen moved on).
"""

from __future__ import annotations

import logging
import queue
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from hallq.config import HallConfig, KioskConfig
from hallq.voice import DEFAULT_CACHE, ClipLibrary, concatenate, guide, hall_areas, play_wav
from kiosk.presenter import Prompt

log = logging.getLogger("hallq.kiosk")


class KioskVoice:
    """A worker thread that turns prompts into WAVs (at the configured volume) and plays them one at a time."""

    def __init__(self, library: ClipLibrary, out_dir: Path, volume: float = 0.8,
                 play: Callable[[Path], None] | None = None, keep: bool = False) -> None:
        self.library, self.out_dir, self.volume = library, out_dir, volume
        self.play = play or play_wav
        self.keep = keep                   # keep the WAVs (tests); a kiosk deletes each once played
        self.done: list[tuple[Path, list[str]]] = []   # (WAV, its clips), newest last
        self.q: queue.Queue[tuple[int, Prompt, str]] = queue.Queue()
        self._n = 0
        self._warned: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="kiosk-voice", daemon=True)
        self._thread.start()

    @classmethod
    def for_kiosk(cls, cfg: HallConfig, kiosk: KioskConfig, data_dir: Path) -> KioskVoice:
        recorded = Path(cfg.source_dir or ".") / kiosk.voice.voice_dir if kiosk.voice.voice_dir else None
        return cls(ClipLibrary(DEFAULT_CACHE, recorded, hall_areas(cfg)), data_dir / "voice", kiosk.voice.volume)

    def say(self, prompt: Prompt, lang: str) -> None:
        """Queue a prompt; any prompt still waiting is dropped (it belongs to a screen already gone)."""
        while True:
            try:
                self.q.get_nowait()
                self.q.task_done()
            except queue.Empty:
                break
        self._n += 1
        self.q.put((self._n, prompt, lang))

    def wait(self) -> None:
        """Block until everything queued was played (tests)."""
        self.q.join()

    def clips(self, prompt: Prompt, lang: str) -> tuple[str, list[str]]:
        """The language actually spoken and its clips: Mongolian only when every clip is recorded."""
        names = guide(prompt.key, lang, prompt.n, prompt.area)
        if lang != "zh":
            missing = self.library.missing(lang, names)
            if missing:
                if lang not in self._warned:
                    self._warned.add(lang)
                    log.warning("kiosk voice: no recorded %s clips for %s — guiding in Chinese; record them as "
                                "voice_dir/%s/NAME.wav (16 kHz mono; `hallq voice clips` lists them)", lang,
                                ", ".join(missing), lang)
                return self.clips(prompt, "zh")
        return lang, names

    def _run(self) -> None:
        while True:
            n, prompt, lang = self.q.get()
            try:
                spoken, names = self.clips(prompt, lang)
                paths = [self.library.path(spoken, x) for x in names]
                if any(p is None for p in paths):
                    log.warning("kiosk voice: clips %s missing; prompt %s not said",
                                [x for x, p in zip(names, paths, strict=True) if p is None], prompt.key)
                    continue
                out = self.out_dir / f"{n:06d}-{prompt.key}-{spoken}.wav"
                concatenate([p for p in paths if p is not None], out, volume=self.volume)
                self.done.append((out, names))
                self.play(out)
                if not self.keep:
                    out.unlink(missing_ok=True)
            except (OSError, ValueError, subprocess.SubprocessError) as e:
                log.warning("kiosk voice: prompt %s failed: %s", prompt.key, e)
            finally:
                self.q.task_done()
