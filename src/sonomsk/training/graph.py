"""Rewrite an exported ONNX graph's channel softmax as plain element-wise operations.

onnxruntime's ``Softmax`` over the channel axis of an (N, C, H, W) tensor works by transposing
the tensor to put that axis last and back again: for the whole-frame model's 3 x 256 x 256
output it took 4.6 of the 30 ms of a run on the 2-core development machine (onnxruntime's
profiler). The same function written as ``exp(z - max_c z) / sum_c exp(z - max_c z)``
(``ReduceMax``, ``Sub``, ``Exp``, ``ReduceSum``, ``Div``) runs element-wise and gives the same
probabilities to within 1e-7 (``docs/benchmarks.md``, the speed section, has the measurement).

:func:`sonomsk.training.train_nerve.export_onnx` applies it to every export; the command
rewrites a model already exported (how the shipped models were rewritten, weights untouched)::

    python -m sonomsk.training.graph IN.onnx OUT.onnx
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _names(graph: Any) -> set[str]:
    """Every tensor and node name of ``graph`` (not of its subgraphs)."""
    names = {t.name for t in (*graph.input, *graph.output, *graph.value_info, *graph.initializer)}
    for node in graph.node:
        names.update((*node.input, *node.output, node.name))
    return names


def explicit_softmax(model: Any) -> int:
    """Replace, in place, every ``Softmax`` node of an ONNX ``ModelProto``'s main graph (not
    inside If or Loop bodies, which exported U-Nets do not have) by the element-wise form over the
    same axis; returns how many were replaced. Raises ValueError for a model without the default
    opset or with one before 13 (whose Softmax flattens its input)."""
    import onnx
    from onnx import helper

    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise ValueError("the model imports no default (ai.onnx) opset")
    taken = _names(graph)
    nodes = list(graph.node)
    replaced = 0
    for node in nodes:
        if node.op_type != "Softmax":
            continue
        if opset < 13:
            raise ValueError(f"opset {opset}: Softmax before opset 13 flattens its input; not rewritten")
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
        z, out = node.input[0], node.output[0]
        tag = f"softmax{replaced}"
        while any(n.startswith(tag + "_") for n in taken):  # new names must not meet old ones
            tag += "_"
        axes = f"{tag}_axes"
        graph.initializer.append(helper.make_tensor(axes, onnx.TensorProto.INT64, [1], [axis]))
        if opset >= 18:  # ReduceMax takes its axes as an input from opset 18
            reduce_max = helper.make_node("ReduceMax", [z, axes], [f"{tag}_max"], keepdims=1)
        else:
            reduce_max = helper.make_node("ReduceMax", [z], [f"{tag}_max"], axes=[axis], keepdims=1)
        new = [
            reduce_max,
            helper.make_node("Sub", [z, f"{tag}_max"], [f"{tag}_shifted"]),
            helper.make_node("Exp", [f"{tag}_shifted"], [f"{tag}_exp"]),
            helper.make_node("ReduceSum", [f"{tag}_exp", axes], [f"{tag}_sum"], keepdims=1),
            helper.make_node("Div", [f"{tag}_exp", f"{tag}_sum"], [out]),
        ]
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for i, n in enumerate(new):
            graph.node.insert(at + i, n)
        taken.update(f"{tag}_{part}" for part in ("axes", "max", "shifted", "exp", "sum"))
        replaced += 1
    onnx.checker.check_model(model)
    return replaced


def rewrite_file(src: Path, dst: Path) -> int:
    """Read ``src``, rewrite its softmax nodes (:func:`explicit_softmax`), write ``dst``."""
    import onnx

    model = onnx.load(str(src))
    n = explicit_softmax(model)
    onnx.save(model, str(dst))
    return n


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sonomsk.training.graph", description=__doc__.split("\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    args = ap.parse_args(argv)
    try:
        n = rewrite_file(args.src, args.dst)
    except Exception as exc:  # a missing, corrupt or invalid model: one line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.dst}: {n} softmax node(s) rewritten")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
