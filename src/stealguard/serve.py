"""``stealguard serve``: a model behind a real HTTP prediction API (the ``stealguard-predict/1`` protocol of
:mod:`stealguard.remote`, or with ``protocol="v2"`` the Open Inference Protocol v2 of KServe / Triton / MLServer:
``GET /v2/models/NAME``, ``POST /v2/models/NAME/infer``), to stand up realistic suspects in tests and demos.

The server uses only the standard library (``http.server`` with one thread per request). It validates every
request — JSON of bounded size, a known encoding, the model's input shape, at most ``max_batch`` images, finite
pixel values in [0, 1] — and answers a one-line ``{"error": ...}`` with HTTP 400/404/413 otherwise.

A text model (one that takes sentence embeddings) is served as a **text** API: ``/info`` says ``"input": "text"``
and ``/predict`` takes ``{"texts": [...]}`` — at most ``max_batch`` strings of at most 10,000 characters — which
the server embeds with the shared MiniLM encoder before the model sees them.

``output`` mimics API-side defences: ``probabilities``, ``rounded:K`` (probabilities rounded to K decimals) or
``top1`` (labels only). For robustness tests, ``fail_rate`` makes a seeded random share of predict requests fail
with HTTP 500 and ``delay`` slows every answer; ``answered`` counts how many times each image (by SHA-256) was
answered successfully.
"""

from __future__ import annotations

import base64
import collections
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from .access import open_access, parse_output
from .errors import ConfigError
from .protocols import PROTOCOL
from .remote import image_sha256, text_sha256

MAX_REQUEST_BYTES = 64 * 2**20
MAX_SENTENCE_CHARS = 10000


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that hung up mid-answer: not the server's problem
        pass


class PredictionServer:
    """Serve ``model`` (a Classifier, an OnnxModel or a path to a .safetensors / .onnx file) on ``host:port``
    (port 0: a free port). Use :meth:`start` (background thread) or :meth:`serve_forever`; :attr:`url` is the
    predict endpoint."""

    def __init__(self, model, host: str = "127.0.0.1", port: int = 0, output: str = "probabilities",
                 fail_rate: float = 0.0, delay: float = 0.0, seed: int = 0, max_batch: int = 1024,
                 protocol: str = "stealguard", model_name: str = "suspect", certfile: str | None = None,
                 keyfile: str | None = None):
        level, self.decimals = parse_output(output)
        if protocol not in ("stealguard", "v2"):
            raise ConfigError(f"protocol must be stealguard or v2, got {protocol!r}")
        if protocol == "v2" and level == "labels":
            raise ConfigError("a v2 model answers a tensor of scores: --output top1 needs --protocol stealguard")
        if not model_name or not all(c.isalnum() or c in "-_." for c in model_name):
            raise ConfigError(f"model name must be letters, digits, '-', '_' or '.', got {model_name!r}")
        self.protocol, self.model_name = protocol, model_name
        if not 0 <= fail_rate < 1:
            raise ConfigError(f"fail rate must be in [0, 1), got {fail_rate}")
        if delay < 0 or max_batch < 1:
            raise ConfigError("delay must be >= 0 and max batch >= 1")
        self.output = "top1" if level == "labels" else output
        self.access = open_access(model, level, output=None if level == "labels" else output)
        self.fail_rate, self.delay, self.max_batch = fail_rate, delay, max_batch
        self.text = len(self.access.input_shape) == 1
        if self.text and protocol == "v2":
            raise ConfigError("a text model is served with --protocol stealguard (v2 here takes image tensors)")
        if self.text:
            from .data.text import EMBEDDING_DIM

            if self.access.input_shape[0] != EMBEDDING_DIM:
                raise ConfigError(f"a model of {self.access.input_shape[0]}-d feature vectors is not a stealguard text "
                                  f"model (those take {EMBEDDING_DIM}-d MiniLM sentence embeddings): it cannot be served")
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self.answered: collections.Counter[str] = collections.Counter()
        self.requests = collections.Counter()
        self.httpd = _Server((host, port), self._handler())
        self.scheme = "http"
        if certfile:  # HTTPS with the given certificate (a self-signed one: clients need --insecure)
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                ctx.load_cert_chain(certfile, keyfile)
            except (OSError, ssl.SSLError) as e:
                self.httpd.server_close()
                raise ConfigError(f"cannot load the certificate {certfile}: {e}") from None
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The ``/predict`` URL the server listens on."""
        host, port = self.httpd.server_address[:2]
        if self.protocol == "v2":
            return f"{self.scheme}://{host}:{port}/v2/models/{self.model_name}"
        return f"{self.scheme}://{host}:{port}/predict"

    def v2_metadata(self) -> dict:
        """``GET /v2/models/NAME``: the model's one input tensor (FP32, N x C x H x W) and its probabilities."""
        return {"name": self.model_name, "versions": ["1"], "platform": "stealguard",
                "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, *self.access.input_shape]}],
                "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, self.access.num_classes]}]}

    def decode_v2(self, body: bytes) -> np.ndarray:
        """A v2 infer request -> float32 images (N, C, H, W); raises _BadRequest with a one-line reason."""
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise _BadRequest(400, "the request body is not JSON") from None
        inputs = obj.get("inputs") if isinstance(obj, dict) else None
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            raise _BadRequest(400, "the request needs 'inputs', a list of one tensor")
        t = inputs[0]
        shape = t.get("shape")
        if t.get("name") != "input" or t.get("datatype") != "FP32":
            raise _BadRequest(400, "the input tensor is 'input', datatype FP32")
        if not isinstance(shape, list) or len(shape) != 4 or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise _BadRequest(400, "the input shape must be [N, C, H, W]")
        if shape[0] > self.max_batch:
            raise _BadRequest(413, f"at most {self.max_batch} images per request, got {shape[0]}")
        try:
            x = np.asarray(t.get("data"), dtype=np.float32)
        except (ValueError, TypeError):
            raise _BadRequest(400, "the input data must be numbers") from None
        if x.size != int(np.prod(shape)):
            raise _BadRequest(400, f"the input holds {x.size} numbers, shape {shape} needs {int(np.prod(shape))}")
        x = x.reshape(shape)
        if tuple(x.shape[1:]) != tuple(self.access.input_shape):
            raise _BadRequest(400, f"images of shape {list(x.shape[1:])}, the model takes {list(self.access.input_shape)}")
        if not np.isfinite(x).all() or (x < 0).any() or (x > 1).any():
            raise _BadRequest(400, "pixel values must be finite and in [0, 1]")
        return x

    def info(self) -> dict:
        """The ``/info`` answer: protocol, input shape (or text input), number of classes and output kind."""
        if self.text:
            from .data.text import ENCODER

            shape = {"input": "text", "encoder": ENCODER}
        else:
            shape = {"input_shape": list(self.access.input_shape)}
        return {"protocol": PROTOCOL, **shape, "num_classes": self.access.num_classes, "output": self.output}

    def decode_texts(self, obj: dict) -> list[str]:
        """A text request -> its sentences; raises _BadRequest with a one-line reason."""
        texts = obj.get("texts")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise _BadRequest(400, "this is a text API: the request needs 'texts', a list of strings")
        if len(texts) > self.max_batch:
            raise _BadRequest(413, f"at most {self.max_batch} sentences per request, got {len(texts)}")
        if any(len(t) > MAX_SENTENCE_CHARS for t in texts):
            raise _BadRequest(413, f"sentences of at most {MAX_SENTENCE_CHARS} characters")
        return texts

    # ------------------------------------------------------------------ request handling
    def decode(self, body: bytes) -> np.ndarray:
        """A request body -> float32 images (N, C, H, W); raises _BadRequest with a one-line reason."""
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise _BadRequest(400, "the request body is not JSON") from None
        if not isinstance(obj, dict):
            raise _BadRequest(400, "the request must be a JSON object")
        if self.text:
            return self.decode_texts(obj)
        if "data" in obj:
            shape, dtype = obj.get("shape"), obj.get("dtype")
            if dtype not in ("float32", "uint8"):
                raise _BadRequest(400, "dtype must be float32 or uint8")
            if not isinstance(shape, list) or len(shape) != 4 or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise _BadRequest(400, "shape must be [N, C, H, W]")
            try:
                raw = base64.b64decode(obj["data"], validate=True)
            except (ValueError, TypeError):
                raise _BadRequest(400, "data is not base64") from None
            n_bytes = int(np.prod(shape)) * (4 if dtype == "float32" else 1)
            if len(raw) != n_bytes:
                raise _BadRequest(400, f"data holds {len(raw)} bytes, shape {shape} in {dtype} needs {n_bytes}")
            x = np.frombuffer(raw, dtype=np.float32 if dtype == "float32" else np.uint8).reshape(shape).copy()
            x = x.astype(np.float32) / 255.0 if dtype == "uint8" else x
        elif "images" in obj:
            try:
                x = np.asarray(obj["images"], dtype=np.float32)
            except (ValueError, TypeError):
                raise _BadRequest(400, "images must be a rectangular array of numbers") from None
            if x.ndim != 4:
                raise _BadRequest(400, f"images must be 4-D (N, C, H, W), got {x.ndim}-D")
        else:
            raise _BadRequest(400, "the request needs 'data' (with 'shape' and 'dtype') or 'images'")
        if tuple(x.shape[1:]) != tuple(self.access.input_shape):
            raise _BadRequest(400, f"images of shape {list(x.shape[1:])}, the model takes {list(self.access.input_shape)}")
        if len(x) > self.max_batch:
            raise _BadRequest(413, f"at most {self.max_batch} images per request, got {len(x)}")
        if not np.isfinite(x).all() or (x < 0).any() or (x > 1).any():
            raise _BadRequest(400, "pixel values must be finite and in [0, 1]")
        return x

    def predict(self, x) -> dict:
        """Answer decoded images (or, for a text API, sentences)."""
        with self._lock:  # one model call at a time
            if self.text:
                from .data.text import encode

                keys, x = [text_sha256(t) for t in x], encode(x, cache=False)
            else:
                keys = [image_sha256(img) for img in x]
            if self.output == "top1":
                out = {"labels": self.access.predict_labels(x).tolist()}
            else:
                out = {"probabilities": self.access.predict_proba(x).tolist()}
            for key in keys:
                self.answered[key] += 1
        return out

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: the audit is on the client's side
                pass

            def _send(self, status: int, obj: dict) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 - http.server's naming
                path = self.path.rstrip("/")
                if server.protocol == "v2":
                    model = f"/v2/models/{server.model_name}"
                    if path in ("/v2/health/ready", "/v2/health/live", model + "/ready"):
                        self._send(200, {"ready": True} if path.endswith("ready") else {"live": True})
                    elif path == model:
                        self._send(200, server.v2_metadata())
                    else:
                        self._send(404, {"error": f"unknown path: use GET {model} or POST {model}/infer"})
                elif path.endswith("/info"):
                    self._send(200, server.info())
                else:
                    self._send(404, {"error": "unknown path: use GET /info or POST /predict"})

            def do_POST(self):  # noqa: N802
                server.requests["predict"] += 1
                try:
                    v2 = server.protocol == "v2"
                    infer = f"/v2/models/{server.model_name}/infer"
                    if v2 and self.path.rstrip("/") != infer:
                        raise _BadRequest(404, f"unknown path: use POST {infer}")
                    if not v2 and not self.path.rstrip("/").endswith("/predict"):
                        raise _BadRequest(404, "unknown path: use POST /predict")
                    try:
                        length = int(self.headers.get("Content-Length", ""))
                    except ValueError:
                        raise _BadRequest(411, "Content-Length required") from None
                    if length > MAX_REQUEST_BYTES:
                        raise _BadRequest(413, f"request larger than {MAX_REQUEST_BYTES // 2**20} MiB")
                    body = self.rfile.read(length)
                    if server.delay:
                        time.sleep(server.delay)
                    with server._lock:
                        fail = server.fail_rate > 0 and server._rng.random() < server.fail_rate
                    if fail:
                        server.requests["failed"] += 1
                        raise _BadRequest(500, "injected failure")
                    if v2:
                        p = np.asarray(server.predict(server.decode_v2(body))["probabilities"], dtype=np.float32)
                        self._send(200, {"model_name": server.model_name, "outputs": [
                            {"name": "probabilities", "datatype": "FP32", "shape": list(p.shape), "data": p.ravel().tolist()}]})
                    else:
                        self._send(200, server.predict(server.decode(body)))
                except _BadRequest as e:
                    self._send(e.status, {"error": str(e)})
                except Exception as e:  # noqa: BLE001 - a server error is one line, never a traceback
                    self._send(500, {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})

        return Handler

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "PredictionServer":
        """Serve in a background thread; return self."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted, then close the socket."""
        try:
            self.httpd.serve_forever()
        finally:
            self.httpd.server_close()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
