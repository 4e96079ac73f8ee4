"""Free text the service stores or queries with: printable, so PostgreSQL can hold it.

PostgreSQL's text type cannot hold a NUL character: one in a series' name, description or an
attribute answered 500 when the insert failed. Other control characters (but tab, newline and
carriage return) are refused too: they garble logs and the dashboard, and no label needs them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

_ALLOWED_CONTROLS = frozenset("\t\n\r")


def printable(text: str) -> str:
    """`text` unchanged; ValueError naming the first control character it holds."""
    for position, character in enumerate(text):
        if (ord(character) < 32 or ord(character) == 127) and character not in _ALLOWED_CONTROLS:
            raise ValueError(
                f"holds the control character U+{ord(character):04X} at position {position}; "
                "only printable text, tabs and line breaks are stored"
            )
    return text


Text = Annotated[str, AfterValidator(printable)]
