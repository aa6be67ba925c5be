"""The call screen's words in traditional Mongolian and Chinese, in one table a hall can have reviewed.

The Mongolian follows the kiosk's wording (kiosk/i18n.py: ᠳ᠋ᠤᠭᠠᠷ "number", ᠴᠣᠩᠬᠣ "window",
ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ "waiting") so a citizen reads the same words on the slip and on the screen.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bi:
    """One text in both languages; Mongolian is shown first (left of / before Chinese)."""

    mn: str
    zh: str


WORDS: dict[str, Bi] = {
    "call": Bi("{number} ᠳ᠋ᠤᠭᠠᠷ ᠂ {window} ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ ᠣᠴᠢᠨ᠎ᠠ ᠤᠤ", "请 {number} 号到 {window} 号窗口办理"),
    "recent": Bi("{window} ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ", "{window}号窗口"),
    "waiting": Bi("ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ {n}", "等候 {n} 人"),
    "welcome": Bi("ᠮᠡᠨᠳᠦ ᠬᠦᠷᠭᠡᠶ᠎ᠡ", "欢迎光临"),
    "offline": Bi("ᠰᠢᠰᠲ᠋ᠧᠮ ᠵᠠᠯᠭᠠᠵᠤ ᠪᠠᠶᠢᠨ᠎ᠠ ᠂ ᠲᠦᠷ ᠬᠦᠯᠢᠶᠡᠨ᠎ᠡ ᠦᠦ", "系统连接中，请稍候"),
    "notice": Bi("ᠳ᠋ᠤᠭᠠᠷ ᠳᠠᠭᠤᠳᠠᠬᠤ ᠵᠢ ᠬᠦᠯᠢᠶᠡᠨ᠎ᠡ ᠦᠦ ᠂ ᠳ᠋ᠤᠭᠠᠷ ᠥᠩᠭᠡᠷᠡᠪᠡ ᠂ ᠳᠠᠬᠢᠨ ᠠᠪᠤᠨ᠎ᠠ ᠤᠤ",
                 "请留意叫号，过号请重新取号。"),
}


def word(key: str, **fields: object) -> Bi:
    """A text of the table with its `{fields}` filled in, in both languages."""
    w = WORDS[key]
    return Bi(w.mn.format(**fields), w.zh.format(**fields)) if fields else w
