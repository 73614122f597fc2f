"""The channel softmax of an exported graph is rewritten element-wise without changing its output,
and the shipped models carry the rewritten form."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the graph rewrite needs the onnx package (train extra)")
ort = pytest.importorskip("onnxruntime")


def _softmax_model(opset: int) -> bytes:
    """A graph whose output is Softmax(x * w) over the channel axis of (1, 3, 5, 7)."""
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [1.0, 40.0, -3.0])
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "w"], ["z"]),
            helper.make_node("Softmax", ["z"], ["prob"], axis=1),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 7])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 3, 5, 7])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _two_softmax_model(opset: int, axis: int) -> bytes:
    """Two Softmax nodes over ``axis``, one of whose tensors already bears a rewrite's name."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Softmax", ["x"], ["softmax0_max"], axis=axis),
            helper.make_node("Softmax", ["softmax0_max"], ["prob"], axis=axis),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 7])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 3, 5, 7])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


@pytest.mark.parametrize(("opset", "axis"), [(17, -1), (18, 1), (21, -3)])
def test_several_softmax_nodes_any_axis_and_taken_names(opset: int, axis: int) -> None:
    from sonomsk.training.graph import explicit_softmax

    before = _two_softmax_model(opset, axis)
    model = onnx.load_from_string(before)
    assert explicit_softmax(model) == 2
    x = np.random.default_rng(1).normal(0, 3, (1, 3, 5, 7)).astype(np.float32)
    np.testing.assert_allclose(_run(model.SerializeToString(), x), _run(before, x), atol=1e-6)


def test_models_it_cannot_rewrite_are_refused_with_a_reason() -> None:
    from sonomsk.training.graph import explicit_softmax

    old = onnx.load_from_string(_softmax_model(13))
    old.opset_import[0].version = 11
    with pytest.raises(ValueError, match="opset 11"):
        explicit_softmax(old)
    foreign = onnx.load_from_string(_softmax_model(13))
    foreign.opset_import[0].domain = "com.example"
    with pytest.raises(ValueError, match="no default"):
        explicit_softmax(foreign)


def _run(model: bytes, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return np.asarray(s.run(None, {"x": x})[0])


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_rewritten_softmax_gives_the_same_probabilities(opset: int) -> None:
    from sonomsk.training.graph import explicit_softmax

    before = _softmax_model(opset)
    model = onnx.load_from_string(before)
    assert explicit_softmax(model) == 1
    assert "Softmax" not in {n.op_type for n in model.graph.node}
    x = np.random.default_rng(0).normal(0, 3, (1, 3, 5, 7)).astype(np.float32)
    # large logits (x * 40 reaches ~400): exp without the max subtracted would overflow to inf
    got, want = _run(model.SerializeToString(), x), _run(before, x)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)


def test_the_command_rewrites_a_file_and_refuses_a_corrupt_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sonomsk.training.graph import main

    src, dst = tmp_path / "m.onnx", tmp_path / "out.onnx"
    src.write_bytes(_softmax_model(17))
    assert main([str(src), str(dst)]) == 0
    assert "Softmax" not in {n.op_type for n in onnx.load(str(dst)).graph.node}
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main([str(bad), str(tmp_path / "never.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1
    assert not (tmp_path / "never.onnx").exists()


@pytest.mark.parametrize("name", ["nerve_unet", "nerve_refine"])
def test_shipped_models_carry_the_element_wise_softmax(name: str) -> None:
    ref = resources.files("sonomsk.vision").joinpath(f"models/{name}.onnx")
    ops = {n.op_type for n in onnx.load_from_string(ref.read_bytes()).graph.node}
    assert "Softmax" not in ops and {"ReduceMax", "Exp", "ReduceSum", "Div"} <= ops
