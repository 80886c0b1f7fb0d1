"""Writes the two tiny ONNX models of the batching tests (tests/it/batching.rs).

    "${INFERGATE_HOME:-$HOME/.local/share/infergate}/venv/bin/python" \
        predictor/tests/data/make_batching_models.py

- rowsum.onnx: input `x` FP32 [batch, width], both dimensions dynamic; outputs `sum` FP32
  [batch] (ReduceSum over axis 1) and `doubled` FP32 [batch, width] (x + x). Requests of
  different widths agree on the model's shape but cannot be concatenated.
- fixed.onnx: input `x` FP32 [2, 3] and output `y` FP32 [2, 3] (x + x): no dynamic batch
  dimension, so it can never be batched.

Deterministic (no weights, no randomness): a second run writes the same bytes.
"""

from pathlib import Path

from onnx import TensorProto, checker, helper

OPSET = 15
IR_VERSION = 8
HERE = Path(__file__).resolve().parent


def save(model, name):
    checker.check_model(model)
    (HERE / name).write_bytes(model.SerializeToString())
    print(f"wrote {HERE / name}")


def rowsum():
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["x", "axes"], ["sum"], "sum", keepdims=0),
            helper.make_node("Add", ["x", "x"], ["doubled"], "doubled"),
        ],
        "rowsum",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "width"])],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch"]),
            helper.make_tensor_value_info("doubled", TensorProto.FLOAT, ["batch", "width"]),
        ],
        initializer=[axes],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="infergate predictor/tests/data/make_batching_models.py",
    )


def fixed():
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"], "y")],
        "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="infergate predictor/tests/data/make_batching_models.py",
    )


if __name__ == "__main__":
    save(rowsum(), "rowsum.onnx")
    save(fixed(), "fixed.onnx")
