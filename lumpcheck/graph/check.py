"""Checker kernel, part 2: verify a graph channel-reduction certificate against the original and reduced graphs.

Trusted: the IR (`ir`, `ops`), exact numbers (`exact`, `kernels.pool_counts`/`exact_of`), the certificate parser,
`check_rules`, and `bounds` (sound interval bounds, for ReLU phases claimed on a box). Not used: the prover (`channels`, `lump`, `rewrite`). For every round the checker
  1. re-derives every claim of G_i from the claims on its op's inputs (producer rows exactly proportional;
     channel-wise ops by the identities in `check_rules`) — a claim it cannot derive is invalid;
  2. recomputes each removal's region (tensors carrying the producers' channels) and rejects it if the
     channels could escape (graph output, an op mixing channels that is not a listed Conv/MatMul boundary);
  3. turns each removed channel into an exact map at every boundary from the verified claims (zero padding:
     offsets must be 0), or for dead channels checks their weights are 0 in every remaining row;
  4. rebuilds G_{i+1} itself and demands it equal the next graph exactly.
The final rebuilt graph must equal the claimed reduced graph. Soundness: as in `lump` (kept channels keep
their values by induction; each boundary sees the removed channels as the verified affine maps).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from fractions import Fraction
from math import prod

import numpy as np

from ..exact import as_fractions, canonical
from . import kernels as K
from .bounds import channel_phases
from .certificate import Claim, GraphCertificate, Removal, Round
from .check_rules import derive, join, matches, per_channel_values, pool_uniform, relate, softmax_entries
from .ir import Graph, Node
from .symbolic import bounds_by
from .ops import (Act, Affine, AveragePool, BatchNorm, Binary, Clip, Conv, GlobalPool, Identity, MatMul, MaxPool, Op,
                  Pad, Reshape, Softmax, Transpose, Window)  # fmt: skip


class Invalid(Exception):
    """Internal: the certificate is wrong; `check_certificate` returns it as a verdict."""


@dataclass(frozen=True)
class Verdict:
    valid: bool
    reason: str = ""


@dataclass(frozen=True)
class Layout:
    axis: int
    inner: int
    channels: int


def _is_producer(op: Op) -> bool:
    return (isinstance(op, Conv) and op.group == 1) or (isinstance(op, MatMul) and op.weight.ndim == 2)


def _reshape_layout(lay: Layout, src: tuple, dst: tuple) -> Layout | None:
    """Channel c of a C-order tensor occupies flat indices with (i // I) % C = c, I = inner·prod(src[axis+1:])."""
    big = lay.inner * prod(src[lay.axis + 1 :])
    for k in range(len(dst)):
        after = prod(dst[k + 1 :])
        if big % after == 0 and dst[k] % ((big // after) * lay.channels) == 0:
            return Layout(k, big // after, lay.channels)
    return None


def layout_after(node: Node, lay: Layout | None, g: Graph) -> Layout | None:
    """Layout of a channel-wise op's output (None: the op does not act channel by channel)."""
    if lay is None or len(node.inputs) != 1:
        return None
    op, src, dst = node.op, g.shapes[node.inputs[0]], g.shapes[node.output]
    on_axis1 = lay.axis == 1 and lay.inner == 1 and src[1] == lay.channels
    if isinstance(op, (Identity, Act)) or (isinstance(op, (Affine, Clip)) and src == dst):
        return lay
    if isinstance(op, (BatchNorm, MaxPool, AveragePool, GlobalPool)):
        return lay if on_axis1 else None
    if isinstance(op, Pad):
        n = len(src)
        return lay if op.pads[lay.axis] == 0 and op.pads[n + lay.axis] == 0 else None
    if isinstance(op, Transpose):
        return Layout(op.perm.index(lay.axis), lay.inner, lay.channels)
    if isinstance(op, Reshape):
        return _reshape_layout(lay, src, dst)
    if isinstance(op, Softmax) and lay.axis not in op.axes:
        return lay
    return None


def layouts(g: Graph) -> dict[str, Layout | None]:
    out: dict[str, Layout | None] = {s.name: None for s in g.inputs}
    for node in g.nodes:
        op = node.op
        if _is_producer(op):
            out[node.output] = Layout(1, 1, op.out_channels) if isinstance(op, Conv) else Layout(len(g.shapes[node.output]) - 1, 1, op.weight.shape[1])
        elif isinstance(op, Binary):
            a, b = (out[x] for x in node.inputs)
            same = len({g.shapes[x] for x in node.inputs} | {g.shapes[node.output]}) == 1
            out[node.output] = a if a is not None and a == b and same else None
        else:
            out[node.output] = layout_after(node, out[node.inputs[0]] if node.inputs else None, g)
    return out


def reads_channels(node: Node, lay: Layout | None, g: Graph) -> bool:
    """Is `node` a Conv/MatMul that mixes the channels of its input along their layout (a boundary)?"""
    if lay is None or not _is_producer(node.op):
        return False
    if isinstance(node.op, Conv):
        return lay.axis == 1 and lay.inner == 1
    return lay.axis == len(g.shapes[node.inputs[0]]) - 1


# ---- 1. claims


def _fold_columns(w: np.ndarray, b: np.ndarray, claims: dict, ch: np.ndarray, inner: int, padded: bool):
    """Fold claimed input channels into their reps (W[:, ρ] += r·W[:, m], b += o·ΣW[:, m]); constants into the
    bias (under zero padding only κ = 0, others into the first nonzero constant as multiples of one map)."""
    keep = np.ones(w.shape[1], dtype=bool)
    first_const = None
    for c in sorted(claims):
        cl = claims[c]
        cols = np.flatnonzero(ch == c)
        if cl.rep is None and padded and cl.offset != 0:
            if first_const is None:
                first_const = cl
                continue
            target, factor, offset = first_const.channel, cl.offset / first_const.offset, Fraction(0)
        elif cl.rep is None:
            target, factor, offset = None, Fraction(0), cl.offset
        elif padded and cl.offset != 0:
            continue
        else:
            target, factor, offset = cl.rep, cl.factor, cl.offset
        for col in cols:
            block = w[:, col]
            if target is not None:
                tcol = col + (target - c) * inner
                w[:, tcol] = w[:, tcol] + block * factor
            if offset:
                b = b + block.reshape(block.shape[0], -1).sum(axis=1) * offset
            keep[col] = False
    return w[:, keep], b


def producer_rows(node: Node, g: Graph, lays: dict, claims: dict) -> tuple[np.ndarray, np.ndarray]:
    """Exact aggregated rows and bias of a Conv/MatMul given the verified claims on its input."""
    op, x = node.op, node.inputs[0]
    lay = lays.get(x)
    in_claims = claims.get(x, {}) if reads_channels(node, lay, g) else {}
    if isinstance(op, Conv):
        w = K.exact_of(op.weight).copy()
        b = K.exact_of(op.bias if op.bias is not None else np.zeros(op.out_channels))
        ch, inner, padded = np.arange(w.shape[1]), 1, op.window.padded
    else:
        w = K.exact_of(op.weight).T.copy()
        n = w.shape[0]
        bias = np.broadcast_to(as_fractions(op.bias), g.shapes[node.output]).reshape(-1, n) if op.bias is not None else None
        if bias is not None and any(not np.array_equal(bias[0], row) for row in bias[1:]):
            raise Invalid(f"{node.where()}: claims on its output but its bias varies along the leading axes")
        b = bias[0].copy() if bias is not None else K.exact_of(np.zeros(n))
        ch = (np.arange(w.shape[1]) // lay.inner) % lay.channels if in_claims else np.arange(w.shape[1])
        inner, padded = (lay.inner if in_claims else 1), False
    w, b = _fold_columns(w, b, in_claims, ch, inner, padded)
    return w.reshape(w.shape[0], -1), b


def _ctx(node: Node, g: Graph, lay: Layout, phases: dict) -> dict:
    op, shape = node.op, g.shapes[node.output]
    ctx: dict = {"phases": phases[node.output]} if node.output in phases else {}
    if isinstance(op, Affine):
        a = per_channel_values(op.scale, shape, lay.axis, lay.inner, lay.channels)
        s = per_channel_values(op.shift, shape, lay.axis, lay.inner, lay.channels)
        if a is None or s is None:
            return {"affine": None}
        ctx["affine"] = (a, s)
    if isinstance(op, Clip):
        n = lay.channels
        lo = per_channel_values(op.lower, shape, lay.axis, lay.inner, n) if op.lower is not None else [None] * n
        hi = per_channel_values(op.upper, shape, lay.axis, lay.inner, n) if op.upper is not None else [None] * n
        ctx["bounds"] = (lo, hi) if lo is not None and hi is not None else None
    if isinstance(op, AveragePool):
        ctx["uniform"] = pool_uniform(op, g.shapes[node.inputs[0]][2:])
    if isinstance(op, Softmax):
        ctx["softmax_n"] = softmax_entries(op, shape)
    return ctx


def _const_source(node: Node, m: int, ctx: dict) -> Fraction | None:
    """A channel made constant by the op itself (scale 0, BatchNorm γ = 0, ReLU inactive on the box)."""
    op = node.op
    if isinstance(op, Act) and op.activation.kind == "relu" and ctx.get("phases") and ctx["phases"][m] == "inactive":
        return Fraction(0)
    if isinstance(op, Affine) and ctx.get("affine") and ctx["affine"][0][m] == 0:
        return ctx["affine"][1][m]
    if isinstance(op, BatchNorm) and Fraction(op.scale[m]) == 0:
        return Fraction(op.bias[m])
    return None


def _check_claim(node: Node, g: Graph, lays: dict, claims: dict, cl: Claim, rows, phases: dict) -> None:
    op = node.op
    where = f"claim {cl} on {node.output!r}"
    if rows is not None:
        w, b = rows
        if cl.rep is None:
            if np.any(w[cl.channel] != 0) or b[cl.channel] != cl.offset:
                raise Invalid(f"{where}: the channel's aggregated weights are not zero with bias {cl.offset}")
        elif np.any(w[cl.channel] != w[cl.rep] * cl.factor) or b[cl.channel] != cl.factor * b[cl.rep] + cl.offset:
            raise Invalid(f"{where}: aggregated rows are not in that exact proportion")
        return
    lay = lays[node.output]
    ctx = _ctx(node, g, lay, phases)
    if any(v is None for k, v in ctx.items() if k != "phases"):
        raise Invalid(f"{where}: {op.kind} parameters vary within a channel")
    rho = cl.channel if cl.rep is None else cl.rep
    if isinstance(op, Binary):
        pair = join(op, *(relate(claims.get(x, {}), cl.channel, rho) for x in node.inputs))
    else:
        pair = relate(claims.get(node.inputs[0], {}), cl.channel, rho)
        pair = derive(op, pair, cl.channel, rho, ctx) if pair is not None else None
    if cl.rep is None:
        value = pair[1] if pair is not None and pair[0] == "const" else _const_source(node, cl.channel, ctx)
        if value != cl.offset:
            raise Invalid(f"{where}: does not follow from the input's claims ({node.where()})")
    elif not matches(cl, pair):
        raise Invalid(f"{where}: does not follow from the input's claims ({node.where()}: derived {pair})")


def verify_claims(g: Graph, lays: dict, claims: dict[str, dict[int, Claim]], phases: dict) -> None:
    producers = {n.output: n for n in g.nodes}
    for tensor, cls in claims.items():
        node = producers.get(tensor)
        lay = lays.get(tensor)
        if node is None or lay is None:
            raise Invalid(f"claims on {tensor!r}, which has no channel layout (input or channel-mixing op)")
        for cl in cls.values():
            if not (0 <= cl.channel < lay.channels and (cl.rep is None or 0 <= cl.rep < lay.channels)):
                raise Invalid(f"claim {cl} on {tensor!r}: channel out of range 0..{lay.channels - 1}")
            if cl.rep is not None and cl.rep in cls:
                raise Invalid(f"claim {cl} on {tensor!r}: its representative {cl.rep} is itself claimed")
    for node in g.nodes:  # in topological order: inputs' claims were checked first
        cls = claims.get(node.output)
        if not cls:
            continue
        rows = producer_rows(node, g, lays, claims) if _is_producer(node.op) else None
        for cl in cls.values():
            _check_claim(node, g, lays, claims, cl, rows, phases)


# ---- 2. regions


@dataclass
class Region:
    removal: Removal
    tensors: dict  # tensor -> Layout
    boundaries: dict  # consumer node output -> (node, tensor it reads)


def region_of(rem: Removal, g: Graph, lays: dict) -> Region:
    by_out = {n.output: n for n in g.nodes}
    tensors: dict = {}
    for p in rem.producers:
        node = by_out.get(p)
        if node is None or not _is_producer(node.op) or lays[p].channels != rem.channels:
            raise Invalid(f"removal producer {p!r} is not a Conv/MatMul with {rem.channels} output channels")
        tensors[p] = lays[p]
    boundaries: dict = {}
    todo = list(tensors)
    while todo:
        t = todo.pop()
        if t in g.outputs:
            raise Invalid(f"channels of {rem.producers} reach the graph output {t!r}")
        for node in g.consumers(t):
            if reads_channels(node, lays[t], g):
                boundaries[node.output] = (node, t)
                continue
            out = lays.get(node.output)
            if isinstance(node.op, Binary) and out is not None:
                others = [x for x in node.inputs if x != t]
                if any(x not in tensors and lays.get(x) != lays[t] for x in others):
                    raise Invalid(f"{node.where()} joins {t!r} with a tensor of another layout")
            elif out is None:
                raise Invalid(f"{node.where()} does not act channel by channel on {t!r}")
            if node.output not in tensors:
                tensors[node.output] = out
                todo.append(node.output)
    for node in g.nodes:  # a join must have all its inputs in the region (else the other space keeps the channel)
        if isinstance(node.op, Binary) and node.output in tensors and any(x not in tensors for x in node.inputs):
            raise Invalid(f"{node.where()} joins the removed space with a space not removed alongside it")
    if set(boundaries) != set(rem.boundaries):
        raise Invalid(f"boundaries {sorted(rem.boundaries)} but the channels are read by {sorted(boundaries)}")
    return Region(rem, tensors, boundaries)


# ---- 3. maps at boundaries


def _maps(region: Region, claims: dict) -> dict[str, list]:
    """Per boundary consumer: (removed channel, target or None, factor, offset), from the verified claims."""
    rem = region.removal
    out = {}
    for name, (node, t) in region.boundaries.items():
        padded = isinstance(node.op, Conv) and node.op.window.padded
        cls = claims.get(t, {})
        maps = []
        for m, rep in rem.reps:
            if rep is not None and rep not in rem.kept:
                raise Invalid(f"removed channel {m} is represented by {rep}, which is removed too")
            pair = relate(cls, m, m if rep is None else rep)
            if rep is None or (pair is not None and pair[0] == "const" and (not padded or pair[1] == 0)):
                if pair is None or pair[0] != "const" or (padded and pair[1] != 0):
                    raise Invalid(f"channel {m} is folded as a constant at {name!r} but is not a foldable constant there")
                maps.append((m, None, Fraction(0), pair[1]))
            elif pair is not None and pair[0] == "const":
                if pair[2] == 0:
                    raise Invalid(f"channel {m} at padded {name!r}: constant map through the zero constant {rep}")
                maps.append((m, rep, pair[1] / pair[2], Fraction(0)))
            elif pair is None or (padded and pair[2] != 0):
                raise Invalid(f"channel {m} is not an exact affine function of {rep} at {name!r} (zero padding needs offset 0)")
            else:
                maps.append((m, rep, pair[1], pair[2]))
        out[name] = maps
    return out


def _check_dead(region: Region, kept_rows: dict) -> None:
    removed = sorted(set(range(region.removal.channels)) - set(region.removal.kept))
    for name, (node, t) in region.boundaries.items():
        rows = kept_rows.get(name)
        lay = region.tensors[t]
        if isinstance(node.op, Conv):
            w = node.op.weight if rows is None else node.op.weight[rows]
            if np.any(w[:, removed] != 0):
                raise Invalid(f"dead channels {removed} are read by {name!r}")
        else:
            w = node.op.weight if rows is None else node.op.weight[:, rows]
            ch = (np.arange(w.shape[0]) // lay.inner) % lay.channels
            if np.any(w[np.isin(ch, removed)] != 0):
                raise Invalid(f"dead channels {removed} are read by {name!r}")


# ---- 4. rebuild


def _take(arr: np.ndarray, rank: int, lay: Layout, kept: list[int]) -> np.ndarray:
    a = np.asarray(arr).reshape((1,) * (rank - np.ndim(arr)) + np.shape(arr))
    if a.shape[lay.axis] == 1:
        return arr
    idx = [i for i in range(a.shape[lay.axis]) if (i // lay.inner) % lay.channels in set(kept)]
    return np.take(a, idx, axis=lay.axis)


def _consume(op: Op, lay: Layout, kept: list[int], maps: list) -> Op:
    if isinstance(op, Conv):
        w = K.exact_of(op.weight).copy()
        b = K.exact_of(op.bias) if op.bias is not None else None
        for m, target, f, o in maps:
            if target is not None:
                w[:, target] = w[:, target] + w[:, m] * f
            if o:
                b = (b if b is not None else K.exact_of(np.zeros(op.out_channels))) + w[:, m].reshape(w.shape[0], -1).sum(axis=1) * o
        return Conv(canonical(w[:, kept]), None if b is None else canonical(b), op.window, op.group)
    w = K.exact_of(op.weight).copy()
    b = K.exact_of(op.bias) if op.bias is not None else None
    ch = (np.arange(w.shape[0]) // lay.inner) % lay.channels
    for m, target, f, o in maps:
        rows = np.flatnonzero(ch == m)
        if target is not None:
            w[rows + (target - m) * lay.inner] = w[rows + (target - m) * lay.inner] + w[rows] * f
        if o:
            b = (b if b is not None else K.exact_of(np.zeros(w.shape[1]))) + w[rows].sum(axis=0) * o
    return MatMul(canonical(w[np.isin(ch, kept)]), None if b is None else canonical(b))


def _slice(node: Node, g: Graph, lay: Layout, kept: list[int], produces: bool) -> Op:
    op, rank = node.op, len(g.shapes[node.output])
    if produces and isinstance(op, Conv):
        return Conv(op.weight[kept], None if op.bias is None else op.bias[kept], op.window, op.group)
    if produces:
        n = op.weight.shape[1]
        bias = op.bias[..., kept] if op.bias is not None and op.bias.ndim and op.bias.shape[-1] == n else op.bias
        return MatMul(op.weight[:, kept], bias)
    if isinstance(op, Affine):
        return Affine(_take(op.scale, rank, lay, kept), _take(op.shift, rank, lay, kept))
    if isinstance(op, Clip):
        return Clip(None if op.lower is None else _take(op.lower, rank, lay, kept), None if op.upper is None else _take(op.upper, rank, lay, kept))
    if isinstance(op, BatchNorm):
        return BatchNorm(op.scale[kept], op.bias[kept], op.mean[kept], op.var[kept], op.epsilon)
    if isinstance(op, Reshape):
        shape = list(op.shape)
        shape[lay.axis] = shape[lay.axis] // lay.channels * len(kept)
        return Reshape(tuple(shape))
    return op


def rebuild(g: Graph, regions: list[Region], maps: dict) -> Graph:
    kept_of, boundary_of = {}, {}
    for reg in regions:
        for t, lay in reg.tensors.items():
            if t in kept_of:
                raise Invalid(f"tensor {t!r} belongs to two removals")
            kept_of[t] = (lay, list(reg.removal.kept), t in reg.removal.producers)
        for name, (node, t) in reg.boundaries.items():
            boundary_of[name] = (reg.tensors[t], list(reg.removal.kept), maps.get(name, []))
    nodes = []
    for node in g.nodes:
        op = node.op
        if node.output in boundary_of:
            op = _consume(op, *boundary_of[node.output])
        if node.output in kept_of:
            lay, kept, produces = kept_of[node.output]
            op = _slice(Node(node.name, op, node.inputs, node.output), g, lay, kept, produces)
        nodes.append(Node(node.name, op, node.inputs, node.output))
    return g.with_nodes(nodes)


def _same_value(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if a is None or b is None or np.shape(a) != np.shape(b):
            return False
        if a.dtype != object and b.dtype != object:  # float64 values are exact: compare them directly
            return bool(np.array_equal(a, b))
        return bool(np.all(as_fractions(np.asarray(a)) == as_fractions(np.asarray(b))))
    if isinstance(a, Window):
        return all(getattr(a, f.name) == getattr(b, f.name) for f in fields(Window))
    return a == b


def same_graph(a: Graph, b: Graph) -> str | None:
    """None when equal (structure and exact parameters), else where they differ."""
    if a.inputs != b.inputs or a.outputs != b.outputs or len(a.nodes) != len(b.nodes):
        return "inputs, outputs or node count differ"
    for x, y in zip(a.nodes, b.nodes):
        if (x.name, x.inputs, x.output, type(x.op)) != (y.name, y.inputs, y.output, type(y.op)):
            return f"{x.where()} differs in structure"
        for f in fields(x.op):
            if not _same_value(getattr(x.op, f.name), getattr(y.op, f.name)):
                return f"{x.where()}: {f.name} differs"
    return None


# ---- driver


def verify_phases(g: Graph, lays: dict, rnd: Round, box: dict | None, method: str) -> dict:
    """Claimed ReLU phases, each confirmed by sound interval bounds on the certificate's box."""
    if not rnd.phases:
        return {}
    if box is None:
        raise Invalid("ReLU phases are claimed but the certificate states no box")
    exact_box = {s.name: (np.array(box[s.name][0], dtype=object), np.array(box[s.name][1], dtype=object)) for s in g.inputs}
    try:
        bounds = bounds_by(method)(g, exact_box)
    except ValueError as e:
        raise Invalid(str(e)) from None
    by_out = {n.output: n for n in g.nodes}
    for name, claimed in rnd.phases.items():
        node = by_out.get(name)
        lay = lays.get(node.inputs[0]) if node is not None and isinstance(node.op, Act) else None
        if lay is None or node.op.activation.kind not in ("relu", "leaky_relu") or len(claimed) != lay.channels:
            raise Invalid(f"phases claimed for {name!r}, which is not a ReLU/LeakyReLU on channels")
        found = channel_phases(*bounds[node.inputs[0]], lay.axis, lay.inner, lay.channels)
        for c, (p, q) in enumerate(zip(claimed, found)):
            if p is not None and p != q:
                raise Invalid(f"channel {c} of {name!r} is claimed {p} on the box, interval bounds show {q or 'unstable'}")
    return dict(rnd.phases)


def _check_round(g: Graph, rnd: Round, box: dict | None, method: str) -> Graph:
    lays = layouts(g)
    claims = {t: {c.channel: c for c in cs} for t, cs in rnd.claims.items()}
    verify_claims(g, lays, claims, verify_phases(g, lays, rnd, box, method))
    regions = [region_of(rem, g, lays) for rem in rnd.removals]
    kept_rows = {p: list(reg.removal.kept) for reg in regions for p in reg.removal.producers}
    maps = {}
    for reg in regions:
        if reg.removal.kind == "dead":
            _check_dead(reg, kept_rows)
        else:
            maps.update(_maps(reg, claims))
    return rebuild(g, regions, maps)


def replay(original: Graph, cert: GraphCertificate) -> tuple[Graph | None, Verdict]:
    """Check every round and rebuild the reduced graph the certificate describes (None with the reason if invalid)."""
    g = original
    for i, rnd in enumerate(cert.rounds):
        try:
            g = _check_round(g, rnd, cert.box, cert.bounds)
        except Invalid as e:
            return None, Verdict(False, f"round {i}: {e}")
    return g, Verdict(True)


def check_certificate(original: Graph, reduced: Graph, cert: GraphCertificate) -> Verdict:
    """Valid iff every round's claims, removals and rebuilt graph check, and the last rebuilt graph is `reduced`."""
    rebuilt, verdict = replay(original, cert)
    if rebuilt is None:
        return verdict
    diff = same_graph(rebuilt, reduced)
    return Verdict(True) if diff is None else Verdict(False, f"the rebuilt graph is not the reduced graph: {diff}")
