"""`hallq voice clips [--cache DIR] [--voice-dir DIR]`: make the call screen ready to speak.

Generates every missing Chinese clip with espeak-ng (scripts/setup runs it at install time, so the demo
speaks at once) and lists, per language, the clips still missing — for Mongolian, the files a speaker
has to record into `voice_dir/mn/` (docs/display.md). Exit 0 when every language can be announced,
1 when some language still lacks clips (the screen then announces in the others only).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from display.voice import DEFAULT_CACHE, MN_CLIPS, ORDER, ZH_PHRASES, ClipLibrary

CLIPS = {"zh": tuple(ZH_PHRASES), "mn": MN_CLIPS}


def run(args: argparse.Namespace) -> int:
    ap = argparse.ArgumentParser(prog="hallq voice clips", description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"generated clips (default {DEFAULT_CACHE})")
    ap.add_argument("--voice-dir", type=Path, help="the hall's recorded clips (displays[].voice_dir)")
    opts = ap.parse_args(args.rest)
    if args.what != "clips":
        ap.error(f"unknown voice command {args.what!r} (known: clips)")
    lib = ClipLibrary(opts.cache, opts.voice_dir)
    complete = True
    for lang in ORDER:
        try:
            missing = lib.missing(lang, list(CLIPS[lang]))
        except (OSError, subprocess.SubprocessError) as e:
            print(f"{lang}: clips could not be generated: {e}")
            complete = False
            continue
        if missing:
            complete = False
            where = opts.voice_dir or "voice_dir"
            print(f"{lang}: {len(missing)} of {len(CLIPS[lang])} clips missing — record {where}/{lang}/NAME.wav "
                  f"(16 kHz mono) for: {', '.join(missing)}")
        else:
            print(f"{lang}: all {len(CLIPS[lang])} clips ready")
    return 0 if complete else 1
