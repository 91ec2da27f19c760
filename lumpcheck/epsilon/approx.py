"""Approximate (relaxed) lumping with a CERTIFIED error bound: a smaller network that is close, never "equal".

1. Exact lumping first (`reduction.lumping.reduce`): the original ≡ N exactly, on all of R^n (provable with a certificate).
2. Per hidden layer of N, forward: neurons whose aggregated incoming vectors (over the previous layer's merged
   classes, as in exact lumping) are proportional within a relative tolerance T are clustered greedily in
   floats; each member s of a cluster gets a factor c_s with a(s) ≈ c_s·a(centre) (c > 0 for ReLU-like, any
   c ≠ 0 for identity, ±1 for sigmoid/tanh). Floats only propose; nothing below trusts them.
3. M = reduction.lumping.quotient(N, relation): one neuron per cluster, outgoing weights summed with the factors.
4. ε = `certified_deviation(N, relation, M, box)`: a sound bound of max_x∈box max_i |y_N,i(x) − y_M,i(x)| in
   exact rationals, rounded up. Since N ≡ original, it bounds |original − M| too.

`measured` is the largest deviation seen at random box points, each value a certified LOWER bound of the true
deviation at its point (`sampled_deviation`), so measured <= true maximum <= ε holds by construction.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from ..bounds import symbolic_bounds
from ..bounds.deviation import certified_epsilon
from ..equivalence.engine import verify
from ..equivalence.mode import epsilon_mode
from ..equivalence.result import VerifyResult
from ..errors import LumpcheckError
from ..io import save_model
from ..io.onnx.signature import OnnxSignature
from ..ir.activation import Activation
from ..ir.domain import Box
from ..ir.exact import ONE, as_fractions, ceil_float, exact_equal, floor_float, to_float
from ..ir.network import Layer, Network, layers_only
from ..ir.normalization import per_output
from ..ir.relation import LayerRelation, NeuronMap, Relation
from ..ir.rounding import RoundingReport, round_network
from ..ir.semantics import compare
from ..reduction.lumping import Reduction, quotient, reduce

_LIBM_ERROR = 2.0**-40  # assumed bound on numpy's exp/tanh error for values in [-1, 1] (sampling only)


@dataclass
class ApproxReduction:
    """The original, its exact lumping, and a smaller APPROXIMATE network with a certified error bound.

    `relation` maps the neurons of `exact.network` to those of `network` (v ≈ c·v' + offset): it describes the
    merge, it proves nothing. The guarantee is `epsilon`: for every x in `box`, every output i,
    |y_original,i(x) − y_network,i(x)| <= epsilon, for the models (normalisation and clipping applied: `network`
    keeps the original's; `exact` and `relation` are about the layer chains).
    """

    original: Network
    exact: Reduction
    network: Network
    relation: Relation
    box: Box
    tolerance: float
    epsilon: Fraction
    measured: float
    samples: int
    confirmation: "VerifyResult | None" = None

    @property
    def kept(self) -> list[int]:
        """Hidden neurons kept, per hidden layer."""
        return self.network.widths[1:-1]

    @property
    def partition(self) -> list[list[list[int]]]:
        """Per hidden layer, the ORIGINAL neurons merged into each neuron of `network` (exact classes composed
        with the approximate merges; constants and dead neurons are in none)."""
        out = []
        for exact_layer, approx_layer in zip(self.exact.relation.layers, self.relation.layers):
            classes: list[list[int]] = [[] for _ in range(approx_layer.reduced_width)]
            for k, members in enumerate(exact_layer.classes()):
                classes[approx_layer.maps[k].cls].extend(members)
            out.append([sorted(c) for c in classes])
        return out


def approximate_reduce(
    net: Network,
    box: Box,
    tolerance: float,
    *,
    samples: int = 1000,
    seed: int = 0,
    confirm_timeout: float | None = None,
) -> ApproxReduction:
    """Merge nearly proportional neurons (relative tolerance `tolerance` >= 0) and certify the error on `box`.

    tolerance 0 gives exact lumping (ε = 0). `confirm_timeout` (seconds) additionally runs
    `verify(original, network, box, epsilon=ε)`, whose verdict is kept in `confirmation`.
    """
    if not (isinstance(tolerance, numbers.Real) and math.isfinite(tolerance) and tolerance >= 0):
        raise LumpcheckError(f"the tolerance must be a finite number >= 0, got {tolerance!r}")
    if box.dim != net.input_size:
        raise LumpcheckError(f"the box has {box.dim} inputs but the network takes {net.input_size}", box.source or None)
    if net.normalization is not None:
        return _through_normalization(net, box, tolerance, samples, seed, confirm_timeout)
    exact = reduce(net)
    base = exact.network
    done: list[LayerRelation] = []
    for i in range(len(base.layers) - 1):
        done.append(_cluster_layer(_aggregated(base, done), float(tolerance)))
    relation = Relation(done)
    reduced = quotient(base, relation)
    epsilon = certified_deviation(base, relation, reduced, box)
    measured = sampled_deviation(net, reduced, box, samples, seed)
    confirmation = None
    if confirm_timeout is not None:
        confirmation = verify(net, reduced, box, epsilon_mode(epsilon), confirm_timeout, seed=seed)
    return ApproxReduction(net, exact, reduced, relation, box, float(tolerance), epsilon, measured, samples, confirmation)


def _through_normalization(net: Network, box: Box, tolerance: float, samples: int, seed: int,
                           confirm_timeout: float | None) -> ApproxReduction:
    """A model with normalisation: its layer chain merged on the box the chain sees (clip, then inp: exact and
    onto), the result keeping the same maps. out(y) = y·r + m scales output j's deviation by |r_j|: ε by the
    largest |r_j|, the sampled lower bound by the smallest (rounded down)."""
    norm = net.normalization
    inner = approximate_reduce(layers_only(net), norm.input_box(box), tolerance, samples=samples, seed=seed)
    scales = [abs(r) for r in per_output(norm.output_range, net.output_size)]
    reduced = replace(inner.network, normalization=norm)
    epsilon = inner.epsilon * max(scales)
    measured = float(np.nextafter(inner.measured * float(min(scales)), -np.inf)) if inner.measured > 0 else 0.0
    confirmation = None
    if confirm_timeout is not None:
        confirmation = verify(net, reduced, box, epsilon_mode(epsilon), confirm_timeout, seed=seed)
    return replace(inner, original=net, network=reduced, box=box, epsilon=epsilon, measured=max(measured, 0.0),
                   confirmation=confirmation)


def export_approx(
    approx: ApproxReduction, path: str | Path, dtype: str = "float32", *, signature: OnnxSignature | None = None,
    marker: Callable[[Fraction], dict[str, str]] | None = None,
) -> tuple["RoundingReport | None", Fraction]:
    """Write `approx.network` (io.save_model) and return the rounding report and the certified ε OF THE FILE:
    ε plus bounds.deviation.certified_epsilon(exact network, rounded network, box) when rounding to `dtype` changed a value.
    `signature`: the ONNX interface to keep; `marker(ε of the file)`: the metadata the file carries (io/marker.py)."""
    epsilon = approx.epsilon
    if Path(path).suffix.lower() != ".nnet":  # .nnet holds exact decimals: nothing is rounded
        rounded, planned = round_network(approx.network, dtype)
        if not planned.exact:  # the two models' comparison chains (ir.semantics.compare): rounded maps included
            chains = compare(approx.network, rounded, approx.box, fold_outputs=True, clip_layers=True)
            epsilon += certified_epsilon(chains.a, chains.b, chains.box)
    try:
        report = save_model(approx.network, path, dtype, signature=signature,
                            metadata=None if marker is None else marker(epsilon))
    except ValueError as e:  # the format cannot hold this network (a .nnet of tanh layers, a 1/3 weight)
        raise LumpcheckError(str(e), str(path)) from e
    return report, epsilon


# ---------------------------------------------------------------- clustering (floats propose)


def _kept_layer(n: int) -> LayerRelation:
    return LayerRelation([NeuronMap(((r, ONE),), Fraction(0), "kept") for r in range(n)], n)


def _aggregated(net: Network, done: list[LayerRelation]) -> Layer:
    """Layer len(done) of `net` with its incoming vectors aggregated over the classes `done` gives the earlier
    hidden layers (exact, via lumping.quotient with every later neuron kept)."""
    k = len(done)
    rest = [_kept_layer(layer.out_features) for layer in net.layers[k:-1]]
    return quotient(net, Relation(done + rest)).layers[k]


def _distances(x: np.ndarray, mode: str) -> np.ndarray:
    """Relative distance between the rows of x under the scalings `mode` admits (inf for zero rows).

    pos/any: |u_s − u_t| (or min with |u_s + u_t| for any) of the unit rows u; sign (c = ±1 only):
    min_c |x_s − c·x_t| / max(|x_s|, |x_t|).
    """
    norms = np.linalg.norm(x, axis=1)
    n = len(x)
    out = np.full((n, n), np.inf)
    live = np.flatnonzero(norms > 0)
    if mode == "sign":
        for s in live:
            scale = np.maximum(norms[live], norms[s])
            plus = np.linalg.norm(x[live] - x[s], axis=1)
            minus = np.linalg.norm(x[live] + x[s], axis=1)
            out[s, live] = np.minimum(plus, minus) / scale
    else:
        u = x[live] / norms[live, None]
        for k, s in enumerate(live):
            d = np.linalg.norm(u - u[k], axis=1)
            if mode == "any":
                d = np.minimum(d, np.linalg.norm(u + u[k], axis=1))
            out[s, live] = d
    np.fill_diagonal(out, 0.0)
    return out


def _factor(x: np.ndarray, s: int, centre: int, activation: Activation) -> Fraction | None:
    """c with x_s ≈ c·x_centre, admissible for σ (None if not): least squares rounded to float32 for ReLU-like and
    identity (so c·w stays exact in float64; 1 is kept for the centre alone, since quotient takes the lowest
    factor-1 member as the class row), the sign of the dot product for sigmoid/tanh."""
    dot = float(x[s] @ x[centre])
    if activation.merge_mode == "sign":
        c = ONE if dot >= 0 else -ONE
    else:
        c32 = np.float32(dot / float(x[centre] @ x[centre]))
        if c32 == 1:
            c32 = np.nextafter(np.float32(1), np.float32(2))
        c = Fraction(float(c32))
    return c if c != 0 and activation.merge_offset(c) is not None else None


def _member_map(activation: Activation, cls: int, c: Fraction) -> NeuronMap:
    """v ≈ c·v'_cls (+ 1 for a negated sigmoid: σ(−z) = 1 − σ(z))."""
    if c == -1 and activation.kind in ("tanh", "sigmoid"):
        return NeuronMap(((cls, c),), activation.merge_offset(c), "negated")
    return NeuronMap(((cls, c),), Fraction(0), "duplicate" if c == 1 else "proportional")


def _cluster_layer(layer: Layer, tolerance: float) -> LayerRelation:
    """Greedy clusters: from the first unassigned neuron, take the unassigned ones within T, move to their medoid
    (the member whose farthest member is nearest), and cluster everything unassigned within T of it. The medoid
    is the class row, except for sigmoid/tanh (factors ±1), where quotient takes the lowest-index +1 member."""
    n = layer.out_features
    if tolerance == 0 or n < 2:  # N is exactly lumped already: nothing is exactly proportional any more
        return _kept_layer(n)
    x = np.hstack([to_float(layer.weight), to_float(layer.bias)[:, None]])
    dist = _distances(x, layer.activation.merge_mode)
    maps: list[NeuronMap | None] = [None] * n
    width = 0
    while any(m is None for m in maps):
        free = np.array([m is None for m in maps])
        seed = int(np.argmax(free))
        near = np.flatnonzero(free & (dist[seed] <= tolerance))
        centre = int(near[np.argmin(dist[np.ix_(near, near)].max(axis=1))])
        maps[centre] = NeuronMap(((width, ONE),), Fraction(0), "kept")
        for s in np.flatnonzero(free & (dist[centre] <= tolerance)):
            c = None if s == centre else _factor(x, int(s), centre, layer.activation)
            if c is not None:
                maps[s] = _member_map(layer.activation, width, c)
        width += 1
    return LayerRelation(maps, width)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the certified bound (exact, rounded up)


def _map_terms(m: NeuronMap, act: Activation, width: int, where: str) -> tuple[int, Fraction]:
    """(class, factor) of a single-term map onto a reduced neuron, with the offset σ(c·z) = c·σ(z) + offset needs."""
    if len(m.terms) != 1 or not 0 <= m.terms[0][0] < width:
        raise LumpcheckError(f"{where}: certified_deviation needs one term per neuron (no constants or dead neurons)")
    cls, c = m.terms[0]
    if act.merge_offset(c) != m.offset:  # None (no admissible offset) differs from every offset
        raise LumpcheckError(f"{where}: factor {c} with offset {m.offset} is not admissible for {act}")
    return cls, c


def _residual(agg: Layer, s: int, red: Layer, j: int, c: Fraction, mid: np.ndarray, rad: list[Fraction]) -> Fraction:
    """Upper bound of |(a(s) − c·a'(j))·(v, 1)| for |v − mid| <= rad: |D·mid + D_b| exactly, plus |D|·rad."""
    if c == 1 and exact_equal(agg.weight[s], red.weight[j]) and exact_equal(agg.bias[s : s + 1], red.bias[j : j + 1]):
        return Fraction(0)
    d = as_fractions(agg.weight[s]) - c * as_fractions(red.weight[j])
    db = as_fractions(agg.bias[s : s + 1])[0] - c * as_fractions(red.bias[j : j + 1])[0]
    centre = abs(d.dot(mid) + db) if len(mid) else abs(db)
    return centre + sum((abs(di) * ri for di, ri in zip(d, rad) if di and ri), Fraction(0))


def certified_deviation(net: Network, relation: Relation, reduced: Network, box: Box) -> Fraction:
    """A sound bound ε >= max_x∈box max_i |y_net,i(x) − y_reduced,i(x)|, where `relation` (one term per hidden
    neuron: v_s ≈ c_s·v'_cls + o_s) says which reduced neuron approximates which neuron of `net`.

    With e_r = v_r − c_r·v'_cls(r) − o_r on layer ℓ−1 (e = 0 on the inputs) and a(s) the aggregated incoming
    vector of s over the reduced layer ℓ−1 (offsets folded into the bias; `reduced`'s row of class j is a(j)):
      z_s − c_s·z'_j = (a(s) − c_s·a'(j))·(v', 1) + Σ_r W(s,r)·e_r,
    bounded by |D·mid + D_b| + |D|·rad (v' ∈ mid ± rad from sound bounds of `reduced`) + Σ_r |W(s,r)|·E_r. Then
    |e_s| = |σ(z_s) − σ(c_s·z'_j)| (σ(c·z) = c·σ(z) + o_s for the admissible pairs) <= L_σ·|z_s − c_s·z'_j|,
    and <= the width of σ's image of the hull of both pre-activation ranges (0 for two inactive ReLUs). Exact
    rationals throughout; each per-neuron bound is rounded up to a float64.
    """
    hidden = len(net.layers) - 1
    if len(relation.layers) != hidden or reduced.input_size != net.input_size or reduced.output_size != net.output_size:
        raise LumpcheckError(f"the relation does not fit {net.shape_str()} -> {reduced.shape_str()}")
    if box.dim != net.input_size:
        raise LumpcheckError(f"the box has {box.dim} inputs but the network takes {net.input_size}", box.source or None)
    net_bounds, red_bounds = symbolic_bounds(net, box), symbolic_bounds(reduced, box)
    lo = [Fraction(floor_float(v)) for v in box.lower]
    hi = [Fraction(ceil_float(v)) for v in box.upper]
    err = np.zeros(net.input_size)  # E_r >= |e_r| of the previous layer, float64 upper bounds
    for i, layer in enumerate(net.layers):
        agg, red = _aggregated(net, relation.layers[:i]), reduced.layers[i]
        if i < hidden:
            where = f"hidden layer {i + 1}, neuron"
            lr = relation.layers[i]
            maps = [_map_terms(m, layer.activation, lr.reduced_width, f"{where} {s}") for s, m in enumerate(lr.maps)]
        else:
            maps = [(t, ONE) for t in range(layer.out_features)]
        mid = np.array([(a + b) / 2 for a, b in zip(lo, hi)], dtype=object)
        rad = [(b - a) / 2 for a, b in zip(lo, hi)]
        propagated = _abs_dot_up(layer.weight, err)
        new_err = np.empty(layer.out_features)
        for s, (j, c) in enumerate(maps):
            dz = _residual(agg, s, red, j, c, mid, rad) + Fraction(float(propagated[s]))
            own = (net_bounds[i].lower[s], net_bounds[i].upper[s])
            other = (red_bounds[i].lower[j], red_bounds[i].upper[j])
            new_err[s] = ceil_float(_activation_error(layer.activation, dz, own, other, c))
        err = new_err
        images = [red.activation.image(Fraction(l), Fraction(u)) for l, u in zip(red_bounds[i].lower, red_bounds[i].upper)]
        lo = [Fraction(floor_float(a)) for a, _ in images]
        hi = [Fraction(ceil_float(b)) for _, b in images]
    return Fraction(float(err.max())) if len(err) else Fraction(0)


def _abs_dot_up(weight: np.ndarray, err: np.ndarray) -> np.ndarray:
    """Float64 upper bounds of Σ_r |W(s,r)|·err_r (err >= 0): the float product inflated by Higham's bound for
    nonnegative sums, (ŝ + n·2^-1073)·(1 + 4(n+1)u), plus non-float weights' residual, times (1 + 2^-40) for the
    roundings of this very expression."""
    if not err.any():
        return np.zeros(weight.shape[0])
    w, rw = _float_part(weight)
    n, u = len(err), 2.0**-53
    grow = 1 + 4 * (n + 1) * u
    with np.errstate(over="ignore"):
        bound = ((np.abs(w) @ err + n * 2.0**-1073) * grow + rw * err.sum() * grow) * (1 + 2.0**-40)
    if not np.all(np.isfinite(bound)):
        raise LumpcheckError("the certified bound overflowed (the networks' values are too large)")
    return np.nextafter(bound, np.inf)


def _activation_error(act: Activation, dz: Fraction, own: tuple, other: tuple, c: Fraction) -> Fraction:
    """Bound on |σ(z_s) − σ(c·z'_j)| given |z_s − c·z'_j| <= dz, z_s in `own` and z'_j in `other` (sound bounds):
    the smaller of L_σ·dz and the width of σ's image of the hull of both ranges (0 for two inactive ReLUs)."""
    ends = [Fraction(own[0]), Fraction(own[1]), c * Fraction(other[0]), c * Fraction(other[1])]
    low, high = act.image(min(ends), max(ends))
    return min(act.lipschitz * dz, high - low)


# ---------------------------------------------------------------- sampling: certified lower bounds


def sampled_deviation(a: Network, b: Network, box: Box, samples: int, seed: int = 0) -> float:
    """max over `samples` random box points x and outputs i of a certified LOWER bound of |y_a,i(x) − y_b,i(x)|,
    for two layer chains (ValueError for a model with normalisation: its box is not the chain's).

    Both nets are run in float64 with rigorous error enclosures (Higham's bound for every dot product, outward
    rounding), so each value is <= the true deviation at a point of the box. Assumption for sigmoid/tanh only:
    numpy's exp/tanh err by less than 2**-40. Informative: it shows how tight ε is, it proves nothing else.
    """
    if a.normalization is not None or b.normalization is not None:
        raise ValueError("sampled_deviation compares layer chains; map the box through the normalisation first")
    if samples <= 0:
        return 0.0
    xlo, xhi = _box_samples(box, samples, seed)
    la, ha = _enclose(a, xlo, xhi)
    lb, hb = _enclose(b, xlo, xhi)
    gap = np.nextafter(np.maximum(la - hb, lb - ha), -np.inf)
    return float(max(gap.max(), 0.0))


def _box_samples(box: Box, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform float points inside the box, as degenerate input enclosures [x, x]; a coordinate whose interval
    holds no float gets the outward-rounded interval (it encloses the box's points)."""
    rng = np.random.default_rng(seed)
    inner_lo = np.array([ceil_float(v) for v in box.lower])
    inner_hi = np.array([floor_float(v) for v in box.upper])
    x = np.clip(inner_lo + rng.random((samples, box.dim)) * (inner_hi - inner_lo), inner_lo, inner_hi)
    xlo, xhi = x.copy(), x.copy()
    empty = inner_lo > inner_hi
    xlo[:, empty] = [floor_float(box.lower[i]) for i in np.flatnonzero(empty)]
    xhi[:, empty] = [ceil_float(box.upper[i]) for i in np.flatnonzero(empty)]
    return xlo, xhi


def _float_part(arr: np.ndarray) -> tuple[np.ndarray, float]:
    """Nearest floats and an upper bound on the largest |exact − float| entry."""
    f = to_float(arr)
    if arr.dtype != object or arr.size == 0:
        return f, 0.0
    return f, ceil_float(max(abs(v - Fraction(x)) for v, x in zip(arr.reshape(-1), f.reshape(-1))))


def _enclose(net: Network, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float bounds containing the exact outputs for every exact input in [lo, hi] (row-wise batches).

    Per layer, z = W·c + b + W·(x − c) with c the midpoint: |W·(x − c)| <= |W|·r, and the float evaluation of
    W·c + b errs by at most γ_{n+1}·(|W|·|c| + |b|) + n·2^-1073 (Higham, Thm 3.1, any summation order, with
    underflow); computed sums of nonnegative terms are inflated by (1 + 4(n+1)u) and the whole radius by
    (1 + 2^-40), which covers the few roundings of its own evaluation. Non-float weights add their residuals.
    """
    u, tiny = 2.0**-53, 2.0**-1073
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in net.layers:
            w, rw = _float_part(layer.weight)
            b, rb = _float_part(layer.bias)
            n = layer.in_features + 1
            grow = 1 + 4 * (n + 1) * u
            c = (lo + hi) / 2
            r = np.nextafter(np.maximum(hi - c, c - lo), np.inf)
            z = c @ w.T + b
            t = np.abs(c) @ np.abs(w).T + np.abs(b)
            spread = r @ np.abs(w).T
            rad = (spread + n * tiny) * grow + 2 * (n + 1) * u * (t + n * tiny) * grow + n * tiny
            rad = (rad + rw * (np.abs(c).sum(axis=1) + r.sum(axis=1))[:, None] + rb) * (1 + 2.0**-40)
            zlo, zhi = np.nextafter(z - rad, -np.inf), np.nextafter(z + rad, np.inf)
            lo, hi = _activation_enclosure(layer.activation, zlo, zhi)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise LumpcheckError("float enclosure overflowed while sampling")
    return lo, hi


def _activation_enclosure(act: Activation, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float bounds of σ over [lo, hi] elementwise (outward rounded)."""
    if act.kind == "identity":
        return lo, hi
    if act.kind in ("sigmoid", "tanh"):
        floor = 0.0 if act.kind == "sigmoid" else -1.0
        return np.maximum(act.float(lo) - _LIBM_ERROR, floor), np.minimum(act.float(hi) + _LIBM_ERROR, 1.0)
    a_lo, a_hi = floor_float(act.alpha), ceil_float(act.alpha)  # for z < 0: a_hi·z <= α·z <= a_lo·z
    ends = []
    for z in (lo, hi):
        neg = z < 0
        ends.append((np.where(neg, np.nextafter(a_hi * z, -np.inf), z), np.where(neg, np.nextafter(a_lo * z, np.inf), z)))
    straddle = (lo < 0) & (hi > 0)
    low = np.minimum(ends[0][0], ends[1][0])
    high = np.maximum(ends[0][1], ends[1][1])
    return np.where(straddle, np.minimum(low, 0.0), low), np.where(straddle, np.maximum(high, 0.0), high)
