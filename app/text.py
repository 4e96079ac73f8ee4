"""Free text the service stores or queries with: printable, so PostgreSQL can hold it.

PostgreSQL's text type cannot hold a NUL character: one in a series' name, description or an
attribute answered 500 when the insert failed. Other control characters (but tab, newline and
carriage return) are refused too: they garble logs and the dashboard, and no label needs them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

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


# The same rule as a JSON Schema pattern, so the OpenAPI document states it and clients (and the
# contract test's fuzzer) can tell what is stored before sending it.
PRINTABLE_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$"


class _DocumentedPattern:
    """Adds `pattern` to a string's JSON schema without a second check: `printable` checks,
    with a message that names the character and where it is."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = PRINTABLE_PATTERN
        return schema


Text = Annotated[str, AfterValidator(printable), _DocumentedPattern()]
