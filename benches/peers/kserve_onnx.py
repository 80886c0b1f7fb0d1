"""KServe's side of infergate's predictor benchmark: an ONNX model behind kserve.ModelServer.

A `kserve.Model` subclass that serves one ONNX file through Python onnxruntime over the Open
Inference Protocol (V2) REST API, `POST /v2/models/{name}/infer` with JSON tensors. It is what a
KServe user writes for a custom ONNX predictor, set up fairly:

* loopback only: kserve 0.21's RESTServer hard-codes host "0.0.0.0" in its uvicorn.Config; we
  patch RESTServer.__init__ at run time to bind --host (127.0.0.1 by default) instead. With
  --workers > 1 the parent binds the socket from that same config and hands it to the children.
* --workers uvicorn processes. With more than one, kserve starts them with multiprocessing's
  "spawn" and pickles the model into each child: an onnxruntime session can't be pickled, so
  __getstate__ drops it and __setstate__ reopens it in the child.
* per-request logging off (uvicorn's access log, kserve.trace's two timing lines and its latency
  line: four lines per inference by default), as infergate logs nothing per request; and no gRPC
  server, so the HTTP path is all that runs. --request_logs true keeps KServe's defaults.
* --intra_op_threads onnxruntime threads per session (default 1: on a small box each worker is
  one process, and more threads per process only fight over the same cores).

Run with the bench venv (benches/peers/setup.sh):
  python benches/peers/kserve_onnx.py --model_name iris --model_path examples/models/iris.onnx \
      --http_port 8080 --workers 2
Ready when GET /v2/models/iris/ready answers 200.
"""

import argparse
import atexit
import copy
import json
import os
import tempfile
import uuid

import numpy as np
import onnxruntime as ort

import kserve
from kserve import InferOutput, InferRequest, InferResponse, ModelServer, model_server
from kserve.errors import InvalidInput
from kserve.logging import KSERVE_LOG_CONFIG
from kserve.protocol.rest.server import RESTServer
from kserve.utils.numpy_codec import from_np_dtype

# ONNX type strings (as onnxruntime reports them) -> numpy dtypes, for casting request inputs.
ONNX_TO_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


class OnnxModel(kserve.Model):
    """One ONNX file served through an onnxruntime InferenceSession."""

    def __init__(self, name: str, model_path: str, intra_op_threads: int):
        super().__init__(name)
        self.model_path = model_path
        self.intra_op_threads = intra_op_threads
        self._session = None
        self._input_dtypes = {}
        self._output_names = []

    def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            self.model_path, options, providers=["CPUExecutionProvider"]
        )
        self._input_dtypes = {
            i.name: ONNX_TO_NUMPY.get(i.type) for i in self._session.get_inputs()
        }
        self._output_names = [o.name for o in self._session.get_outputs()]
        self.ready = True
        return self.ready

    # Pickled into each uvicorn worker when --workers > 1: sessions don't pickle, so reopen.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_session"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.load()

    def predict(self, payload, headers=None) -> InferResponse:
        if not isinstance(payload, InferRequest):
            raise InvalidInput("this model serves the V2 protocol only")
        feeds = {}
        for tensor in payload.inputs:
            if tensor.name not in self._input_dtypes:
                raise InvalidInput(
                    f"unknown input {tensor.name!r}; expected {sorted(self._input_dtypes)}"
                )
            array = tensor.as_numpy()
            dtype = self._input_dtypes[tensor.name]
            feeds[tensor.name] = array if dtype is None else array.astype(dtype, copy=False)
        results = self._session.run(self._output_names, feeds)
        outputs = []
        for name, array in zip(self._output_names, results):
            array = np.asarray(array)
            output = InferOutput(
                name=name, shape=list(array.shape), datatype=from_np_dtype(array.dtype)
            )
            output.set_data_from_numpy(array, binary_data=False)
            outputs.append(output)
        return InferResponse(
            response_id=payload.id or str(uuid.uuid4()),
            model_name=self.name,
            infer_outputs=outputs,
        )


def force_host(host: str) -> None:
    """Makes every RESTServer bind `host`."""
    original_init = RESTServer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        # The same uvicorn.Config object is used by the server; with --workers > 1 the parent
        # binds the socket from it and hands the bound socket to the children.
        self.config.host = host

    RESTServer.__init__ = init


def quiet_request_logs() -> None:
    """Configures KServe's logging (here and in every spawned worker) without per-request lines.

    Workers re-run kserve.logging.configure_logging(args.log_config_file) when they start, so the
    config must be a file: KServe's own default with the two per-request loggers at WARNING.
    """
    config = copy.deepcopy(KSERVE_LOG_CONFIG)
    config["loggers"]["kserve.trace"]["level"] = "WARNING"
    config["loggers"]["uvicorn.access"]["level"] = "WARNING"
    fd, path = tempfile.mkstemp(prefix="kserve-onnx-logging-", suffix=".json")
    with os.fdopen(fd, "w") as file:
        json.dump(config, file)
    atexit.register(os.remove, path)
    model_server.args.log_config_file = path


def main() -> None:
    parser = argparse.ArgumentParser(parents=[model_server.parser], conflict_handler="resolve")
    parser.add_argument("--model_path", required=True, help="the .onnx file to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument(
        "--intra_op_threads", type=int, default=1, help="onnxruntime threads per session"
    )
    parser.add_argument(
        "--request_logs",
        type=lambda x: x.lower() in ("1", "true", "yes"),
        default=False,
        help="keep KServe's per-request log lines (default false)",
    )
    args, _ = parser.parse_known_args()

    force_host(args.host)
    if not args.request_logs:
        quiet_request_logs()
    model = OnnxModel(args.model_name, args.model_path, args.intra_op_threads)
    model.load()
    ModelServer(
        http_port=args.http_port,
        workers=args.workers,
        enable_grpc=False,
        enable_latency_logging=args.request_logs,
    ).start([model])


if __name__ == "__main__":
    main()
