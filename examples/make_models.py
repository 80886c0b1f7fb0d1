#!/usr/bin/env python3
"""Generates infergate's example models, their reference outputs and the example request bodies.

    scripts/setup.sh --python && "${INFERGATE_HOME:-$HOME/.local/share/infergate}/venv/bin/python" \
        examples/make_models.py [--check]

Writes (paths relative to examples/):
  models/iris.onnx        scikit-learn LogisticRegression on the iris data set, via skl2onnx
  models/mlp.onnx         784-512-512-10 ReLU MLP with seeded He-initialised weights, via onnx.helper
  reference/iris.json     inputs and outputs computed by onnxruntime (Python) for a few cases
  reference/mlp.json
  requests/*.json         KServe V1 and Open Inference Protocol (V2) request bodies

Everything is deterministic: a second run rewrites nothing (files whose bytes are unchanged are
not touched). `--check` writes nothing and exits 1 when a file would change.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

EXAMPLES = Path(__file__).resolve().parent
ORT_VERSION = "1.32.0"
# Opset 15 / IR 8 load in every ONNX Runtime the gateway accepts (ort's api-22 means ORT >= 1.22).
OPSET = 15
ML_OPSET = 1
IR_VERSION = 8
PRODUCER = "infergate examples/make_models.py"

# The two flowers of requests/iris-v{1,2}.json (the input of KServe's sklearn-iris sample).
IRIS_REQUEST_ROWS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]
# The sentences of requests/minilm-v{1,2}.json: the first two of reference/minilm-embeddings.json.
MINILM_SENTENCES = ["A man is eating food.", "A man is riding a horse."]
MLP_DIMS = [784, 512, 512, 10]
MLP_WEIGHT_SEED = 20261123
MLP_INPUT_SEED = 7
MLP_BATCHES = [1, 7, 64]


# === iris ===


def make_iris() -> tuple[bytes, dict]:
    features, labels = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000, random_state=0).fit(features, labels)
    model = convert_sklearn(
        clf,
        name="iris",
        initial_types=[("input", FloatTensorType([None, 4]))],
        options={id(clf): {"zipmap": False}},
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
    )
    # skl2onnx lists the default domain twice; keep one entry per domain.
    seen = {}
    for entry in model.opset_import:
        seen.setdefault(entry.domain, entry.version)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in seen.items())
    model.ir_version = IR_VERSION
    model.doc_string = (
        "LogisticRegression(max_iter=1000, random_state=0) fitted on scikit-learn's iris data set "
        "(classes 0 setosa, 1 versicolor, 2 virginica); made by examples/make_models.py"
    )
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString(deterministic=True)

    session = new_session(data)
    dataset = features.astype(np.float32)
    cases = []
    for name, rows in [
        ("dataset", dataset),
        ("setosa-row-0", dataset[0:1]),
        ("versicolor-row-50", dataset[50:51]),
        ("virginica-row-100", dataset[100:101]),
        ("requests-iris", np.array(IRIS_REQUEST_ROWS, dtype=np.float32)),
    ]:
        label, probabilities = session.run(["label", "probabilities"], {"input": rows})
        cases.append(
            case(name, {"input": rows}, {"label": label, "probabilities": probabilities})
        )

    # The converted model must agree with scikit-learn itself.
    label, probabilities = session.run(None, {"input": dataset})
    expected = clf.predict(dataset.astype(np.float64))
    if not np.array_equal(label, expected):
        sys.exit("iris.onnx labels differ from scikit-learn's predict()")
    if not np.allclose(probabilities, clf.predict_proba(dataset.astype(np.float64)), atol=1e-5):
        sys.exit("iris.onnx probabilities differ from scikit-learn's predict_proba()")
    return data, reference("iris", cases)


# === mlp ===


def mlp_weights() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(MLP_WEIGHT_SEED)
    layers = []
    for fan_in, fan_out in zip(MLP_DIMS, MLP_DIMS[1:]):
        # He initialisation for ReLU; small random biases so that the Add nodes matter.
        weight = rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / fan_in)
        bias = rng.standard_normal(fan_out) * 0.01
        layers.append((weight.astype(np.float32), bias.astype(np.float32)))
    return layers


def mlp_inputs() -> list[np.ndarray]:
    """Pixel-like inputs k/256 (k in 0..255): exact in FP32 and short in JSON."""
    rng = np.random.default_rng(MLP_INPUT_SEED)
    return [
        (rng.integers(0, 256, size=(batch, MLP_DIMS[0])) / 256.0).astype(np.float32)
        for batch in MLP_BATCHES
    ]


def make_mlp() -> tuple[bytes, dict, np.ndarray]:
    layers = mlp_weights()
    nodes, initializers = [], []
    current = "input"
    for i, (weight, bias) in enumerate(layers, start=1):
        last = i == len(layers)
        initializers += [
            numpy_helper.from_array(weight, f"fc{i}.weight"),
            numpy_helper.from_array(bias, f"fc{i}.bias"),
        ]
        nodes += [
            helper.make_node(
                "MatMul", [current, f"fc{i}.weight"], [f"fc{i}.matmul"], f"fc{i}/MatMul"
            ),
            helper.make_node(
                "Add", [f"fc{i}.matmul", f"fc{i}.bias"], ["logits" if last else f"fc{i}.out"],
                f"fc{i}/Add",
            ),
        ]
        if not last:
            nodes.append(helper.make_node("Relu", [f"fc{i}.out"], [f"relu{i}"], f"relu{i}"))
            current = f"relu{i}"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", MLP_DIMS[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", MLP_DIMS[-1]])],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name=PRODUCER,
        doc_string=(
            f"MLP {'-'.join(map(str, MLP_DIMS))} with ReLU, He-initialised weights from "
            f"numpy.random.default_rng({MLP_WEIGHT_SEED}); made by examples/make_models.py"
        ),
    )
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString(deterministic=True)

    session = new_session(data)
    cases = []
    inputs = mlp_inputs()
    for batch, rows in zip(MLP_BATCHES, inputs):
        (logits,) = session.run(["logits"], {"input": rows})
        # The graph must compute what it says: compare with a float64 NumPy forward pass.
        hidden = rows.astype(np.float64)
        for i, (weight, bias) in enumerate(layers, start=1):
            hidden = hidden @ weight.astype(np.float64) + bias.astype(np.float64)
            if i < len(layers):
                hidden = np.maximum(hidden, 0.0)
        if not np.allclose(logits, hidden, rtol=1e-4, atol=1e-4):
            sys.exit(f"mlp.onnx batch {batch} differs from the NumPy forward pass")
        cases.append(case(f"batch-{batch}", {"input": rows}, {"logits": logits}))
    return data, reference("mlp", cases), inputs[0]


# === reference vectors ===


def new_session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64"}


def tensor(array: np.ndarray) -> dict:
    datatype = DATATYPES.get(array.dtype)
    if datatype is None:
        sys.exit(f"no V2 datatype for {array.dtype}")
    if datatype == "FP32":
        # float(np.float32) is the exact value; Python writes the shortest decimal that reads
        # back as that double, so reading it as f64 or f32 gives the FP32 value bit for bit.
        data = [float(v) for v in array.reshape(-1)]
        if not all(math.isfinite(v) for v in data):
            sys.exit("non-finite value in a reference tensor")
    else:
        data = [int(v) for v in array.reshape(-1)]
    return {"datatype": datatype, "shape": list(array.shape), "data": data}


def case(name: str, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> dict:
    return {
        "name": name,
        "inputs": {k: tensor(v) for k, v in inputs.items()},
        "outputs": {k: tensor(v) for k, v in outputs.items()},
    }


def reference(model: str, cases: list[dict]) -> dict:
    return {"model": model, "source": f"onnxruntime {ort.__version__} (Python)", "cases": cases}


# === JSON layout ===


def to_json(value, indent: int = 0, row: int | None = None) -> str:
    """Indented JSON whose number lists stay compact: one line per innermost row of the shape."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        shape = value.get("shape")
        row_len = shape[-1] if isinstance(shape, list) and len(shape) > 1 and shape[-1] else None
        items = [
            f"{pad}{json.dumps(k)}: {to_json(v, indent + 1, row_len if k == 'data' else None)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list):
        if all(isinstance(v, (int, float, str)) for v in value):
            if row is None or len(value) <= row:
                return "[" + ", ".join(json.dumps(v) for v in value) + "]"
            lines = [
                ", ".join(json.dumps(v) for v in value[i : i + row])
                for i in range(0, len(value), row)
            ]
            return "[\n" + pad + (",\n" + pad).join(lines) + "\n" + "  " * indent + "]"
        items = [pad + to_json(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(value)


# === request bodies ===


def v2_request(name: str, datatype: str, shape: list[int], data: list) -> dict:
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}


def requests(mlp_row: np.ndarray) -> dict[str, dict]:
    flat_iris = [v for row in IRIS_REQUEST_ROWS for v in row]
    return {
        "iris-v1.json": {"instances": IRIS_REQUEST_ROWS},
        "iris-v2.json": v2_request("input", "FP32", [2, 4], flat_iris),
        "mlp-v2.json": v2_request(
            "input", "FP32", list(mlp_row.shape), [float(v) for v in mlp_row.reshape(-1)]
        ),
        "minilm-v1.json": {"instances": MINILM_SENTENCES},
        "minilm-v2.json": v2_request("text", "BYTES", [len(MINILM_SENTENCES)], MINILM_SENTENCES),
    }


# === main ===


def write(path: Path, data: bytes, check: bool) -> bool:
    """Writes atomically, and only when the bytes change. Returns whether they (would) change."""
    rel = path.relative_to(EXAMPLES)
    if path.exists() and path.read_bytes() == data:
        print(f"unchanged  {rel}")
        return False
    if check:
        print(f"DIFFERS    {rel}")
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"wrote      {rel} ({len(data)} bytes)")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file would change"
    )
    args = parser.parse_args()
    if ort.__version__ != ORT_VERSION:
        sys.exit(f"onnxruntime {ort.__version__} is installed, the references need {ORT_VERSION}")

    iris, iris_ref = make_iris()
    mlp, mlp_ref, mlp_row = make_mlp()
    files = {
        EXAMPLES / "models/iris.onnx": iris,
        EXAMPLES / "models/mlp.onnx": mlp,
        EXAMPLES / "reference/iris.json": (to_json(iris_ref) + "\n").encode(),
        EXAMPLES / "reference/mlp.json": (to_json(mlp_ref) + "\n").encode(),
    }
    for name, body in requests(mlp_row).items():
        files[EXAMPLES / "requests" / name] = (to_json(body) + "\n").encode()

    changed = [path for path, data in files.items() if write(path, data, args.check)]
    if args.check and changed:
        print(f"{len(changed)} file(s) differ from what make_models.py generates", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
