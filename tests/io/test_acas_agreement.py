"""ACAS Xu 1_1 as .nnet and as .onnx describe the same network (ONNX: float32 weights, no normalisation).

The ONNX file expects normalised inputs and returns normalised outputs, so both are compared on the
network proper; the .nnet normalisation is checked separately through `fold_normalization`, exactly.
"""

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lumpcheck.io import load_model
from lumpcheck.io.nnet import read_nnet
from lumpcheck.ir.exact import as_fractions, to_float
from lumpcheck.ir.network import evaluate, evaluate_float, fold_normalization, layers_only
from lumpcheck.ir.rounding import nearest_float32

ZOO = Path(__file__).parents[2].parent / "shared" / "zoo"
NNET = "marabou/resources/nnet/acasxu/ACASXU_experimental_v2a_1_1.nnet"
ONNX = "marabou/resources/onnx/acasxu/ACASXU_experimental_v2a_1_1.onnx"
# float32 weights (relative error 6e-8) and float32 accumulation through 7 layers of width <= 50 give
# output errors of a few 1e-6 on normalised inputs (|y| < 3); allow ~10x that.
ATOL, RTOL = 5e-5, 1e-5

pytestmark = pytest.mark.zoo


@pytest.fixture(scope="module")
def zoo() -> Path:
    if not ZOO.is_dir():
        pytest.skip(f"network zoo not found at {ZOO}")
    return ZOO


@pytest.fixture(scope="module")
def nnet(zoo):
    return read_nnet(zoo / NNET)


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    """1000 random normalised ACAS inputs (the ACAS input box is about [-0.5, 0.5]^5 after normalisation)."""
    return np.random.default_rng(2022).uniform(-0.5, 0.5, size=(1000, 5))


def test_nnet_agrees_with_onnxruntime(zoo, nnet, inputs):
    import onnxruntime as ort

    session = ort.InferenceSession(str(zoo / ONNX), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    reference = np.concatenate(
        [session.run(None, {name: x.reshape(1, 1, 1, 5).astype(np.float32)})[0] for x in inputs]
    )
    np.testing.assert_allclose(evaluate_float(layers_only(nnet), inputs), reference, atol=ATOL, rtol=RTOL)


def test_nnet_model_is_clip_then_normalise_then_the_onnx_chain(zoo, nnet, inputs):
    """The .nnet model on raw inputs (some outside its clip range) = the ONNX chain on clipped, normalised inputs."""
    import onnxruntime as ort

    norm = nnet.normalization
    lo, hi = np.array([float(v) for v in norm.input_min]), np.array([float(v) for v in norm.input_max])
    mean, rng = np.array([float(v) for v in norm.input_mean]), np.array([float(v) for v in norm.input_range])
    raw = lo + (hi - lo) * np.random.default_rng(5).uniform(-0.2, 1.2, size=(200, 5))  # ~1/3 outside the clip range
    normalised = (np.clip(raw, lo, hi) - mean) / rng
    session = ort.InferenceSession(str(zoo / ONNX), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    chain = np.concatenate([session.run(None, {name: x.reshape(1, 1, 1, 5).astype(np.float32)})[0] for x in normalised])
    expected = chain * float(norm.output_range[0]) + float(norm.output_mean[0])
    np.testing.assert_allclose(evaluate_float(nnet, raw), expected, atol=ATOL * float(norm.output_range[0]), rtol=RTOL)


def test_onnx_weights_are_the_float32_roundings_of_the_nnet_text(zoo, nnet, inputs):
    onnx_net = load_model(zoo / ONNX)
    assert onnx_net.widths == nnet.widths and onnx_net.normalization is None
    for a, b in zip(nnet.layers, onnx_net.layers):
        assert a.activation == b.activation
        for exact, stored in ((a.weight, b.weight), (a.bias, b.bias)):
            rounded = np.vectorize(nearest_float32, otypes=[np.float64])(as_fractions(exact))
            assert np.array_equal(rounded, to_float(stored))
    np.testing.assert_allclose(evaluate_float(layers_only(nnet), inputs), evaluate_float(onnx_net, inputs), atol=ATOL,
                               rtol=RTOL)


def test_folded_normalisation_is_exact(nnet):
    """Folding the affine maps is exact and keeps the clip: inside and outside the clip range alike."""
    norm = nnet.normalization
    folded = fold_normalization(nnet)
    assert folded.normalization.affine_identity
    assert (folded.normalization.input_min, folded.normalization.input_max) == (norm.input_min, norm.input_max)
    rng = np.random.default_rng(7)
    for _ in range(4):
        raw = [
            lo + (hi - lo) * Fraction(int(rng.integers(-300, 1300)), 999)  # some inputs outside the clip range
            for lo, hi in zip(norm.input_min, norm.input_max)
        ]
        clipped = [min(max(x, lo), hi) for x, lo, hi in zip(raw, norm.input_min, norm.input_max)]
        normalised = [(x - m) / r for x, m, r in zip(clipped, norm.input_mean, norm.input_range)]
        expected = [y * norm.output_range[0] + norm.output_mean[0] for y in evaluate(layers_only(nnet), normalised)]
        assert evaluate(folded, raw) == expected == evaluate(nnet, raw)
