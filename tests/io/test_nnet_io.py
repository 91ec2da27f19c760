""".nnet reader/writer: exact numbers, the zoo's dialects, line-numbered errors, exact round trips."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lumpcheck.errors import ModelFormatError
from lumpcheck.io import load_model, save_model
from lumpcheck.io.nnet import NO_BOUND, read_nnet, write_nnet
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.exact import as_fractions, decimal_str, exact_equal, parse_decimal
from lumpcheck.ir.network import Layer, Network, evaluate, layers_only
from lumpcheck.ir.normalization import Normalization

ZOO = Path(__file__).parents[2].parent / "shared" / "zoo"
ACAS_1_1 = "marabou/resources/nnet/acasxu/ACASXU_experimental_v2a_1_1.nnet"


@pytest.fixture
def zoo() -> Path:
    if not ZOO.is_dir():
        pytest.skip(f"network zoo not found at {ZOO}")
    return ZOO


# A 2-3-1 net in the ACAS dialect: `//` comments, flag `0,`, trailing commas.
ACAS_STYLE = """\
// tiny test net
// second comment line
2,2,1,3,
2,3,1,
0,
-1.0,-2.0,
1.0,2.0,
0.5,0.0,10.0,
2.0,4.0,3.0,
0.1,-0.2,
1e-1,2.5E+00,
-0.125,0.0,
0.0,
1,
-0.3,
0.5,-1.0,2.0,
0.25,
"""
LINE_OF = {"header": 3, "sizes": 4, "mins": 6, "means": 8, "w1_row1": 10, "bias1_3": 15, "last": 17}


def write(tmp_path: Path, text: str, name: str = "net.nnet") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def layers_equal(a: Network, b: Network) -> bool:
    return len(a.layers) == len(b.layers) and all(
        exact_equal(x.weight, y.weight) and exact_equal(x.bias, y.bias) and x.activation == y.activation
        for x, y in zip(a.layers, b.layers)
    )


def test_acas_dialect_reads_every_number_exactly(tmp_path):
    net = read_nnet(write(tmp_path, ACAS_STYLE))
    assert net.widths == [2, 3, 1]
    assert [layer.activation.kind for layer in net.layers] == ["relu", "identity"]
    w1 = as_fractions(net.layers[0].weight)
    assert w1[0, 0] == Fraction(1, 10) and w1[1, 0] == Fraction(1, 10)  # "0.1" and "1e-1": the decimal, not a float
    assert w1[1, 1] == Fraction(5, 2) and w1[2, 0] == Fraction(-1, 8)
    assert net.layers[0].weight.dtype == object  # 1/10 is not a float64
    assert net.layers[1].weight.dtype == np.float64  # 0.5, -1, 2 are
    norm = net.normalization
    assert norm.input_min == (-1, -2) and norm.input_max == (1, 2)
    assert norm.input_mean == (Fraction(1, 2), 0) and norm.input_range == (2, 4)
    assert norm.output_mean == (10,) and norm.output_range == (3,)
    assert net.meta["nnet_comments"] == "// tiny test net\n// second comment line"
    assert "warnings" not in net.meta


def test_evaluation_uses_the_exact_weights(tmp_path):
    net = read_nnet(write(tmp_path, ACAS_STYLE))
    x = [Fraction(3), Fraction(1, 7)]
    w1 = as_fractions(net.layers[0].weight)
    b1 = [Fraction(0), Fraction(1), Fraction(-3, 10)]
    hidden = [max(Fraction(0), w1[i, 0] * x[0] + w1[i, 1] * x[1] + b1[i]) for i in range(3)]
    expected = Fraction(1, 2) * hidden[0] - hidden[1] + 2 * hidden[2] + Fraction(1, 4)
    assert evaluate(layers_only(net), x) == [expected]
    # the model: x clipped to [-1, 1] x [-2, 2], normalised by means (1/2, 0) and ranges (2, 4), output * 3 + 10
    v = [(Fraction(1) - Fraction(1, 2)) / 2, Fraction(1, 7) / 4]
    hidden = [max(Fraction(0), w1[i, 0] * v[0] + w1[i, 1] * v[1] + b1[i]) for i in range(3)]
    assert evaluate(net, x) == [3 * (Fraction(1, 2) * hidden[0] - hidden[1] + 2 * hidden[2] + Fraction(1, 4)) + 10]


def test_coav_dialect_without_comments_or_trailing_commas(tmp_path):
    body = [line.rstrip(",") for line in ACAS_STYLE.splitlines() if not line.startswith("//")]
    net = read_nnet(write(tmp_path, "\n".join(body)))  # also: flag `0`, no final newline
    assert layers_equal(net, read_nnet(write(tmp_path, ACAS_STYLE, "ref.nnet")))
    assert "nnet_comments" not in net.meta


def test_max_layer_size_conventions_are_accepted(tmp_path):
    # maxLayerSize with or without the input layer (twin nets use the latter) is fine; a nonsense one only warns.
    net = Network([Layer(np.ones((2, 4)), np.zeros(2), Activation("relu")), Layer(np.ones((1, 2)), np.zeros(1))])
    write_nnet(net, tmp_path / "wide.nnet")
    text = (tmp_path / "wide.nnet").read_text()
    assert "\n2,4,1,4,\n" in text
    for header, warns in (("2,4,1,4,", False), ("2,4,1,2,", False), ("2,4,1,17,", True)):
        back = read_nnet(write(tmp_path, text.replace("2,4,1,4,", header)))
        assert layers_equal(net, back)
        assert ("maxLayerSize 17" in back.meta.get("warnings", [""])[0]) == warns


def test_legacy_header_with_extra_inputs_warns_and_uses_last_for_output(tmp_path):
    text = ACAS_STYLE.replace("-1.0,-2.0,\n1.0,2.0,\n0.5,0.0,10.0,\n2.0,4.0,3.0,", "-1,-2,-9,\n1,2,9,\n0.5,0,7,10,\n2,4,5,3,")
    net = read_nnet(write(tmp_path, text))
    assert net.normalization.input_mean == (Fraction(1, 2), 0) and net.normalization.output_mean == (10,)
    assert net.normalization.output_range == (3,) and net.normalization.input_min == (-1, -2)
    assert "legacy" in net.meta["warnings"][0]


def _replace_line(text: str, number: int, new: str | None) -> str:
    lines = text.splitlines()
    if new is None:
        del lines[number - 1 :]
    else:
        lines[number - 1] = new
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("line", "new", "message"),
    [
        (LINE_OF["last"], None, "file ends early"),  # truncated: last bias missing
        (LINE_OF["w1_row1"], "nan,0.1,", "not a finite decimal"),
        (LINE_OF["w1_row1"], "0.1,inf,", "not a finite decimal"),
        (LINE_OF["w1_row1"], "0.1,", "expected 2 numbers"),
        (LINE_OF["w1_row1"], "0.1,abc,", "not a finite decimal"),
        (LINE_OF["w1_row1"], "0.1,,0.2", "empty entry"),
        (LINE_OF["w1_row1"], "1/3,0.2,", "not a finite decimal"),
        (LINE_OF["bias1_3"], "-0.3,1,", "expected 1 numbers"),
        (LINE_OF["means"], "0.5,0.0,", "expected 3 numbers"),
        (LINE_OF["mins"], "-1.0,", "expected 2 numbers"),
        (LINE_OF["mins"] + 1, "1.0,-2.5,", "input 1's minimum -2 exceeds its maximum -5/2"),  # inverted clip
        (LINE_OF["sizes"], "3,3,1,", "do not match"),
        (LINE_OF["sizes"] + 1, "zero,", "not a finite decimal"),
        (LINE_OF["header"], "2,2,1,", "expected 4 numbers"),
        (LINE_OF["header"], "2.5,2,1,3,", "non-negative integers"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, line, new, message):
    path = write(tmp_path, _replace_line(ACAS_STYLE, line, new))
    with pytest.raises(ModelFormatError) as info:
        read_nnet(path)
    text = str(info.value)
    assert text.startswith(f"{path}: line {line}: ") and message in text


def test_trailing_garbage_is_rejected_with_its_line(tmp_path):
    path = write(tmp_path, ACAS_STYLE + "\n0.5,\n")
    with pytest.raises(ModelFormatError, match=r"line 19: unexpected content after the last layer"):
        read_nnet(path)


def test_unreadable_file_is_a_format_error(tmp_path):
    with pytest.raises(ModelFormatError, match="cannot read"):
        read_nnet(tmp_path / "missing.nnet")
    with pytest.raises(ModelFormatError, match="cannot read"):
        read_nnet(tmp_path)
    (tmp_path / "binary.nnet").write_bytes(b"\xff\xfe2,2,")
    with pytest.raises(ModelFormatError, match="cannot read"):
        read_nnet(tmp_path / "binary.nnet")


def test_round_trip_is_exact_including_decimal_fractions(tmp_path):
    net = read_nnet(write(tmp_path, ACAS_STYLE))
    out = tmp_path / "out.nnet"
    write_nnet(net, out)
    again = read_nnet(out)
    assert layers_equal(net, again) and again.normalization == net.normalization
    assert again.meta["nnet_comments"].startswith("// tiny test net")
    write_nnet(again, out)  # idempotent: no growing comment header
    assert read_nnet(out).meta["nnet_comments"] == again.meta["nnet_comments"]


# A 2-0-2-1 net: hidden layer 1 has no neurons, so layer 2's rows are empty and only its biases are written.
ZERO_WIDTH = """\
3,2,1,2,
2,0,2,1,
0,
-1,-1,
1,1,
0,0,0,
1,1,1,
0.5,
-1.5,
2,-1,
0.25,
"""


def test_zero_width_hidden_layer_reads_and_writes(tmp_path):
    net = read_nnet(write(tmp_path, ZERO_WIDTH))
    assert net.widths == [2, 0, 2, 1] and net.layers[0].weight.shape == (0, 2) and net.layers[1].weight.shape == (2, 0)
    assert list(as_fractions(net.layers[1].bias)) == [Fraction(1, 2), Fraction(-3, 2)]
    constant = [2 * Fraction(1, 2) - 0 + Fraction(1, 4)]  # 2·relu(1/2) - relu(-3/2) + 1/4
    assert evaluate(net, [Fraction(7), Fraction(-3)]) == evaluate(net, [Fraction(0), Fraction(0)]) == constant
    out = tmp_path / "out.nnet"
    write_nnet(net, out)
    text = [line for line in out.read_text().splitlines() if not line.startswith("//")]
    assert text[1] == "2,0,2,1," and len([line for line in text if line]) == len(ZERO_WIDTH.splitlines())
    assert text.count("") == 2  # one empty line per row of width 0, as the reference readers need (test_nnet_reference)
    assert layers_equal(read_nnet(out), net)


@pytest.mark.parametrize("sizes", ["0,0,2,1,", "2,0,2,0,"])
def test_zero_inputs_or_outputs_are_rejected(tmp_path, sizes):
    with pytest.raises(ModelFormatError, match="do not match"):
        read_nnet(write(tmp_path, ZERO_WIDTH.replace("2,0,2,1,", sizes).replace("3,2,1,2,", "3,0,0,2,")))


def test_network_without_normalization_gets_the_identity_one(tmp_path):
    net = Network([Layer(np.eye(2), np.zeros(2), Activation("relu")), Layer(np.ones((1, 2)), np.zeros(1))])
    save_model(net, tmp_path / "plain.nnet")
    back = load_model(tmp_path / "plain.nnet")
    assert layers_equal(net, back)
    assert back.normalization is None  # means 0, ranges 1 and float32-extreme bounds: no normalisation at all
    assert "0,0,0,\n1,1,1," in (tmp_path / "plain.nnet").read_text()
    assert decimal_str(-NO_BOUND) in (tmp_path / "plain.nnet").read_text()


@pytest.mark.parametrize(
    ("layers", "normalization", "message"),
    [
        ([Layer(np.eye(2), np.zeros(2), Activation("sigmoid")), Layer(np.ones((1, 2)), np.zeros(1))], None, "ReLU"),
        ([Layer(np.eye(2), np.zeros(2), Activation("relu"))], None, "identity output"),
        ([Layer(np.array([[Fraction(1, 3), 1]], dtype=object), np.zeros(1))], None, "round it first"),
        (
            [Layer(np.eye(2), np.zeros(2))],
            Normalization((0, 0), (1, 1), (0, 1), (1, 1)),
            "one output mean",
        ),
    ],
)
def test_unwritable_networks_raise_value_error(tmp_path, layers, normalization, message):
    with pytest.raises(ValueError, match=message):
        write_nnet(Network(layers, normalization), tmp_path / "x.nnet")
    assert not (tmp_path / "x.nnet").exists()


@given(st.integers(), st.integers(0, 60), st.integers(0, 60))
def test_decimal_text_is_exact_for_every_terminating_rational(n, twos, fives):
    x = Fraction(n, 2**twos * 5**fives)
    assert parse_decimal(decimal_str(x)) == x


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def relu_nets(draw) -> Network:
    """Random ReLU nets with 0-2 hidden layers, which may have width 0 (a reduced net's removed layer)."""
    hidden = draw(st.lists(st.integers(0, 4), max_size=2))
    widths = [draw(st.integers(1, 4)), *hidden, draw(st.integers(1, 4))]
    layers = []
    for i, (m, n) in enumerate(zip(widths, widths[1:])):
        w = draw(hnp.arrays(np.float64, (n, m), elements=finite))
        b = draw(hnp.arrays(np.float64, (n,), elements=finite))
        layers.append(Layer(w, b, Activation("identity" if i == len(widths) - 2 else "relu")))
    return Network(layers)


@settings(max_examples=60, deadline=None)
@given(net=relu_nets())
def test_float64_networks_round_trip_exactly(tmp_path_factory, net):
    path = tmp_path_factory.mktemp("rt") / "net.nnet"
    write_nnet(net, path)
    back = read_nnet(path)
    assert layers_equal(net, back)
    assert all(layer.weight.dtype == np.float64 for layer in back.layers)  # floats stay on the fast path


@pytest.mark.zoo
def test_every_zoo_nnet_reads(zoo):
    files = sorted(zoo.rglob("*.nnet"))
    assert len(files) >= 80
    for path in files:
        net = read_nnet(path)
        header = [int(x) for x in net_header(path)]
        assert net.widths == header, path
        assert net.normalization is not None and len(net.normalization.input_mean) == net.input_size


def net_header(path: Path) -> list[str]:
    """The layer-sizes line of an .nnet file, read naively (independent of the reader under test)."""
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("//")]
    return [x for x in lines[1].split(",") if x.strip()]


@pytest.mark.zoo
def test_acas_round_trip_is_exact_and_keeps_the_license_header(zoo, tmp_path):
    net = read_nnet(zoo / ACAS_1_1)
    assert net.shape_str() == "5-50x6-5" and net.param_count == 13305
    assert net.normalization.output_mean == (Fraction("7.5188840201005975"),)
    write_nnet(net, tmp_path / "acas.nnet")
    again = read_nnet(tmp_path / "acas.nnet")
    assert layers_equal(net, again) and again.normalization == net.normalization
    assert "Creative Commons" in again.meta["nnet_comments"]


@pytest.mark.zoo
def test_twin_header_max_size_without_input_layer_is_accepted(zoo):
    net = read_nnet(zoo / "marabou/resources/nnet/twin/twin_ladder-25_inp-2_layers-5_width-1_margin.nnet")
    assert net.widths == [25, 10, 1] and "warnings" not in net.meta


@pytest.mark.zoo
def test_legacy_acas_tiny_header(zoo):
    net = read_nnet(zoo / "marabou/src/input_parsers/acas_example/ACASXU_run2a_1_1_tiny.nnet")
    acas = read_nnet(zoo / ACAS_1_1)
    assert net.normalization.output_mean == acas.normalization.output_mean
    assert net.normalization.input_mean == acas.normalization.input_mean
    assert "legacy" in net.meta["warnings"][0]
