"""What the verbs share: exit codes, printing, the policy-file option and where nodes come from.

Conventions every verb follows (as kubectl does where it has one):

- ``-`` reads stdin, once per run: ``--policies -`` and an input ``-`` exclude each other.
- An input that is a directory stands for its ``.yaml``, ``.yml`` and ``.json`` files, sorted;
  ``-R``/``--recursive`` includes subdirectories.
- Several objects printed as JSON or YAML are ONE document: ``{apiVersion: v1, kind: List,
  items: [...]}``, each item what a run on that input alone prints.
- Label values in input Pods must be strings, as the API server requires: a YAML number or
  boolean (``tier: 1``, ``gpu: true``) is an input error, not silently converted (the written text,
  e.g. ``1.10``, cannot be recovered from the number, and ``kubectl apply`` would be refused).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import yaml

from webhook.cli.files import read_nodes
from webhook.engine.documents import Subject
from webhook.errors import ClusterError, InputError, PolicyError, shown
from webhook.kube.objects import RawObject, as_dict
from webhook.kube.selectors import dns_label_error
from webhook.policy.compiled import PolicySet
from webhook.policy.loading import (
    BUNDLED_POLICIES,
    MAX_POLICY_FILE_BYTES,
    default_policies_path,
    load_policies,
    load_policies_text,
)
from webhook.simulation.nodes import check_nodes

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
STDIN = "-"
INPUT_SUFFIXES = (".yaml", ".yml", ".json")


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_yaml(value: Any) -> None:
    sys.stdout.write(yaml.safe_dump(value, sort_keys=False, width=120))


def as_list(items: list[Any]) -> dict[str, Any]:
    """Several objects as one document, as ``kubectl get -o json|yaml`` prints them."""
    return {"apiVersion": "v1", "kind": "List", "items": items}


def print_object(value: Any, *, fmt: str) -> None:
    print_json(value) if fmt == "json" else print_yaml(value)


def add_output_option(parser: argparse.ArgumentParser, *, default: str = "text") -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=[default, "json", "yaml"],
        default=default,
        help="output format (default %(default)s)",
    )


def add_policies_option(parser: argparse.ArgumentParser, *, stdin: bool = True) -> None:
    parser.add_argument(
        "--policies",
        type=Path,
        default=None,
        help="policy file"
        + (", - for stdin" if stdin else "")
        + " (default: ./policies.yaml if present, else the bundled example)",
    )


def _read_stdin_policies() -> PolicySet:
    text = sys.stdin.read(MAX_POLICY_FILE_BYTES + 1)
    if len(text.encode("utf-8", "surrogateescape")) > MAX_POLICY_FILE_BYTES:
        raise PolicyError([f"<stdin>: over the {MAX_POLICY_FILE_BYTES} byte limit"])
    return load_policies_text(text, source="<stdin>")


def policies_from(args: argparse.Namespace) -> PolicySet:
    """The policies named by ``--policies`` (``-``: stdin). A file that cannot be opened is a
    missing input (exit 2, as for every other input); one that is read but invalid, a policy error."""
    path = args.policies or default_policies_path()
    if str(path) == STDIN and STDIN in getattr(args, "files", []):
        raise InputError("--policies - and the input - both read stdin; give one of them as a file")
    if str(path) == STDIN:
        return _read_stdin_policies()
    try:
        Path(path).open("rb").close()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return load_policies(path)


def namespace_name(value: str) -> str:
    """An ``-n``/``--namespace`` value: a namespace name is a lowercase RFC 1123 label."""
    problem = dns_label_error(value)
    if problem:
        raise argparse.ArgumentTypeError(f"invalid namespace {shown(value)}: {problem}")
    return value


def require_cluster_for_kubeconfig(args: argparse.Namespace) -> None:
    """``--kubeconfig`` names the cluster ``--cluster`` reads; alone it would be silently unused."""
    if getattr(args, "kubeconfig", None) and not getattr(args, "cluster", False):
        raise InputError(f"{args.command}: --kubeconfig needs --cluster (it says which cluster to read)")


def policies_line(policies: PolicySet) -> str:
    """The summary's first line: which policy file is in use."""
    bundled = policies.source == str(BUNDLED_POLICIES)
    count = len(policies)
    counted = f"{count} {'policy' if count == 1 else 'policies'}"
    return f"policies: {policies.source}{' (the bundled example)' if bundled else ''}, {counted}"


def add_recursive_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-R", "--recursive", action="store_true", help="with a directory FILE, read its subdirectories too"
    )


def expand_inputs(paths: Iterable[str], *, recursive: bool) -> list[str]:
    """Each directory replaced by its .yaml, .yml and .json files (sorted), as ``kubectl -f DIR``."""
    files: list[str] = []
    for path in paths:
        folder = Path(path)
        if path == STDIN or not folder.is_dir():
            files.append(path)
            continue
        found = sorted(
            str(f) for f in (folder.rglob("*") if recursive else folder.iterdir())
            if f.is_file() and f.suffix in INPUT_SUFFIXES
        )  # fmt: skip
        if not found:
            hint = "" if recursive else " (-R to read its subdirectories)"
            raise InputError(f"{path}: a directory without .yaml, .yml or .json files{hint}")
        files += found
    return files


_JSON_TYPES = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "a mapping"}


def check_label_values(subjects: Iterable[Subject]) -> None:
    """Refuse label values that are not strings, naming the first one (see the module docstring)."""
    for subject in subjects:
        for key, value in as_dict(as_dict(subject.pod.get("metadata")).get("labels")).items():
            if not isinstance(value, str):
                kind = "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)
                shown = orjson.dumps(value, default=str).decode()[:40]
                raise InputError(
                    f"{subject.source}: Pod {subject.display_name}: label {key} is {kind} ({shown}),"
                    " but label values are strings and the API server refuses this Pod; quote the value"
                )


def add_node_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument(
        "--nodes", metavar="NODES", help="YAML/JSON file of Node objects (kubectl get nodes -o yaml)"
    )
    source.add_argument(
        "--cluster", action="store_true", help="list the nodes through the current kubeconfig"
    )
    parser.add_argument(
        "--kubeconfig", help="with --cluster: kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    parser.add_argument(
        "--extended-resource-toleration",
        action="store_true",
        help="model the API server's ExtendedResourceToleration admission plugin (on in e.g. GKE)",
    )


def add_chunk_size_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chunk-size",
        type=chunk_size,
        default=500,
        metavar="N",
        help="with --cluster: list N objects per call, as kubectl does (default 500; 0: all in one call)",
    )


def chunk_size(text: str) -> int:
    """``--chunk-size``: a whole number of objects, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text}: expected a whole number of objects (0 for no paging)")
    return int(text)


def fetch_nodes(
    kubeconfig: str | None = None, *, chunk: int = 500, progress: Any = None
) -> tuple[list[RawObject], str]:
    """(the cluster's Nodes, a description), through the current kubeconfig or in-cluster config;
    listed ``chunk`` at a time, each page told to ``progress`` (a ``Paging.progress``)."""
    from webhook.cluster import client as cluster  # imported here: the kubernetes client is slow to import

    try:
        api_client = cluster.load_api_client(kubeconfig)
        host = str(api_client.configuration.host)
        documents = cluster.list_nodes(api_client, paging=cluster.Paging(chunk, progress))
    except ClusterError as exc:  # the cluster client turns every failure into one line
        raise InputError(f"cluster: {exc}") from exc
    located = [(doc, f"items[{i}]") for i, doc in enumerate(documents)]
    return check_nodes(located, source=f"cluster {host}"), f"cluster {host}"


def load_nodes(
    path: str | None, *, kubeconfig: str | None = None, chunk: int = 500, progress: Any = None
) -> tuple[list[RawObject], str]:
    """The Nodes of a file, or of the cluster when ``path`` is None."""
    return read_nodes(path) if path is not None else fetch_nodes(kubeconfig, chunk=chunk, progress=progress)
