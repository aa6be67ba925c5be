"""The US keyboard layout as a HID "keyboard wedge" scanner types it: key codes <-> characters."""

from __future__ import annotations

from evdev import ecodes

# key code -> (character without shift, character with shift)
_LETTERS = {getattr(ecodes, f"KEY_{c.upper()}"): (c, c.upper()) for c in "abcdefghijklmnopqrstuvwxyz"}
_DIGIT_ROW = {getattr(ecodes, f"KEY_{d}"): (d, s) for d, s in zip("1234567890", "!@#$%^&*()", strict=True)}
_PUNCTUATION = {
    ecodes.KEY_MINUS: ("-", "_"),
    ecodes.KEY_EQUAL: ("=", "+"),
    ecodes.KEY_LEFTBRACE: ("[", "{"),
    ecodes.KEY_RIGHTBRACE: ("]", "}"),
    ecodes.KEY_BACKSLASH: ("\\", "|"),
    ecodes.KEY_SEMICOLON: (";", ":"),
    ecodes.KEY_APOSTROPHE: ("'", '"'),
    ecodes.KEY_GRAVE: ("`", "~"),
    ecodes.KEY_COMMA: (",", "<"),
    ecodes.KEY_DOT: (".", ">"),
    ecodes.KEY_SLASH: ("/", "?"),
    ecodes.KEY_SPACE: (" ", " "),
}
US_KEYS: dict[int, tuple[str, str]] = {**_LETTERS, **_DIGIT_ROW, **_PUNCTUATION}
LETTER_KEYS = frozenset(_LETTERS)  # the only keys Caps Lock affects

# Keypad keys type the same character with or without shift (scanners send them with Num Lock on).
KEYPAD_KEYS: dict[int, str] = {
    **{getattr(ecodes, f"KEY_KP{d}"): d for d in "0123456789"},
    ecodes.KEY_KPDOT: ".",
    ecodes.KEY_KPMINUS: "-",
    ecodes.KEY_KPPLUS: "+",
    ecodes.KEY_KPASTERISK: "*",
    ecodes.KEY_KPSLASH: "/",
}

END_KEYS = frozenset({ecodes.KEY_ENTER, ecodes.KEY_KPENTER, ecodes.KEY_TAB})
SHIFT_KEYS = frozenset({ecodes.KEY_LEFTSHIFT, ecodes.KEY_RIGHTSHIFT})
# Held with a character key these make a chord (e.g. Ctrl+] for GS1's GS) that has no text in a scan.
CHORD_KEYS = frozenset({ecodes.KEY_LEFTCTRL, ecodes.KEY_RIGHTCTRL, ecodes.KEY_LEFTALT, ecodes.KEY_RIGHTALT,
                        ecodes.KEY_LEFTMETA, ecodes.KEY_RIGHTMETA})
# Lock keys some scanners press before a scan to set a known state; they type nothing.
SILENT_KEYS = frozenset({ecodes.KEY_NUMLOCK, ecodes.KEY_SCROLLLOCK})

_TYPED_BY: dict[str, tuple[int, bool]] = {}
for _code, (_plain, _shifted) in US_KEYS.items():
    _TYPED_BY.setdefault(_plain, (_code, False))
    _TYPED_BY.setdefault(_shifted, (_code, True))
_TYPED_BY["\n"] = (ecodes.KEY_ENTER, False)
_TYPED_BY["\t"] = (ecodes.KEY_TAB, False)


def key_name(code: int) -> str:
    name = ecodes.KEY.get(code)
    if name is None:
        return f"key code {code}"
    return name if isinstance(name, str) else name[0]


def keystrokes(text: str) -> list[tuple[int, int]]:
    """The (code, value) key presses and releases a US-layout scanner makes to type `text`.

    "\\n" is Enter and "\\t" is Tab; capitals and shifted punctuation are typed with the left shift.
    """
    out: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        typed = _TYPED_BY.get(ch)
        if typed is None:
            raise ValueError(f"character {ch!r} at position {i} cannot be typed by a US-layout keyboard scanner "
                             "— codes read by keyboard-mode scanners must be printable ASCII")
        code, shift = typed
        if shift:
            out.append((ecodes.KEY_LEFTSHIFT, 1))
        out += [(code, 1), (code, 0)]
        if shift:
            out.append((ecodes.KEY_LEFTSHIFT, 0))
    return out
