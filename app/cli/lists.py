"""Options that take lists, all in one style: comma-separated, and the option may be repeated.

`--known shift,setpoint` and `--known shift --known setpoint` mean the same, for every command,
so nobody has to remember which command wanted spaces and which commas. Commas won because most
list options took them already and a list then fits in one shell word (a cron line, a compose
`command:`). `--series` took space-separated ids (`--series 3 5`); it still does, so the cron
lines written for it keep working.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any


class _CommaList(argparse.Action):
    """Splits each value at commas, converts every item, and adds them to what earlier
    occurrences of the option gave; the first occurrence replaces the default."""

    def __init__(self, *args: Any, item: Callable[[str], Any], **kwargs: Any) -> None:
        self.item = item
        super().__init__(*args, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        earlier = getattr(namespace, self.dest)
        items = [] if earlier is None or earlier is self.default else list(earlier)
        for value in [values] if isinstance(values, str) else values or ():
            for text in (part.strip() for part in value.split(",")):
                if not text:
                    continue
                try:
                    items.append(self.item(text))
                except ValueError:
                    name = getattr(self.item, "__name__", "")
                    parser.error(f"argument {option_string}: invalid {name} value: {text!r}")
        setattr(namespace, self.dest, items)


def add_list_option(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    metavar: str,
    help: str,
    item: Callable[[str], Any] = str,
    default: list[Any] | None = None,
    spaces: bool = False,
) -> None:
    """`flag A,B`, repeatable; the parsed value is a list of `item`s (`default` when absent).

    `spaces` also takes space-separated values after one flag: only for `--series`, which
    always did.
    """
    parser.add_argument(
        flag,
        action=_CommaList,
        item=item,
        nargs="+" if spaces else None,
        default=default,
        metavar=f"{metavar}[,{metavar}...]",
        help=help,
    )
