"""The lean ONNX read (io/onnx/lean.py): initializers read straight from the file equal onnx's own decoding, the
skeleton keeps everything else, and anything it cannot follow keeps its data in the model (read as before)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from lumpcheck.io import load_model
from lumpcheck.io.onnx.lean import NotLean, Widened, lean_load


def _model(tensors: list[onnx.TensorProto]) -> onnx.ModelProto:
    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.metadata_props.add(key="k", value="v")
    return model


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.int32]),
                          st.lists(st.integers(0, 5), min_size=0, max_size=3)), min_size=1, max_size=5),
       st.integers(0, 2**32))
def test_lean_arrays_equal_onnx_decoding(tmp_path_factory, specs, seed):
    rng = np.random.default_rng(seed)
    tensors = [numpy_helper.from_array((rng.normal(size=dims) * 100).astype(t), f"t{i}") for i, (t, dims) in
               enumerate(specs)]
    path = tmp_path_factory.mktemp("lean") / "m.onnx"
    onnx.save(_model(tensors), path)
    model, arrays = lean_load(path)
    reference = onnx.load(path)
    assert [i.name for i in model.graph.initializer] == [t.name for t in tensors]
    for init, ref, arr in zip(model.graph.initializer, reference.graph.initializer, arrays):
        assert arr is not None and init.raw_data == b""  # read from the file, left out of the skeleton
        expected = numpy_helper.to_array(ref)
        assert arr.dtype == expected.dtype and arr.shape == expected.shape and np.array_equal(arr, expected)
        assert list(init.dims) == list(ref.dims) and init.data_type == ref.data_type
    assert model.metadata_props[0].value == "v" and model.graph.node[0].op_type == "Identity"


def test_typed_data_stays_in_the_model(tmp_path):
    """A tensor stored as float_data (not raw_data) is left to onnx: no array, the data in the skeleton."""
    typed = helper.make_tensor("f", TensorProto.FLOAT, [2], [1.5, -2.0])
    raw = numpy_helper.from_array(np.array([3.0], np.float64), "d")
    path = tmp_path / "m.onnx"
    onnx.save(_model([typed, raw]), path)
    model, arrays = lean_load(path)
    assert arrays[0] is None and list(model.graph.initializer[0].float_data) == [1.5, -2.0]
    assert arrays[1].tolist() == [3.0]


def test_size_mismatch_stays_in_the_model(tmp_path):
    """raw_data shorter than its dims: lean leaves it to onnx (whose decoding error the reader reports)."""
    bad = numpy_helper.from_array(np.ones(4, np.float32), "w")
    bad.dims[:] = [5]
    path = tmp_path / "m.onnx"
    onnx.save(_model([bad]), path)
    model, arrays = lean_load(path)
    assert arrays == [None] and len(model.graph.initializer[0].raw_data) == 16


def test_truncated_file_is_not_lean(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_model([numpy_helper.from_array(np.ones((8, 8), np.float32), "w")]), path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(NotLean, match="runs past"):
        lean_load(path)


def test_reader_results_are_the_same_either_way(tmp_path, monkeypatch):
    """load_model on a small MLP: the lean read and onnx.load give identical networks."""
    from lumpcheck.io import save_model
    from lumpcheck.ir.activation import IDENTITY, Activation
    from lumpcheck.ir.network import Layer, Network

    rng = np.random.default_rng(0)
    net = Network([Layer(rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=6).astype(np.float32),
                         Activation("relu")),
                   Layer(rng.normal(size=(2, 6)).astype(np.float32), np.zeros(2, np.float32), IDENTITY)])
    path = tmp_path / "m.onnx"
    save_model(net, path, dtype="float32")
    lean = load_model(path)
    import lumpcheck.io.onnx.read as read

    def refuse(p):
        raise NotLean("test")

    monkeypatch.setattr(read, "lean_load", refuse)
    plain = load_model(path)
    for a, b in zip(lean.layers, plain.layers):
        assert np.array_equal(a.stored_weight, b.stored_weight) and np.array_equal(a.stored_bias, b.stored_bias)
        assert a.stored_weight.dtype == b.stored_weight.dtype


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=2, max_size=4), st.sampled_from(["float32", "float64"]),
       st.integers(0, 2**32))
def test_written_file_passes_onnx_full_check_and_holds_the_arrays(tmp_path_factory, widths, dtype, seed):
    """The writer splices each weight's bytes into the file (lean.with_raw_data) and checks a skeleton: the file
    itself passes onnx's full check and decodes to the written values (empty layers included)."""
    from lumpcheck.io import save_model
    from lumpcheck.ir.activation import IDENTITY, Activation
    from lumpcheck.ir.network import Layer, Network

    rng = np.random.default_rng(seed)
    widths = [max(1, widths[0])] + widths[1:-1] + [max(1, widths[-1])]
    layers = [Layer(rng.normal(size=(m, n)).astype(np.float32), rng.normal(size=m).astype(np.float32),
                    IDENTITY if k == len(widths) - 2 else Activation("relu"))
              for k, (n, m) in enumerate(zip(widths, widths[1:]))]
    path = tmp_path_factory.mktemp("write") / "m.onnx"
    save_model(Network(layers), path, dtype=dtype)
    onnx.checker.check_model(str(path), full_check=True)
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    for k, layer in enumerate(layers):
        assert inits[f"layer{k}.weight"].dtype == np.dtype(dtype)
        assert np.array_equal(inits[f"layer{k}.weight"], layer.stored_weight)
        assert np.array_equal(inits[f"layer{k}.bias"], layer.stored_bias)


def test_external_data_is_read_next_to_the_model_not_the_cwd(tmp_path, monkeypatch):
    """A model with external data is left to onnx.load, which resolves the data file next to the model: a file of
    the same name in the working directory must never be read in its place (the skeleton would resolve it there)."""
    model_dir, cwd = tmp_path / "model", tmp_path / "cwd"
    model_dir.mkdir(), cwd.mkdir()
    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    path = model_dir / "m.onnx"
    onnx.save(_model([numpy_helper.from_array(weights, "w")]), path, save_as_external_data=True,
              all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    (cwd / "w.bin").write_bytes((weights + 100).tobytes())
    monkeypatch.chdir(cwd)
    with pytest.raises(NotLean):
        lean_load(path)


def test_two_graph_fields_are_not_lean(tmp_path):
    """protobuf merges a repeated `graph` field; the lean read refuses rather than pair arrays with initializers."""
    path = tmp_path / "m.onnx"
    onnx.save(_model([numpy_helper.from_array(np.ones(2, np.float32), "w")]), path)
    data = path.read_bytes()
    extra = onnx.ModelProto(graph=onnx.GraphProto(initializer=[numpy_helper.from_array(np.zeros(2, np.float32), "v")]))
    path.write_bytes(data + extra.SerializeToString())
    merged = onnx.load(path)
    assert [i.name for i in merged.graph.initializer] == ["w", "v"]
    with pytest.raises(NotLean):
        lean_load(path)


def test_widened_raw_data_is_the_wider_arrays_bytes_block_by_block(monkeypatch):
    """A float32 array written as float64 is converted in blocks (peak memory): the bytes are exactly those of the
    whole float64 copy, across block boundaries and for a partial last block; narrowing (rounding) is refused."""
    monkeypatch.setattr(Widened, "BLOCK", 7)
    values = np.random.default_rng(3).normal(size=(5, 6)).astype(np.float32)
    values[0, 0], values[1, 1] = np.float32(1e-45), -np.finfo(np.float32).max  # a subnormal, the largest magnitude
    wide = Widened(values, np.dtype(np.float64))
    data = b"".join(bytes(b) for b in wide.blocks())
    assert wide.nbytes == len(data) == values.size * 8
    assert data == values.astype("<f8").tobytes()
    with pytest.raises(ValueError, match="without rounding"):
        Widened(values.astype(np.float64), np.dtype(np.float32))
