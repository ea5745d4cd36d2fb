"""Keys as the app reads and shows them: section keys, Escape-then-digit, readable key names."""

from __future__ import annotations

from textual.keys import format_key

#: Textual reads ESC followed by a digit within ESCDELAY (100 ms) as the character macOS types
#: for Option+digit ("\x1b2" -> '™'), so Escape-then-2 typed quickly in the SQL editor inserted
#: '™' instead of leaving the editor and opening New run. Without these entries the parser
#: reports alt+digit, which the app binds to the sections like the digit itself.
ESCAPE_DIGIT_SEQUENCES = tuple(f"\x1b{digit}" for digit in "0123456789")

#: Readable names where Textual's own display is a word or a symbol that is hard to read.
READABLE = {"escape": "esc", "delete": "del", "space": "space", "enter": "enter", "tab": "tab",
            "up": "↑", "down": "↓", "left": "←", "right": "→", "pageup": "pgup", "pagedown": "pgdn"}


def read_escape_digit_as_alt() -> None:
    """Make the terminal parser report Escape-then-digit as alt+digit (idempotent)."""
    from textual._ansi_sequences import ANSI_SEQUENCES_KEYS

    for sequence in ESCAPE_DIGIT_SEQUENCES:
        ANSI_SEQUENCES_KEYS.pop(sequence, None)


def key_name(key: str) -> str:
    """``right_square_bracket`` -> ``]``, ``ctrl+slash`` -> ``ctrl+/``, ``delete`` -> ``del``."""
    *modifiers, base = key.strip().split("+")
    shown = READABLE.get(base) or format_key(base)
    return "+".join([*modifiers, shown])


def key_names(keys: str) -> str:
    """A binding's comma-separated keys, readable: ``right_square_bracket,n`` -> ``], n``."""
    return ", ".join(key_name(k) for k in keys.split(",") if k.strip())
