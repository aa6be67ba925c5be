"""`hallq voice clips [--cache DIR] [--voice-dir DIR] [--config FILE]`: make the call screen ready to speak.

Generates every missing Chinese clip with espeak-ng (scripts/setup runs it at install time, so the demo
speaks at once) and lists, per language, the clips still missing — for Mongolian, the files a speaker
has to record into `voice_dir/mn/` (docs/display.md). Exit 0 when every language can be announced,
1 when some language still lacks clips (the screen then announces in the others only). With `--config`,
also the kiosk's spoken guidance (docs/kiosk.md) and the hall's areas (`area_…`, with what to say).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from hallq.voice import (
    DEFAULT_CACHE,
    GUIDE_ZH,
    KIOSK_MN_CLIPS,
    MN_CLIPS,
    ORDER,
    ZH_PHRASES,
    ClipLibrary,
    hall_area_clips,
    hall_areas,
)

CLIPS = {"zh": tuple(ZH_PHRASES), "mn": MN_CLIPS}


def run(args: argparse.Namespace) -> int:
    ap = argparse.ArgumentParser(prog="hallq voice clips", description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"generated clips (default {DEFAULT_CACHE})")
    ap.add_argument("--voice-dir", type=Path, help="the hall's recorded clips (displays[].voice_dir)")
    ap.add_argument("--config", type=Path, help="the hall's config: add the kiosk's guidance and the areas")
    opts = ap.parse_args(args.rest)
    if args.what != "clips":
        ap.error(f"unknown voice command {args.what!r} (known: clips)")
    clips = {lang: list(names) for lang, names in CLIPS.items()}
    areas: dict[str, tuple[str, str]] = {}
    if opts.config is not None:
        from hallq.config import ConfigError, load_config
        from hallq.errors import UsageError

        try:
            cfg = load_config(opts.config)
        except ConfigError as e:
            raise UsageError(f"config error: {e}") from None
        areas = hall_area_clips(cfg)
        clips["zh"] += [*GUIDE_ZH, *areas]
        clips["mn"] += [*KIOSK_MN_CLIPS, *areas]
    lib = ClipLibrary(opts.cache, opts.voice_dir, hall_areas(cfg) if opts.config is not None else ())
    complete = True
    for lang in ORDER:
        names = list(dict.fromkeys(clips[lang]))
        try:
            missing = lib.missing(lang, names)
        except (OSError, subprocess.SubprocessError) as e:
            print(f"{lang}: clips could not be generated: {e}")
            complete = False
            continue
        if missing:
            complete = False
            where = opts.voice_dir or "voice_dir"
            print(f"{lang}: {len(missing)} of {len(names)} clips missing — record {where}/{lang}/NAME.wav "
                  f"(16 kHz mono) for: {', '.join(missing)}")
            for name in missing:
                if lang == "mn" and name in areas:
                    print(f"  {name}.wav: say {areas[name][1] or '(no Mongolian name in the config)'} "
                          f"({areas[name][0]})")
        else:
            print(f"{lang}: all {len(names)} clips ready")
    return 0 if complete else 1
