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
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from webhook.policy.plain_yaml import ReadPiece

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


def _read_and_send(read: ReadPiece, pieces: Sequence[str], index: int, sender: Connection) -> None:
    """A worker: read one piece (inherited, not sent) and send its items back; on any failure send
    nothing, so that the parent reads the piece itself and reports what went wrong."""
    try:
        with collector_paused():
            items = read(pieces[index])
        sender.send(items)
    except Exception:
        pass
    finally:
        sender.close()


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, as a container's cpuset sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ProcessPieces:
    """``plain_yaml.PieceMap`` reading the first piece here and each other one in a forked process.

    A worker inherits the text (nothing is sent to it), sends its items back through a pipe and
    exits, which frees its memory before this process has finished taking its items in. Forking
    is only safe while this process runs one thread (a child of a threaded process may inherit a
    lock another thread held); otherwise, and wherever processes cannot be started or a worker
    fails, the pieces are read here, in turn, with the same result.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = min(MAX_WORKERS, usable_cpus() if workers is None else workers)

    def __call__(self, read: ReadPiece, pieces: Sequence[str]) -> Sequence[list[Any] | None]:
        if len(pieces) < 2 or threading.active_count() > 1:
            return [read(piece) for piece in pieces]
        sys.stdout.flush()  # a worker must not write out what this process had buffered
        sys.stderr.flush()
        workers = {index: _start_worker(read, pieces, index) for index in range(1, len(pieces))}
        items = [read(pieces[0])]
        for index, worker in workers.items():
            received = _receive(worker)
            items.append(read(pieces[index]) if received is _NOTHING else received)
        return items


_NOTHING: Any = object()


def _start_worker(
    read: ReadPiece, pieces: Sequence[str], index: int
) -> tuple[BaseProcess, Connection] | None:
    """A forked process reading ``pieces[index]``, and the end of its pipe; ``None`` when no
    process or pipe can be had (then this process reads the piece)."""
    context = multiprocessing.get_context("fork")
    try:
        receiver, sender = context.Pipe(duplex=False)
    except OSError:
        return None
    try:
        process = context.Process(target=_read_and_send, args=(read, pieces, index, sender), daemon=True)
        process.start()
    except OSError:
        receiver.close()
        return None
    finally:
        sender.close()
    return process, receiver


def _receive(worker: tuple[BaseProcess, Connection] | None) -> Any:
    """What a worker sent, or ``_NOTHING`` when it failed, sent nothing, or never started."""
    if worker is None:
        return _NOTHING
    process, receiver = worker
    try:
        return receiver.recv()
    except Exception:  # a closed pipe (the worker failed) or a torn message
        return _NOTHING
    finally:
        receiver.close()
        process.join()
