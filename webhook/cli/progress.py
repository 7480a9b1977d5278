"""Progress of long work on stderr (tqdm), for ``audit`` and ``simulate``: pages read, items
reviewed, rate and time left. Only when stderr is a terminal and ``--quiet`` is not given: piped or
redirected runs, and CI logs, get nothing, and stdout is never touched.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress on stderr (shown only when it is a terminal)"
    )


class Progress:
    """Progress bars when ``enabled``; every method is a no-op otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._listing: dict[str, Any] = {}  # a bar per list being paged, by what is listed

    @classmethod
    def for_args(cls, args: argparse.Namespace) -> Progress:
        return cls(enabled=not getattr(args, "quiet", False) and sys.stderr.isatty())

    def page(self, what: str, read: int, remaining: int | None, last: bool) -> None:
        """A page of a list arrived (``webhook.cluster.client.Paging.progress``)."""
        if not self.enabled:
            return
        bar = self._listing.get(what)
        if bar is None:
            from tqdm import tqdm  # imported only to show progress

            bar = self._listing[what] = tqdm(desc=what, unit=" items", file=sys.stderr, leave=False)
        bar.total = read + remaining if remaining is not None else None
        bar.update(read - bar.n)
        if last:
            bar.close()

    def track(
        self, items: Iterable[T], what: str, *, total: int | None = None, unit: str = " items"
    ) -> Iterator[T]:
        """``items``, with a bar of how many have been taken (rate and time left with a total)."""
        if not self.enabled:
            yield from items
            return
        from tqdm import tqdm  # imported only to show progress

        with tqdm(items, desc=what, total=total, unit=unit, file=sys.stderr, leave=False) as bar:
            yield from bar
