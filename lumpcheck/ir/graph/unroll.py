"""Unroll a CNN chain into a dense `Network` (Gemm + activation layers), exactly: what neuron-level verifiers take.

Each linear node becomes one dense layer whose rows are the node's own map at one output position:
- Conv: row (m, p) holds weight[m, c, k] in the column of the input element the window at p reads through
  kernel offset k (padding reads a zero: no column). Every entry is a *copy* of a weight, never a computed
  number, so the rows are the conv exactly (each input element appears at most once per row: the column map is
  injective, see below).
- AveragePool / global average: row (c, p) holds 1/count(p) in the columns of its window (count as ONNX counts it).
- MatMul by a constant: row (…, n) holds weight[k, n] in the column of element (…, k).
- Reshape/Flatten/Transpose/Identity move no number: they permute the map from tensor elements to neurons.
- MaxPool right after a ReLU: ReLU layers, max(u, v) = relu(u) + relu(v − u) for u, v >= 0 (see `_max_pool`).
- Element-wise Affine maps (bias adds, input normalisation, BatchNorm with a rational scale) and activations go
  through `ChainBuilder` exactly as `to_network` places them (folded into rows/columns in Fractions).

Invariant: `index` maps every element of the current tensor to the neuron holding it, or to −1 where the
element is a zero constant (Pad with 0). It starts as the identity on the flattened input; permutations keep it
injective on its non-negative entries; a linear node makes a fresh identity on its output. So at every node the
dense chain so far computes, for each element e, value(e) = neuron[index(e)] (or 0), by induction.

Not unrollable (UnrollError, one line naming the node and why): branches and residual joins (a Gemm+ReLU chain
has no skip connections), max-pooling not right after a ReLU (its inputs may be negative), global max-pooling,
BatchNorm whose γ/√(var + ε) is irrational (rows would need irrational weights), softmax.
"""

from __future__ import annotations

from fractions import Fraction
from math import prod

import numpy as np

from ..activation import IDENTITY, RELU
from ..exact import as_fractions, canonical, to_fraction
from ..network import Network
from .dag import Graph, Node
from .dense import ChainBuilder, NotDenseChain, chain_nodes
from .kernels import padded_windows, pool_counts
from .ops import Act, Affine, AveragePool, BatchNorm, Clip, Conv, GlobalPool, Identity, MatMul, MaxPool, Pad, \
    Reshape, Softmax, Transpose, Window
from .radical import rational_sqrt

ZERO_SAFE = ("identity", "relu", "leaky_relu")


class UnrollError(ValueError):
    """The graph cannot be unrolled into an exact dense chain (the message names the node and why)."""


def _matrix(rows: int, width: int, exact: bool) -> np.ndarray:
    if exact:
        m = np.empty((rows, width), dtype=object)
        m[...] = Fraction(0)
        return m
    return np.zeros((rows, width), dtype=np.float64)


def _place(w: np.ndarray, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
    rows, cols, vals = np.broadcast_arrays(rows, cols, vals)
    keep = cols >= 0
    w[rows[keep], cols[keep]] = vals[keep]


def _conv(op: Conv, index: np.ndarray, out_shape: tuple[int, ...], width: int) -> tuple[np.ndarray, np.ndarray]:
    r = op.window.rank
    win = padded_windows(index, op.window, -1, ceil_overhang=False)[0]  # (C, *out, *k)
    m, cg = op.weight.shape[:2]
    mg, p, k = m // op.group, prod(out_shape[2:]), prod(op.window.kernel)
    exact = op.weight.dtype == object
    w = _matrix(m * p, width, exact)
    weight = op.weight if exact else op.weight.astype(np.float64)
    for g in range(op.group):
        cols = np.moveaxis(win[g * cg:(g + 1) * cg], 0, r).reshape(p, cg * k)
        rows = np.arange(g * mg, (g + 1) * mg)[:, None] * p + np.arange(p)[None, :]
        _place(w, rows[:, :, None], cols[None], weight[g * mg:(g + 1) * mg].reshape(mg, 1, cg * k))
    bias = np.zeros(m * p) if op.bias is None else np.repeat(op.bias.reshape(-1), p)
    return w, bias


def _average(window: Window, include_pad: bool, index: np.ndarray, out_shape, width: int):
    win = padded_windows(index, window, -1, ceil_overhang=True)[0]  # (C, *out, *k)
    c, p, k = index.shape[1], prod(out_shape[2:]), prod(window.kernel)
    counts = pool_counts(tuple(index.shape[2:]), window, include_pad).reshape(-1)
    dyadic = all((int(n) & (int(n) - 1)) == 0 for n in counts)  # 1/n is a float64 exactly
    vals = 1.0 / counts.astype(np.float64) if dyadic else np.array([Fraction(1, int(n)) for n in counts], dtype=object)
    w = _matrix(c * p, width, not dyadic)
    cols = win.reshape(c, p, k)
    rows = np.arange(c)[:, None] * p + np.arange(p)[None, :]
    _place(w, rows[:, :, None], cols, vals.reshape(1, p, 1))
    return w, np.zeros(c * p)


def _matmul(op: MatMul, index: np.ndarray, out_shape, width: int):
    k, n = op.weight.shape
    p = index.size // k
    exact = op.weight.dtype == object
    w = _matrix(p * n, width, exact)
    rows = np.arange(p)[:, None, None] * n + np.arange(n)[None, None, :]
    _place(w, rows, index.reshape(p, k)[:, :, None], (op.weight if exact else op.weight.astype(np.float64))[None])
    bias = np.zeros(p * n) if op.bias is None else np.broadcast_to(op.bias, out_shape).reshape(-1)
    return w, bias


def _batchnorm_channels(node: Node) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (s, t) with BN(x) = s·x + t, when every γ/√(var + ε) is rational; else UnrollError."""
    bn = node.op
    scale, shift = [], []
    for gamma, beta, mean, var in zip(*(a.reshape(-1) for a in (bn.scale, bn.bias, bn.mean, bn.var))):
        root = rational_sqrt(to_fraction(var) + bn.epsilon)
        if root is None or root == 0:
            raise UnrollError(f"{node.where()}: its scale γ/√(var + ε) is irrational (var = {var}), so the Gemm rows "
                              "would need irrational weights; fold it approximately first (e.g. onnxsim) or keep the "
                              "graph")
        s = to_fraction(gamma) / root
        scale.append(s)
        shift.append(to_fraction(beta) - to_fraction(mean) * s)
    return np.array(scale, dtype=object), np.array(shift, dtype=object)


def _elementwise(b: ChainBuilder, node: Node, s: np.ndarray, t: np.ndarray, index: np.ndarray) -> None:
    """Apply y = s·x + t (arrays over the tensor's elements) to the neurons holding the elements."""
    flat = index.reshape(-1)
    live = flat >= 0
    if any(v != 0 for v in t[~live]):
        raise UnrollError(f"{node.where()} shifts zero padding (a constant, not a neuron); not unrollable")
    sn = np.empty(b.width, dtype=object)
    sn[...] = Fraction(1)
    tn = np.empty(b.width, dtype=object)
    tn[...] = Fraction(0)
    sn[flat[live]] = as_fractions(np.asarray(s))[live]
    tn[flat[live]] = as_fractions(np.asarray(t))[live]
    b.affine(sn, tn)


def _linear(node: Node, index: np.ndarray, out_shape, width: int):
    op = node.op
    if isinstance(op, Conv):
        return _conv(op, index, out_shape, width)
    if isinstance(op, AveragePool):
        return _average(op.window, op.count_include_pad, index, out_shape, width)
    if isinstance(op, GlobalPool) and op.mode == "average":
        r = index.ndim - 2
        window = Window(tuple(index.shape[2:]), (1,) * r, (0,) * (2 * r), (1,) * r)
        return _average(window, False, index, out_shape, width)
    if isinstance(op, MatMul) and op.weight.ndim == 2:
        return _matmul(op, index, out_shape, width)
    return None


def _after_relu(b: ChainBuilder, index: np.ndarray) -> bool:
    """Every neuron now holds a ReLU output (>= 0) and every element is a neuron (no padding constant)."""
    return bool(b.layers) and b.layers[-1].activation == RELU and b.open is None and b.pending is None and \
        not (index < 0).any()


def _max_pool(b: ChainBuilder, node: Node, index: np.ndarray, out_shape) -> np.ndarray:
    """MaxPool of ReLU outputs as ReLU layers: for u, v >= 0, max(u, v) = relu(u) + relu(v − u) exactly (relu(u) = u).
    Each round pairs the window's items (linear forms over the current neurons) into two ReLU neurons per pair (an odd
    item passes as relu(w) = w); ceil(log2 k) rounds, then one identity layer sums each window's last pair.
    Windows read no padding (ONNX pads MaxPool with −∞: every window holds a real entry)."""
    if not _after_relu(b, index):
        raise UnrollError(f"{node.where()}: max-pooling is unrolled only right after a ReLU (max(u, v) = relu(u) + "
                          "relu(v − u) needs u >= 0)")
    win = padded_windows(index, node.op.window, -1, ceil_overhang=True)[0]  # (C, *out, *k)
    items = [[[(int(t), 1)] for t in row if t >= 0] for row in win.reshape(-1, int(np.prod(node.op.window.kernel)))]
    while any(len(row) > 1 for row in items):
        rows: list[list[tuple[int, int]]] = []  # the new ReLU neurons' rows, as forms over the current neurons
        nxt = []
        for row in items:
            new = []
            for i in range(0, len(row), 2):
                if i + 1 < len(row):
                    u, v = row[i], row[i + 1]
                    rows.append(u)  # relu(u) = u
                    rows.append([(t, -c) for t, c in u] + v)  # relu(v − u)
                    new.append([(len(rows) - 2, 1), (len(rows) - 1, 1)])
                else:
                    rows.append(row[i])
                    new.append([(len(rows) - 1, 1)])
            nxt.append(new)
        b.dense(_form_matrix(rows, b.width), np.zeros(len(rows)))
        b.activate(RELU)
        items = nxt
    b.dense(_form_matrix([row[0] for row in items], b.width), np.zeros(len(items)))
    return np.arange(prod(out_shape)).reshape(out_shape)


def _form_matrix(forms: list[list[tuple[int, int]]], width: int) -> np.ndarray:
    w = np.zeros((len(forms), width))
    for r, form in enumerate(forms):
        for t, c in form:
            w[r, t] += c
    return w


def _refusal(node: Node) -> str:
    op = node.op
    if isinstance(op, GlobalPool):
        return "global max-pooling is not unrolled (a max over a whole plane)"
    if isinstance(op, Softmax):
        return "softmax is not piecewise linear (verify the logits: drop the final Softmax)"
    return "not a linear map, an element-wise map or an activation"


def unroll(graph: Graph) -> Network:
    """The dense `Network` computing `graph` exactly on its flattened input (C order), flattened output."""
    try:
        nodes = chain_nodes(graph)
    except NotDenseChain as exc:
        raise UnrollError(f"{exc}: a dense Gemm+ReLU chain has no branches or skip connections") from None
    shape = graph.inputs[0].shape
    index = np.arange(prod(shape)).reshape(shape)
    b = ChainBuilder(prod(shape))
    for node in nodes:
        out_shape = graph.shapes[node.output]
        index = _step(b, node, index, shape, out_shape)
        shape = out_shape
    if b.open is not None or not b.layers:
        b.activate(IDENTITY)
    meta = {"graph_input": (graph.inputs[0].name, graph.inputs[0].shape),
            "graph_output": (graph.outputs[0], graph.shapes[graph.outputs[0]])}  # fmt: skip
    return Network(b.layers, b.normalization(), graph.meta.source, meta)


def _step(b: ChainBuilder, node: Node, index: np.ndarray, shape, out_shape) -> np.ndarray:
    op = node.op
    if isinstance(op, (Identity, Reshape)):
        return index.reshape(out_shape)
    if isinstance(op, Transpose):
        return np.transpose(index, op.perm)
    if isinstance(op, Pad):
        if op.value != 0:
            raise UnrollError(f"{node.where()} pads with {op.value}, not 0 (a constant neuron); not unrollable")
        return np.pad(index, [(op.pads[i], op.pads[len(shape) + i]) for i in range(len(shape))], constant_values=-1)
    if isinstance(op, Clip) and not b.layers and b.open is None and b.pending is None and b.clip is None \
            and np.array_equal(index.reshape(-1), np.arange(index.size)) and prod(out_shape) == prod(shape):
        lo = None if op.lower is None else np.broadcast_to(as_fractions(op.lower), shape).reshape(-1)
        hi = None if op.upper is None else np.broadcast_to(as_fractions(op.upper), shape).reshape(-1)
        b.clip = (lo, hi)
        return index
    if isinstance(op, (Affine, BatchNorm)):
        if prod(out_shape) != prod(shape):
            raise UnrollError(f"{node.where()} broadcasts {list(shape)} to {list(out_shape)}; not unrollable")
        if isinstance(op, Affine):
            s, t = as_fractions(np.asarray(op.scale)), as_fractions(np.asarray(op.shift))
        else:
            cs, ct = _batchnorm_channels(node)
            per = (1, len(cs)) + (1,) * (len(shape) - 2)
            s, t = cs.reshape(per), ct.reshape(per)
        _elementwise(b, node, np.broadcast_to(s, shape).reshape(-1), np.broadcast_to(t, shape).reshape(-1), index)
        return index
    if isinstance(op, Act):
        if (index < 0).any() and op.activation.kind not in ZERO_SAFE:
            raise UnrollError(f"{node.where()} on zero padding: {op.activation} does not map 0 to 0")
        b.activate(op.activation)
        return index
    if isinstance(op, MaxPool):
        return _max_pool(b, node, index, out_shape)
    built = _linear(node, index, out_shape, b.width)
    if built is None:
        raise UnrollError(f"{node.where()}: {_refusal(node)}")
    w, bias = built
    b.dense(canonical(w) if w.dtype == object else w, bias)
    return np.arange(prod(out_shape)).reshape(out_shape)
