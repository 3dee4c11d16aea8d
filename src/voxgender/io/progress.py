"""Progress bars and one-line messages on standard error (quiet when not on a terminal)."""

from __future__ import annotations

import sys
from typing import Iterable, Sized, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")
console = Console(stderr=True)


def say(message: str) -> None:
    """Print one line to standard error."""
    print(message, file=sys.stderr, flush=True)


def progress_bar(items: Iterable[T], description: str, enabled: bool = True, total: int | None = None) -> Iterable[T]:
    """Iterate ``items`` with a progress bar on a terminal; plainly otherwise."""
    if not enabled or not console.is_terminal:
        yield from items
        return
    if total is None and isinstance(items, Sized):
        total = len(items)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        yield from progress.track(items, total=total, description=description)
