"""Progress of long verify runs: the share of the box closed is computed from the leaves' split depths (never used
for a verdict), reaches the command line from the forked worker, and is 100% exactly when the search closes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from lumpcheck.apps.deadline import run_until
from lumpcheck.equivalence import bab
from lumpcheck.equivalence.pair import verify_pair
from lumpcheck.equivalence.progress import progress_of

from pair_helpers import near_copy, random_box, random_net, sampled_max_difference


@dataclass
class _Leaf:
    path: tuple
    part: str


def test_coverage_is_the_least_part_share() -> None:
    a_half = [_Leaf((0,), "a"), _Leaf((1,), "a")]  # A's tree closed
    assert progress_of(a_half, 3).covered == 0.0  # B's tree not begun: nothing of the claim holds yet
    p = progress_of([*a_half, _Leaf((0,), "b")], 1)
    assert (p.covered, p.leaves, p.open) == (0.5, 3, 1) and "50.0% of the box closed (3 leaves, 1 open)" == p.text
    assert progress_of([_Leaf((0, 1), "all"), _Leaf((1,), "all")], 1).covered == 0.75
    assert progress_of([_Leaf((), "all"), _Leaf((), "a")], 0).covered == 1.0  # never above 1


def test_run_until_passes_progress_from_the_child() -> None:
    import time

    seen: list[str] = []

    def work(report):
        report("first")
        report("second")
        return 42

    assert run_until(work, time.monotonic() + 30, seen.append) == 42
    assert seen == ["first", "second"]
    assert run_until(lambda: 7, time.monotonic() + 30) == 7  # without progress fn takes no argument


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unsat_search_reports_its_progress_up_to_the_whole_box(monkeypatch, workers) -> None:
    monkeypatch.setattr(bab, "PROGRESS_SECONDS", 0.0)
    rng = np.random.default_rng(11)
    a = random_net(rng, [2, 6, 5, 2])
    b = near_copy(rng, a, "noise")
    box = random_box(rng, 2)
    eps = sampled_max_difference(a, b, box, rng, 5000) * 1.5
    seen = []
    res = verify_pair(a, b, box, f"epsilon={eps}", timeout=60, workers=workers, progress=seen.append)
    assert res.status == "unsat" and seen
    covered = [p.covered for p in seen]
    assert all(0.0 <= c <= 1.0 for c in covered) and covered == sorted(covered)
    if workers:  # the master reports after the last task: everything closed
        assert covered[-1] == 1.0 and seen[-1].leaves == len(res.certificate["leaves"])
