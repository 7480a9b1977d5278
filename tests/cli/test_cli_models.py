"""``simulate`` with Seldon Models: the CLI options (``--cluster`` is tested in tests/e2e/test_models.py)."""

from __future__ import annotations

import pytest

from tests.cli.test_cli import run
from tests.helpers import NODES, SELDON

SELDON_FILES = [
    str(SELDON / f)
    for f in ("server-triton-gpu.yaml", "server-mlserver-llm.yaml", "serverconfigs.yaml", "models.yaml")
]


def test_simulate_without_files_needs_the_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "simulate", "--nodes", str(NODES / "gpu-pools.yaml"))
    assert (code, out) == (2, "")
    assert (
        err
        == "error: simulate: give FILE... (or --cluster without files to read the cluster's Seldon objects)\n"
    )


@pytest.mark.parametrize("value", ["gpu", "=nvidia.com/gpu", "gpu=cpu", "gpu=memory"])
def test_accelerator_must_map_a_requirement_to_an_extended_resource(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "simulate", *SELDON_FILES, "--nodes", str(NODES / "gpu-pools.yaml"), "--accelerator", value
    )
    assert code == 2
    assert err == (
        f"error: --accelerator {value}: expected REQUIREMENT=RESOURCE with an extended resource, e.g. gpu=nvidia.com/gpu\n"
    )


def test_operator_namespace_for_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "simulate",
        *SELDON_FILES,
        "--nodes",
        str(NODES / "gpu-pools.yaml"),
        "--operator-namespace",
        "seldon-system",
    )
    # the ServerConfig is there, in seldon-mesh: say so rather than "not among the inputs" (issue 28)
    assert (
        code == 2 and 'Server triton-gpu: ServerConfig "triton" is among the inputs but in namespace' in err
    )
    assert "seldon-mesh, not the operator's seldon-system (--operator-namespace)" in err
