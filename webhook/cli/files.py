"""Reading the offline commands' inputs: files, or ``-`` for stdin (the engine only parses text).

A file holds any number of YAML or JSON documents; each problem is an ``InputError`` naming the
file (exit 2).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from webhook.cli.pieces import ProcessPieces, collector_paused
from webhook.engine.documents import (
    Inputs,
    Subject,
    inputs_from,
    locate_documents,
    namespace_labels_of,
)
from webhook.errors import InputError
from webhook.kube.objects import RawObject
from webhook.simulation.nodes import check_nodes
from webhook.simulation.seldon import Manifests, read_seldon_manifests

#: the largest manifest input read (a file or stdin): room for a 10,000-Pod ``kubectl get pods -A
#: -o json`` export (~75 MB) and its YAML twin; the policy file has its own, smaller limit
MAX_INPUT_BYTES = 512 * 1024 * 1024
LIMIT_VARIABLE = "PLACEMENT_WEBHOOK_MAX_INPUT_BYTES"


def input_limit() -> int:
    """``MAX_INPUT_BYTES``, or the byte count in ``PLACEMENT_WEBHOOK_MAX_INPUT_BYTES``."""
    given = os.environ.get(LIMIT_VARIABLE, "").strip()
    if not given:
        return MAX_INPUT_BYTES
    if not given.isdigit() or int(given) == 0:
        raise InputError(f"{LIMIT_VARIABLE}={given}: must be a positive number of bytes")
    return int(given)


def _too_large(source: str, limit: int) -> InputError:
    return InputError(
        f"{source}: over the {limit} byte input limit (set {LIMIT_VARIABLE} to a larger number of bytes)"
    )


def read_text(path: str) -> tuple[str, str]:
    """(text, display name) of a file or ``-`` for stdin; ``InputError`` when unreadable or over
    the input limit."""
    limit = input_limit()
    if path == "-":
        text = sys.stdin.read(limit + 1)
        if len(text) > limit or len(text.encode("utf-8", "surrogateescape")) > limit:
            raise _too_large("<stdin>", limit)
        return text, "<stdin>"
    try:
        file = Path(path)
        if file.stat().st_size > limit:
            raise _too_large(path, limit)
        return file.read_text(encoding="utf-8"), path
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text") from exc


def _located(text: str, *, source: str) -> list[tuple[Any, str]]:
    """``locate_documents`` with a large YAML export read by every usable CPU and the garbage
    collector paused (the data read is acyclic)."""
    with collector_paused():
        return locate_documents(text, source=source, read_pieces=ProcessPieces())


def read_documents(path: str) -> tuple[list[Any], str]:
    """(every document of a file or ``-``, lists flattened, display name); ``InputError`` when empty."""
    text, source = read_text(path)
    return [doc for doc, _ in _located(text, source=source)], source


def read_sourced_documents(paths: list[str]) -> list[tuple[Any, str]]:
    """Every document of the files, each with its source (a Server may name a ServerConfig from
    another file)."""
    return [(doc, source) for path in paths for docs, source in [read_documents(path)] for doc in docs]


def read_inputs(paths: list[str], *, namespace: str | None = None) -> Inputs:
    """Every Pod, AdmissionReview and Namespace in the files (``-`` for stdin)."""
    return inputs_from(read_sourced_documents(paths), namespace=namespace)


def read_manifests(
    paths: list[str], *, namespace: str | None = None, operator_namespace: str | None = None
) -> tuple[Manifests, dict[str, dict[str, str]]]:
    """The Pods of the files (Pods, AdmissionReviews, workloads' and Seldon Servers' Pods), their
    Servers and Models, the documents skipped, and the labels of the Namespace manifests among them."""
    documents = read_sourced_documents(paths)
    manifests = read_seldon_manifests(documents, namespace=namespace, operator_namespace=operator_namespace)
    return manifests, namespace_labels_of(documents)


def report_skipped(manifests: Manifests) -> None:
    """One ``note:`` line on stderr per document skipped, one ``warning:`` per namespace mismatch."""
    for line in manifests.skipped:
        print(f"note: {line}", file=sys.stderr)
    for line in manifests.warnings:
        print(f"warning: {line}", file=sys.stderr)


def read_subjects(path: str, *, namespace: str | None = None) -> list[Subject]:
    """Every Pod or AdmissionReview in a file (``-`` for stdin); Namespace manifests are skipped."""
    return read_inputs([path], namespace=namespace).subjects


def read_nodes(path: str) -> tuple[list[RawObject], str]:
    """(the Nodes of a file or ``-``, where they came from)."""
    text, source = read_text(path)
    return check_nodes(_located(text, source=source), source=source), source
