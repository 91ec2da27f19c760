"""The prover: derive the obligations of a reduction, discharge each with exact algebra and (per `solver_check`)
with z3, and record which engine discharged what as a Certificate (records.py).

`prove` loads both model files (the claim is about the files, not about objects in memory); `prove_networks` works
on two in-memory networks. `lumpcheck.checker.check` re-verifies a certificate independently.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..checker.document import SEMANTICS, SOLVER_CHECKS
from ..errors import LumpcheckError
from ..io import load_model
from ..io.atomic import write_text_atomic
from ..ir.domain import Box
from ..ir.network import Network
from ..ir.relation import PhaseClaims, Relation
from ..solver.z3 import Answer, solve_script
from . import smt
from .derive import derive
from .discharge import (
    exact_bounds,
    exact_constant,
    exact_domain,
    exact_ghost,
    exact_inactive,
    exact_lemma,
    exact_linear,
)
from .obligations import (
    ActivationLemma,
    BoundsObligation,
    ConstantObligation,
    DomainObligation,
    GhostObligation,
    InactiveObligation,
    LinearObligation,
    Obligation,
    StructureObligation,
)
from .records import Certificate, EngineRun, ModelRecord, ObligationRecord, lemma_basis, sha256_file

AUTO_TERM_BUDGET = 250_000
"""solver_check='auto': z3 re-checks every neuron while the queries stay under this many weight terms."""
CHUNK_TERMS = 20_000
CHUNK_NEURONS = 32
MIN_SAMPLE = 4
Sized = LinearObligation | GhostObligation | ConstantObligation
"""Obligations with one identity per neuron, re-checked by z3 neuron by neuron."""


@dataclass
class Prover:
    """Discharges obligations: exact algebra always, z3 per policy, optional SMT-LIB files."""

    solver_check: str
    term_share: int | None
    smtlib_dir: Path | None
    timeout_ms: int

    def record(self, ob: Obligation) -> ObligationRecord:
        if isinstance(ob, StructureObligation):
            status = "failed" if ob.problems else "proved"
            run = EngineRun("exact", status, 0.0, detail="; ".join(ob.problems))
            return self._record(ob, [run], status, "; ".join(ob.problems))
        if isinstance(ob, ActivationLemma):
            return self._lemma(ob)
        decide = {LinearObligation: exact_linear, ConstantObligation: exact_constant, GhostObligation: exact_ghost,
                  BoundsObligation: exact_bounds, InactiveObligation: exact_inactive, DomainObligation: exact_domain}
        start = time.perf_counter()
        mismatch = decide[type(ob)](ob)
        engine = "bounds" if isinstance(ob, BoundsObligation) else "exact"
        runs = [EngineRun(engine, "failed" if mismatch else "proved", time.perf_counter() - start,
                          detail=str(mismatch or ""))]
        if isinstance(ob, (BoundsObligation, InactiveObligation, DomainObligation)):  # decided here alone
            return self._record(ob, runs, runs[0].result, str(mismatch or ""))
        runs.append(self._z3(ob))
        return self._record(ob, runs, *_combine(runs))

    def _lemma(self, lemma: ActivationLemma) -> ObligationRecord:
        start = time.perf_counter()
        why = exact_lemma(lemma)
        basis = lemma_basis(lemma)
        if basis == "axiom":
            return self._record(lemma, [EngineRun("axiom", "admitted", 0.0, detail=lemma.axiom or "")], "proved")
        runs = [EngineRun("exact", "failed" if why else "proved", time.perf_counter() - start, detail=why or "")]
        if basis == "theorem":
            script = smt.lemma_script(lemma)
            files = self._write(lemma.id, [script])
            if self.solver_check == "none":
                runs.append(EngineRun("z3", "skipped", 0.0, smtlib=files))
            else:
                res = solve_script(script, self.timeout_ms)
                runs.append(EngineRun("z3", res.status, res.seconds, smtlib=files, detail=_model_text(res)))
        return self._record(lemma, runs, *_combine(runs))

    def _z3(self, ob: Sized) -> EngineRun:
        items = _items(ob)
        neuron = (lambda c: c[0]) if isinstance(ob, ConstantObligation) else (lambda t: t.neuron)
        script = {LinearObligation: smt.linear_script, GhostObligation: smt.ghost_script,
                  ConstantObligation: smt.constant_script}[type(ob)]
        costs = [_cost(ob, it) for it in items]
        files = self._write(ob.id, [script(ob, part) for part in _chunks(items, costs)]) if self.smtlib_dir else []
        chosen = self._choose(costs)
        status, seconds, detail = ("unsat" if chosen else "skipped"), 0.0, ""
        for part in _chunks([items[i] for i in chosen], [costs[i] for i in chosen]):
            res = solve_script(script(ob, part), self.timeout_ms)
            seconds += res.seconds
            if res.status != "unsat":
                status, detail = res.status, f"neurons {[neuron(it) for it in part]}: {_model_text(res)}"
                break
        return EngineRun("z3", status, seconds, [neuron(items[i]) for i in chosen], files, detail)

    def _choose(self, costs: list[int]) -> list[int]:
        """Indices z3 re-checks: all, none, or an evenly spaced sample within the term share."""
        n = len(costs)
        if self.solver_check == "none" or n == 0:
            return []
        if self.term_share is None or sum(costs) <= self.term_share:
            return list(range(n))
        count = max(MIN_SAMPLE, self.term_share * n // sum(costs))
        return sorted(set(np.linspace(0, n - 1, num=min(n, count)).round().astype(int).tolist()))

    def _write(self, ob_id: str, scripts: list[str]) -> list[str]:
        if self.smtlib_dir is None:
            return []
        stem = re.sub(r"[^A-Za-z0-9._=-]", "_", ob_id)
        names = [f"{stem}.smt2"] if len(scripts) == 1 else [f"{stem}.{i:03d}.smt2" for i in range(len(scripts))]
        for name, text in zip(names, scripts):
            write_text_atomic(self.smtlib_dir / name, text)
        return names

    @staticmethod
    def _record(ob: Obligation, runs: list[EngineRun], status: str, detail: str = "") -> ObligationRecord:
        return ObligationRecord(ob.id, ob.kind, ob.layer, list(ob.neurons), ob.statement(), status, runs, detail)


def _combine(runs: list[EngineRun]) -> tuple[str, str]:
    """Exact algebra decides; a z3 'sat' after an exact proof means the engines disagree (a bug): failed."""
    exact, others = runs[0], runs[1:]
    if exact.result != "proved":
        return "failed", exact.detail
    refuted = [r for r in others if r.result == "sat"]
    if refuted:
        return "failed", f"engines disagree: exact algebra proved it, z3 found {refuted[0].detail}"
    return "proved", ""


def _model_text(res: Answer) -> str:
    return ", ".join(f"{k}={v}" for k, v in res.model.items()) if res.status == "sat" else ""


def _items(ob: Sized) -> list:
    """The per-neuron claims of an obligation: targets, ghost members, or (neuron, value) constants."""
    if isinstance(ob, LinearObligation):
        return ob.targets
    return ob.members if isinstance(ob, GhostObligation) else ob.constants


def _cost(ob: Sized, item: Any) -> int:
    """Query size of one neuron: its non-zero original weights, plus those of the reduced neuron (linear target)
    or of the representative (ghost member) it is compared with."""
    if isinstance(ob, LinearObligation):
        return int(np.count_nonzero(ob.pre.weight[item.neuron])) + int(np.count_nonzero(ob.reduced_weight[item.cls])) + 2
    if isinstance(ob, GhostObligation):
        return int(np.count_nonzero(ob.pre.weight[item.neuron])) + int(np.count_nonzero(ob.pre.weight[item.rep])) + 2
    return int(np.count_nonzero(ob.pre.weight[item[0]])) + 1


def _chunks(items: Sequence, costs: Sequence[int]) -> list[list]:
    """Consecutive groups of at most CHUNK_NEURONS items and (unless single) CHUNK_TERMS terms."""
    out: list[list] = []
    size = 0
    for item, cost in zip(items, costs):
        if not out or len(out[-1]) >= CHUNK_NEURONS or size + cost > CHUNK_TERMS:
            out.append([])
            size = 0
        out[-1].append(item)
        size += cost
    return out


def prove_networks(
    original: Network,
    reduced: Network,
    relation: Relation,
    domain: Box | None = None,
    smtlib_dir: str | Path | None = None,
    solver_check: str = "auto",
    timeout_ms: int = 60_000,
    claims: PhaseClaims | None = None,
    semantics: str = "model",
    z3_terms: int | None = None,
) -> tuple[list[ObligationRecord], list[ActivationLemma], dict[str, float]]:
    """Derive and discharge every obligation for two in-memory networks; (records, lemmas, times). Domain maps
    (inactive/linear) are proved on `domain` from the phase `claims` (bounds re-computed on `original`);
    `semantics` as in prove.derive.derive; `z3_terms`: the solver_check='auto' budget (default AUTO_TERM_BUDGET; exact algebra decides)."""
    if solver_check not in SOLVER_CHECKS:
        raise LumpcheckError(f"solver check must be one of {', '.join(SOLVER_CHECKS)}, not {solver_check!r}")
    start = time.perf_counter()
    if semantics not in SEMANTICS:
        raise LumpcheckError(f"semantics must be one of {', '.join(SEMANTICS)}, not {semantics!r}")
    obligations = derive(original, reduced, relation, domain, claims, semantics)
    sized = [ob for ob in obligations if isinstance(ob, (LinearObligation, GhostObligation, ConstantObligation))]
    total = sum(_cost(ob, it) for ob in sized for it in _items(ob))
    budget = AUTO_TERM_BUDGET if z3_terms is None else z3_terms
    share = budget // max(1, len(sized)) if solver_check == "auto" and total > budget else None
    prover = Prover(solver_check, share, Path(smtlib_dir) if smtlib_dir else None, timeout_ms)
    last = {id(ob.pre): i for i, ob in enumerate(obligations) if hasattr(ob, "pre")}
    records = []
    for i, ob in enumerate(obligations):
        records.append(prover.record(ob))
        if hasattr(ob, "pre") and last[id(ob.pre)] == i:
            ob.pre.release()  # the layer's exact form is not needed again (peak memory: one layer's at a time)
    runs = [r for rec in records for r in rec.engines]
    times = {
        "total_seconds": time.perf_counter() - start,
        "exact_seconds": sum(r.seconds for r in runs if r.engine in ("exact", "bounds")),
        "solver_seconds": sum(r.seconds for r in runs if r.engine == "z3"),
    }
    return records, [ob for ob in obligations if isinstance(ob, ActivationLemma)], times


def prove(
    original_path: str | Path,
    reduced_path: str | Path,
    reduction_or_relation: Any,
    domain: Box | None = None,
    smtlib_dir: str | Path | None = None,
    solver_check: str = "auto",
    timeout_ms: int = 60_000,
    claims: PhaseClaims | None = None,
    semantics: str = "model",
    original_arch: list[str] | None = None,
) -> Certificate:
    """Prove that the reduced model file computes the same function as the original file (strict mode), on
    all of R^n or, for a domain reduction, on its box only (`semantics` as in prove.derive.derive: 'model'
    includes normalisation and clipping, the box over the original's input).

    `reduction_or_relation` is a reduction.lumping.Reduction (its relation, domain and, for a domain reduction,
    phase claims are used) or a Relation. `original_arch`: the activations of an original PyTorch state_dict. The certificate is returned even when the proof fails (verdict 'failed',
    failing obligations with details).
    """
    relation = getattr(reduction_or_relation, "relation", reduction_or_relation)
    if not isinstance(relation, Relation):
        raise LumpcheckError(f"expected a Reduction or Relation, got {type(reduction_or_relation).__name__}")
    domain = domain if domain is not None else getattr(reduction_or_relation, "domain", None)
    claims = claims if claims is not None else getattr(reduction_or_relation, "claims", None)
    original, reduced = load_model(original_path, original_arch), load_model(reduced_path)
    records, lemmas, times = prove_networks(original, reduced, relation, domain, smtlib_dir, solver_check, timeout_ms,
                                            claims, semantics)
    return Certificate(
        ModelRecord(str(original_path), sha256_file(original_path), original.shape_str()),
        ModelRecord(str(reduced_path), sha256_file(reduced_path), reduced.shape_str()),
        relation, lemmas, records, domain, claims, semantics=semantics, solver_check=solver_check, times=times,
    )
