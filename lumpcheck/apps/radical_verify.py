"""`verify` for pairs where a side is a dense chain with BatchNorms of irrational scale (e.g. a model and its BN-folded
copy): both become exact dense chains (ir/graph/radical_chain.py: each BatchNorm folded into the Gemm rows as radical
values c·√n) and go to the differential engine (equivalence/pair.py).

Soundness: the coupling charges every radical weight's distance to its float by a rigorous isqrt enclosure
(bounds/coupling.py `_split`), and a witness is a `sat` only when interval forward passes in integers prove the
violation (equivalence/pair_falsify.py `EnclosedPair`). An `unsat` certificate records the chains' fingerprints
(radical entries included); `lumpcheck check` rebuilds the same chains from the model files (checker/certificate.py)
and re-derives every leaf with its own enclosures of the radical weights (checker/difference_bounds.py).
"""

from __future__ import annotations

from ..equivalence.mode import Mode
from ..equivalence.pair import verify_pair
from ..equivalence.pair_certificate import about_models
from ..equivalence.result import VerifyResult
from ..ir.domain import Box
from ..ir.graph.dag import Graph
from ..ir.graph.radical_chain import NotRadicalChain, radical_network
from ..ir.network import Network
from ..solver import Verdict

ENGINE = "differential (BatchNorm folded exactly)"


def radical_pair(a: Network | Graph, b: Network | Graph) -> tuple[Network, Network] | None:
    """Both models as exact dense chains when at least one is a graph that is a dense chain with an irrational
    BatchNorm and the other is a dense chain (or such a graph) of the same input/output sizes; else None (the
    caller keeps the graph path)."""
    if not (isinstance(a, Graph) or isinstance(b, Graph)):
        return None
    nets = []
    for m in (a, b):
        try:
            net = radical_network(m) if isinstance(m, Graph) else m
        except NotRadicalChain:
            return None
        if net.normalization is not None:  # the certificate's claim is about bare chains (as the checker reads them)
            return None
        nets.append(net)
    na, nb = nets
    if na.input_size != nb.input_size or na.output_size != nb.output_size:
        return None
    return na, nb


def verify_radical(a: Network, b: Network, box: Box | None, mode: Mode, timeout: float, *, jobs: int = 0,
                   memory_mb: int = 2048, client=None, certificate: bool = False, progress=None) -> VerifyResult:
    """The differential engine on the exact chains of `radical_pair`; for 'unsat' a certificate when asked (its claim:
    the models on the box; they carry no normalisation metadata, so their comparison form is the chains a and b on
    the same box). progress: told the differential search's progress, as engine.verify does."""
    if box is None:
        return VerifyResult(Verdict.UNKNOWN, mode, ENGINE, "the differential engine needs a box (--domain)")
    if mode.written:
        return VerifyResult(Verdict.UNKNOWN, mode, ENGINE, "properties as written are not decided for radical chains")
    res = verify_pair(a, b, box, mode, timeout, workers=jobs, memory_mb=memory_mb, certificate=certificate, client=client,
                      progress=None if progress is None else (lambda p: progress(f"differential: {p.text}")))
    times = {"differential": res.seconds}
    if res.status == Verdict.SAT:
        cex = res.counterexample
        return VerifyResult(Verdict.SAT, mode, ENGINE, "counterexample proved by rigorous enclosures of both exact "
                            "outputs (radical weights)", witness=cex.x, output_a=cex.ya, output_b=cex.yb, times=times)
    if res.status == Verdict.UNSAT:
        cert = None if res.certificate is None else about_models(res.certificate, box)  # the models are the chains
        return VerifyResult(Verdict.UNSAT, mode, ENGINE, f"{res.message}; radical weights charged by rigorous "
                            "enclosures", times=times, certificate=cert)
    return VerifyResult(res.status, mode, ENGINE, f"differential: {res.message}", times=times)
