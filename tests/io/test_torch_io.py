"""PyTorch reading and writing: exact weights, activations, state_dicts, safe loading, honest rounding."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lumpcheck.errors import LumpcheckError, ModelFormatError, UnsupportedModelError
from lumpcheck.ir.activation import Activation
from lumpcheck.ir.network import Layer, Network, evaluate_float

torch = pytest.importorskip("torch")

from lumpcheck.io.torch import parse_activation, read_torch, save_torch, to_torch  # noqa: E402

nn = torch.nn
ZOO = Path(__file__).parents[2].parent / "shared" / "zoo"


def mixed_model(dtype=torch.float32) -> "nn.Sequential":
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(4, 6, dtype=dtype),
        nn.LeakyReLU(0.1),
        nn.Dropout(0.5),
        nn.Sequential(nn.Linear(6, 5, dtype=dtype), nn.Tanh(), nn.Identity()),
        nn.Linear(5, 3, dtype=dtype),
        nn.Sigmoid(),
        nn.Linear(3, 2, bias=False, dtype=dtype),
    ).eval()


def linears(model) -> list:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def test_sequential_weights_are_exact_and_activations_mapped() -> None:
    model = mixed_model()
    net = read_torch(model)
    assert net.widths == [4, 6, 5, 3, 2]
    assert [str(layer.activation) for layer in net.layers][1:] == ["tanh", "sigmoid", "identity"]
    for layer, linear in zip(net.layers, linears(model)):
        assert np.array_equal(layer.weight, linear.weight.detach().numpy().astype(np.float64))
    assert not net.layers[-1].bias.any()  # bias=False reads as zeros
    assert net.meta["dtype"] == "float32"
    x = np.random.default_rng(1).standard_normal((20, 4))
    want = model(torch.tensor(x, dtype=torch.float64).float()).detach().numpy()
    assert np.allclose(evaluate_float(net, x.astype(np.float32).astype(np.float64)), want, atol=1e-5)


def test_leaky_slope_is_the_value_the_kernel_uses() -> None:
    """torch casts negative_slope to the tensor dtype: float32(0.1) for a float32 model, 0.1 for float64."""
    net32, net64 = read_torch(mixed_model()), read_torch(mixed_model(torch.float64))
    assert net32.layers[0].activation.alpha == Fraction(float(np.float32(0.1)))
    assert net64.layers[0].activation.alpha == Fraction(0.1)
    x = torch.tensor([[-1.0, 2.0, -3.0, 0.5]], dtype=torch.float64)
    exact_out = evaluate_float(net64, x.numpy())
    assert np.allclose(exact_out, mixed_model(torch.float64)(x).detach().numpy(), rtol=1e-12, atol=1e-14)


def test_state_dict_with_activation_list_or_module() -> None:
    model = mixed_model()
    state = model.state_dict()
    from_list = read_torch(state, ["leaky_relu(13421773/134217728)", "tanh", "sigmoid", "linear"])
    fresh = mixed_model()
    for p in fresh.parameters():
        p.data.zero_()
    from_module = read_torch(state, fresh)
    reference = read_torch(model)
    for net in (from_list, from_module):
        assert [str(l.activation) for l in net.layers] == [str(l.activation) for l in reference.layers]
        assert all(np.array_equal(a.weight, b.weight) for a, b in zip(net.layers, reference.layers))


def test_state_dict_needs_an_architecture() -> None:
    with pytest.raises(ModelFormatError, match="architecture"):
        read_torch(mixed_model().state_dict())
    with pytest.raises(ModelFormatError, match="4 Linear layers but 2 activations"):
        read_torch(mixed_model().state_dict(), ["relu", "relu"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script, used to make a TorchScript file
def test_files_are_loaded_weights_only(tmp_path: Path) -> None:
    model = mixed_model()
    state_file, full_file, script_file = tmp_path / "w.pt", tmp_path / "full.pt", tmp_path / "script.pt"
    torch.save(model.state_dict(), state_file)
    torch.save(model, full_file)
    torch.jit.script(model).save(str(script_file))
    assert read_torch(state_file, mixed_model()).widths == [4, 6, 5, 3, 2]
    with pytest.raises(ModelFormatError, match="state_dict"):
        read_torch(full_file)
    with pytest.raises(ModelFormatError, match="TorchScript"):
        read_torch(script_file)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelFormatError, match="not a readable PyTorch file"):
        read_torch(tmp_path / "junk.pt")


def test_checkpoint_dict_holding_a_state_dict(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    torch.save({"state_dict": [model.state_dict()], "epoch": 3}, tmp_path / "ckpt.pth")
    assert read_torch(tmp_path / "ckpt.pth", ["relu", "identity"]).widths == [3, 2, 1]


@pytest.mark.parametrize(
    "model, where",
    [
        (nn.Sequential(nn.Linear(3, 2), nn.Softmax(dim=1)), "module 1 (Softmax)"),
        (nn.Sequential(nn.ReLU(), nn.Linear(3, 2)), "module 0 (ReLU)"),
        (nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Tanh()), "module 2 (Tanh)"),
    ],
)
def test_unsupported_modules_are_named(model, where: str) -> None:
    with pytest.raises(UnsupportedModelError) as e:
        read_torch(model)
    assert e.value.where == where


def test_conv_checkpoint_from_the_zoo_is_refused() -> None:
    path = ZOO / "vnncomp2021" / "benchmarks" / "oval21" / "nets" / "cifar_base_kw.pth"
    if not path.is_file():
        pytest.skip("../shared/zoo not found: zoo acceptance tests need the shared model zoo beside the repo")
    with pytest.raises(UnsupportedModelError, match=r"'0\.weight' \(shape \(8, 3, 4, 4\)\)"):
        read_torch(path, ["relu"] * 4)


def test_to_torch_reports_rounding_and_round_trips(tmp_path: Path) -> None:
    third = np.array([[Fraction(1, 3), Fraction(1, 2)]], dtype=object)
    leaky = Activation("leaky_relu", Fraction(1, 4))
    net = Network([Layer(third, np.array([0.25]), leaky), Layer(np.ones((1, 1)), np.zeros(1))])
    module, report = to_torch(net, "float32")
    assert (report.total, report.rounded) == (6, 1)
    assert module[0].weight[0, 0].item() == float(np.float32(1 / 3))
    _, report64 = to_torch(net, "float64")
    assert report64.rounded == 1 and report64.max_abs_change < Fraction(1, 2**54)
    save_torch(net, tmp_path / "net.pt")
    back = read_torch(tmp_path / "net.pt")  # self-describing: no architecture needed
    assert back.layers[0].activation == Activation("leaky_relu", Fraction(1, 4))
    assert back.layers[0].weight[0, 0] == float(np.float32(1 / 3))
    assert np.array_equal(read_torch(module).layers[0].weight, back.layers[0].weight)


def test_parse_activation_forms() -> None:
    assert parse_activation("ReLU") == Activation("relu")
    assert parse_activation("linear") == Activation("identity")
    assert parse_activation("leaky_relu(0.2)").alpha == Fraction(1, 5)  # an explicit slope is exact as written
    assert parse_activation("leaky_relu", "float32").alpha == Fraction(float(np.float32(0.01)))
    with pytest.raises(UnsupportedModelError, match="bad activation"):
        parse_activation("gelu")


def test_core_package_never_imports_torch() -> None:
    code = "import sys, lumpcheck, lumpcheck.io, lumpcheck.io.torch, lumpcheck.epsilon.approx; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_torch_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(LumpcheckError, match=r"lumpcheck\[torch\]"):
        read_torch("model.pt")
