"""Reading the offline commands' inputs: files, or ``-`` for stdin (the engine only parses text).

A file holds any number of YAML or JSON documents; each problem is an ``InputError`` naming the
file (exit 2).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from webhook.engine.documents import (
    Inputs,
    Subject,
    inputs_from,
    locate_documents,
    namespace_labels_of,
    parse_documents,
)
from webhook.errors import InputError
from webhook.kube.objects import RawObject
from webhook.simulation.nodes import check_nodes
from webhook.simulation.seldon import Manifests, read_seldon_manifests

MAX_INPUT_BYTES = 64 * 1024 * 1024


def read_text(path: str) -> tuple[str, str]:
    """(text, display name) of a file or ``-`` for stdin; ``InputError`` when unreadable."""
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        file = Path(path)
        if file.stat().st_size > MAX_INPUT_BYTES:
            raise InputError(f"{path}: larger than {MAX_INPUT_BYTES} bytes")
        return file.read_text(encoding="utf-8"), path
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text") from exc


def read_documents(path: str) -> tuple[list[Any], str]:
    """(every document of a file or ``-``, lists flattened, display name); ``InputError`` when empty."""
    text, source = read_text(path)
    return parse_documents(text, source=source), source


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
    return check_nodes(locate_documents(text, source=source), source=source), source
