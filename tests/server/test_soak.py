"""The soak in short: ~20 s of load on two servers through every kind of fault, and its checker."""

from __future__ import annotations

from pathlib import Path

import pytest

from soak.load import Record, Timeline, verify
from soak.run import fault_schedule, run_soak
from tests.helpers import admission_review, fixture, mutate, policies


@pytest.mark.slow
def test_short_soak_has_no_failed_or_wrong_answers(tmp_path: Path) -> None:
    report = run_soak(tmp_path, seconds=20, rate=60, workers=3, faults=6)
    print("\n".join(report.lines()))
    assert report.verdict.failed == 0 and report.verdict.wrong == 0, report.verdict.examples
    assert report.verdict.answered == report.sent > 600
    assert sorted(w.kind for w, _, _ in report.windows) == sorted(fault_schedule(6))
    assert report.b_exit_codes == [0] and report.versions == 3
    assert report.rss_end_kib - report.rss_start_kib < 20 * 1024


def test_schedule_rotates_twice_and_alternates_valid_and_invalid_files() -> None:
    assert fault_schedule(6) == ["valid", "rotate", "invalid", "rotate", "valid", "restart"]
    long = fault_schedule(30)
    assert long.count("rotate") == 2 and long.count("restart") == 7
    for i, kind in enumerate(long):  # B restarts, and a broken file arrives, only after a good one
        if kind in ("invalid", "restart"):
            assert [k for k in long[:i] if k in ("valid", "invalid")][-1] == "valid"


def test_checker_counts_an_answer_from_a_version_not_in_force() -> None:
    old = policies("version: 1\npolicies:\n- {name: old, placement: {nodeSelector: {pool: a}}}\n")
    new = policies("version: 1\npolicies:\n- {name: new, placement: {nodeSelector: {pool: b}}}\n")
    timeline = Timeline()
    timeline.add(old, swapped=float("-inf"))
    timeline.add(new, swapped=10.0)
    timeline.confirm(11.0)
    review = admission_review(fixture("triton-gpu-0"))
    old_answer, new_answer = mutate(review, policies=old).answer, mutate(review, policies=new).answer

    def record(sent: float, answer: dict[str, object]) -> Record:
        return Record(sent, sent + 0.01, 0, "A", 200, answer)

    verdict = verify(
        [record(5, old_answer), record(10.5, old_answer), record(10.5, new_answer), record(12, old_answer)],
        timeline,
        [review],
    )
    assert (verdict.answered, verdict.wrong, verdict.failed) == (4, 1, 0)  # only the last is wrong
    assert "versions [1]" in verdict.examples[0]
