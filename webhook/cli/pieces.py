"""Large exports read by more than one process.

A 10,000-Pod ``kubectl get pods -A -o yaml`` export takes libyaml ~9 s to read in one process; its
items, cut into pieces by ``plain_yaml.split_list``, are read by forked worker processes while
this one reads the first piece. Reading is pure and allocates only acyclic data, so the cyclic
garbage collector is paused meanwhile (it would walk the growing heap again and again for nothing).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from webhook.policy.plain_yaml import ReadPiece

T = TypeVar("T")

#: more processes than this do not pay for themselves: each reads a piece and sends its items back
MAX_WORKERS = 4


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (as it was, after)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read_without_collector(read: Callable[[str], T], piece: str) -> T:
    with collector_paused():
        return read(piece)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, as a container's cpuset sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ProcessPieces:
    """``plain_yaml.PieceMap`` reading the first piece here and the others in forked processes.

    Forking is only safe while this process runs one thread (a child of a threaded process may
    inherit a lock another thread held); otherwise, and wherever processes cannot be started or
    a worker fails, the pieces are read here, in turn, with the same result.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = min(MAX_WORKERS, usable_cpus() if workers is None else workers)

    def __call__(self, read: ReadPiece, pieces: Sequence[str]) -> Sequence[list[Any] | None]:
        if len(pieces) < 2 or threading.active_count() > 1:
            return [read(piece) for piece in pieces]
        try:
            pool = ProcessPoolExecutor(len(pieces) - 1, mp_context=multiprocessing.get_context("fork"))
        except (OSError, ValueError):  # no semaphores (no /dev/shm), no fork
            return [read(piece) for piece in pieces]
        with pool:
            futures = [pool.submit(partial(_read_without_collector, read), piece) for piece in pieces[1:]]
            first = read(pieces[0])
            rest: list[list[Any] | None] = []
            for index, future in enumerate(futures, start=1):
                try:
                    rest.append(future.result())
                except Exception:  # a broken worker: read it here, where an error shows
                    rest.append(read(pieces[index]))
        return [first, *rest]
