"""How stealguard talks to a prediction API: one protocol object per kind of API, each turning images into a request
and the API's answer into validated probabilities or labels. :class:`~stealguard.remote.HttpBackend` does the
transport (retries, rate limit, size cap, audit log, resume) the same way whatever the protocol.

* ``stealguard`` (:class:`StealguardProtocol`): ``GET <base>/info``, ``POST <base>/predict`` (what ``stealguard
  serve`` speaks; see :mod:`stealguard.remote`).
* ``json:FILE`` (:class:`JsonProtocol`): any JSON API, described by a small YAML file (where the images go in the
  request and how they are encoded, where the scores or the label are in the answer, headers with an API key read
  from the environment).
* ``tfserving`` (:class:`TfServingProtocol`): TensorFlow Serving's REST API (``GET /v1/models/NAME/metadata``,
  ``POST /v1/models/NAME:predict`` with ``instances``).
* ``v2`` (:class:`V2Protocol`): the Open Inference Protocol v2 of KServe, Triton, MLServer and TorchServe's v2 mode —
  ``GET /v2/models/NAME`` for the input tensor's name, datatype and shape and the output's class count, ``POST
  /v2/models/NAME/infer`` with FP32 tensors. The metadata cannot say whether the output holds probabilities or
  logits, so the caller must (``scores``): logits are turned into probabilities by a softmax and said so in the
  report, never validated or used as probabilities themselves.

Every answer is checked before use (:func:`validate_answer`): an object with the expected field, a rectangular
numeric array with one row per image and one column per declared class, finite probabilities in [0, 1] summing to 1,
integral labels in range. A violation raises :class:`~stealguard.errors.RemoteError` naming what was wrong.
"""

from __future__ import annotations

import base64
import json
import urllib.parse

import numpy as np

from .backend import SUM_TOLERANCE, parse_output, probability_problem
from .errors import ConfigError, RemoteError

PROTOCOL = "stealguard-predict/1"
PROTOCOLS = ("stealguard", "v2", "tfserving")


def encode_images(x: np.ndarray) -> bytes:
    """The ``/predict`` request body for float32 images ``x``: shape, dtype and base64 bytes."""
    a = np.ascontiguousarray(x, dtype=np.float32)
    return json.dumps({"shape": list(a.shape), "dtype": "float32", "data": base64.b64encode(a.tobytes()).decode()}).encode()


def sum_tolerance(output: str, k: int) -> float:
    """How far from 1 a row of a ``k``-class API's probabilities may sum: wider when it rounds to K decimals."""
    if output.startswith("rounded:"):
        return SUM_TOLERANCE + k * 0.5 * 10.0 ** -int(output.split(":", 1)[1])
    return SUM_TOLERANCE


def validate_answer(obj, n: int, k: int, kind: str, output: str = "probabilities") -> np.ndarray:
    """Check one decoded answer to ``n`` images of a ``k``-class API; return probabilities (N, K) or labels (N,)."""
    if not isinstance(obj, dict):
        raise RemoteError(f"the API answered a JSON {type(obj).__name__}, not an object")
    key = "probabilities" if kind == "probabilities" else "labels"
    if key not in obj:
        other = "labels" if key == "probabilities" else "probabilities"
        hint = f" (it answered {other}: verify with --access {'labels' if other == 'labels' else 'probabilities'})" if other in obj else ""
        raise RemoteError(f"the API's answer has no '{key}'{hint}")
    raw = obj[key]
    try:
        a = np.asarray(raw)
    except (ValueError, TypeError):
        a = np.asarray([], dtype=object)
    if a.dtype == object or a.dtype.kind not in "iuf" or a.dtype == bool:
        raise RemoteError(f"the API's {key} are not a rectangular array of numbers")
    if kind == "probabilities":
        if a.ndim != 2:
            raise RemoteError(f"the API's probabilities have {a.ndim} dimension(s), expected 2 (images x classes)")
        if a.shape[0] != n:
            raise RemoteError(f"the API answered {a.shape[0]} rows for {n} images")
        if a.shape[1] != k:
            raise RemoteError(f"the API answered {a.shape[1]} classes, it declared {k}")
        a = a.astype(np.float64)
        problem = probability_problem(a, sum_tolerance(output, k))
        if problem:
            raise RemoteError(f"the API's probabilities {problem}")
        return a
    if a.ndim != 1 or a.shape[0] != n:
        raise RemoteError(f"the API answered labels of shape {a.shape} for {n} images")
    if a.dtype.kind == "f":
        if not np.isfinite(a).all() or (a != np.round(a)).any():
            raise RemoteError("the API's labels are not integers")
    a = a.astype(np.int64)
    if n and (a.min() < 0 or a.max() >= k):
        raise RemoteError(f"the API answered labels outside 0..{k - 1} (min {a.min()}, max {a.max()})")
    return a


def validate_info(obj, url: str) -> dict:
    """Check the API's ``/info`` answer."""
    if not isinstance(obj, dict):
        raise RemoteError(f"{url}: /info is not a JSON object")
    shape, k, output = obj.get("input_shape"), obj.get("num_classes"), obj.get("output", "probabilities")
    kind = obj.get("input", "images")
    if kind not in ("images", "text"):
        raise RemoteError(f"{url}: /info declares an unknown input {kind!r} (expected images or text)")
    text = kind == "text"
    if text:
        from .data.text import EMBEDDING_DIM

        shape = [EMBEDDING_DIM]  # what stealguard's text models take: the shared encoder's sentence embeddings
    elif (not isinstance(shape, list) or len(shape) != 3
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 4096 for d in shape) or shape[0] > 4):
        raise RemoteError(f"{url}: /info declares an invalid input_shape {shape!r} (expected [C, H, W], C <= 4)")
    if not isinstance(k, int) or isinstance(k, bool) or not 2 <= k <= 100000:
        raise RemoteError(f"{url}: /info declares an invalid num_classes {k!r}")
    try:
        parse_output(output if isinstance(output, str) else repr(output))
    except ConfigError:
        raise RemoteError(f"{url}: /info declares an unknown output {output!r}") from None
    return {"input_shape": tuple(shape), "num_classes": k, "output": output, "text": text}




class Protocol:
    """How to talk to one kind of API. ``info_url`` (None: nothing to ask, the caller's description says it all) and
    ``predict_url``; optional ``headers`` (sent, never logged) and ``max_batch`` (images per request)."""

    name = ""
    info_url: str | None = None
    predict_url = ""

    def parse_info(self, obj) -> dict:
        """The API's description from its metadata answer ``obj``: ``input_shape`` (C, H, W), ``num_classes``,
        ``output`` (``probabilities``, ``rounded:K`` or ``top1``), ``text``, and what else the verdict should cite."""
        raise NotImplementedError

    def encode(self, x) -> bytes:
        """The request body for float32 images ``x`` (N, C, H, W) in [0, 1] (or a list of sentences)."""
        raise NotImplementedError

    def parse_answer(self, obj, n: int, info: dict, kind: str) -> np.ndarray:
        """The validated answer to ``n`` images: probabilities (N, K) for ``kind`` probabilities, labels (N,) for
        labels; raises RemoteError naming what was wrong."""
        raise NotImplementedError


class StealguardProtocol(Protocol):
    """``stealguard-predict/1``: ``GET <base>/info`` and ``POST <base>/predict`` (base64 float32 images or texts)."""

    name = "stealguard"

    def __init__(self, url: str):
        path = urllib.parse.urlsplit(url).path
        self.predict_url = url
        self.info_url = (url[: -len("/predict")] if path.endswith("/predict") else url.rstrip("/")) + "/info"

    def parse_info(self, obj) -> dict:
        return validate_info(obj, self.predict_url)

    def encode(self, x) -> bytes:
        """Images (N, C, H, W) float32, or a list of sentences for a text API."""
        if isinstance(x, list):
            return json.dumps({"texts": x}).encode()
        return encode_images(x)

    def parse_answer(self, obj, n: int, info: dict, kind: str) -> np.ndarray:
        return validate_answer(obj, n, info["num_classes"], kind, info["output"])


V2_DATATYPES = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16}


def missing(obj, field: str) -> RemoteError:
    """The error for an answer without ``field``, quoting (on one line, shortened) what the API said instead in an
    ``error`` or ``detail`` field, if anything."""
    said = (obj.get("error") or obj.get("detail")) if isinstance(obj, dict) else None
    return RemoteError(f"the API's answer has no '{field}'" + (f" (it says: {' '.join(str(said).split())[:200]})"
                                                               if said else ""))


def image_layout(shape, where: str) -> tuple[str, list[int]]:
    """The layout (NCHW or NHWC) and [C, H, W] of a declared batch-of-images input shape [-1, ., ., .]."""
    if (not isinstance(shape, list) or len(shape) != 4
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
            or not all(1 <= d <= 4096 for d in shape[1:])):
        raise RemoteError(f"{where}: the input shape {shape!r} is not a batch of images [-1, C, H, W] or [-1, H, W, C]")
    if shape[1] <= 4:
        return "NCHW", shape[1:]
    if shape[3] <= 4:
        return "NHWC", [shape[3], shape[1], shape[2]]
    raise RemoteError(f"{where}: the input shape {shape} has no channel axis of at most 4 (C first or last)")


def model_url(url: str, scores: str | None, what: str, prefix: str, tails: tuple[str, ...]) -> str:
    """The model URL (``.../PREFIX/NAME``, any of ``tails`` dropped) of a serving stack whose metadata cannot say what
    its output holds, so ``scores`` (probabilities or logits) must."""
    if scores not in ("probabilities", "logits"):
        raise ConfigError(f"{what} model's metadata does not say whether its output holds probabilities or logits: "
                          "say which with --scores probabilities|logits")
    u = urllib.parse.urlsplit(url)
    path = u.path.rstrip("/")
    for tail in tails:
        path = path[: -len(tail)] if path.endswith(tail) else path
    if f"{prefix}/" not in path or path.endswith(prefix):
        raise ConfigError(f"{what} suspect is a model URL http(s)://HOST:PORT{prefix}/NAME, got {url!r}")
    return urllib.parse.urlunsplit((u.scheme, u.netloc, path, "", ""))


def softmax_rows(a: np.ndarray, what: str = "logits") -> np.ndarray:
    """Probabilities from finite logits (N, K), row by row."""
    if a.ndim != 2 or not np.isfinite(a).all():
        raise RemoteError(f"the API's {what} are not a finite (images x classes) array")
    e = np.exp(a - a.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


class V2Protocol(Protocol):
    """The Open Inference Protocol v2 (module docstring). ``url``: ``http(s)://HOST:PORT/v2/models/NAME`` (optionally
    ``/versions/V``; a trailing ``/infer`` is dropped). ``scores``: what the model's output holds, ``probabilities``
    or ``logits``. Images go as one FP32 tensor in the layout the metadata declares (N, C, H, W or N, H, W, C)."""

    name = "v2"

    def __init__(self, url: str, scores: str | None):
        self.scores = scores
        self.info_url = model_url(url, scores, "a v2 (KServe / Triton / MLServer)", "/v2/models", ("/infer",))
        self.predict_url = self.info_url + "/infer"

    def parse_info(self, obj) -> dict:
        where = self.info_url
        if not isinstance(obj, dict) or not isinstance(obj.get("inputs"), list) or not isinstance(obj.get("outputs"), list):
            raise RemoteError(f"{where}: the model metadata is not a v2 answer (no 'inputs' and 'outputs' lists)")
        if len(obj["inputs"]) != 1 or not obj["outputs"]:
            raise RemoteError(f"{where}: the model takes {len(obj['inputs'])} input tensors; stealguard sends one image "
                              "tensor and reads one output")
        inp, out = obj["inputs"][0], obj["outputs"][0]
        shape = inp.get("shape") if isinstance(inp, dict) else None
        if not isinstance(inp, dict) or not isinstance(inp.get("name"), str) or inp.get("datatype") not in V2_DATATYPES:
            raise RemoteError(f"{where}: the input tensor needs a name and a float datatype ({', '.join(V2_DATATYPES)})")
        layout, chw = image_layout(shape, where)
        oshape = out.get("shape") if isinstance(out, dict) else None
        if (not isinstance(out, dict) or not isinstance(out.get("name"), str) or not isinstance(oshape, list)
                or len(oshape) != 2 or not isinstance(oshape[1], int) or isinstance(oshape[1], bool)
                or not 2 <= oshape[1] <= 100000):
            raise RemoteError(f"{where}: the output tensor needs a name and a shape [-1, K] with 2 <= K classes, got {out!r}")
        self.input, self.output, self.layout, self.datatype = inp["name"], out["name"], layout, inp["datatype"]
        return {"input_shape": tuple(chw), "num_classes": oshape[1], "output": "probabilities", "text": False,
                "protocol": self.name, "scores": self.scores, "layout": layout, "model": obj.get("name")}

    def encode(self, x) -> bytes:
        if isinstance(x, list):
            raise RemoteError(f"{self.info_url}: a v2 model takes image tensors, not sentences")
        a = np.ascontiguousarray(x, dtype=np.float32)
        if self.layout == "NHWC":
            a = a.transpose(0, 2, 3, 1)
        return json.dumps({"inputs": [{"name": self.input, "shape": list(a.shape), "datatype": self.datatype,
                                       "data": a.ravel().tolist()}],
                           "outputs": [{"name": self.output}]}).encode()

    def parse_answer(self, obj, n: int, info: dict, kind: str) -> np.ndarray:
        k = info["num_classes"]
        if not isinstance(obj, dict) or not isinstance(obj.get("outputs"), list):
            raise missing(obj, "outputs")
        outs = [o for o in obj["outputs"] if isinstance(o, dict) and o.get("name") == self.output]
        if len(outs) != 1:
            raise RemoteError(f"the API's answer has no output tensor named {self.output!r}")
        o = outs[0]
        data = o.get("data")
        if o.get("shape") not in ([n, k], [n * k]) or not isinstance(data, list):
            raise RemoteError(f"the API answered an output of shape {o.get('shape')!r} for {n} images of {k} classes")
        try:
            a = np.asarray(data, dtype=np.float64)
        except (ValueError, TypeError):
            raise RemoteError("the API's output data are not a flat list of numbers") from None
        if a.ndim != 1 or a.size != n * k:
            raise RemoteError(f"the API answered {a.size} numbers for {n} images of {k} classes")
        a = a.reshape(n, k)
        if self.scores == "logits":
            a = softmax_rows(a)
        out = validate_answer({"probabilities": a}, n, k, "probabilities")
        return out if kind == "probabilities" else out.argmax(1)


class JsonProtocol(Protocol):
    """Any JSON API, described by a small YAML (or JSON) file (module docstring; docs/usage.md has an example)::

        url: https://api.example.com/v1/classify   # optional: else the --suspect URL
        headers: {Authorization: "Bearer ${API_KEY}"}  # ${NAME}: read from the environment, never logged
        input_shape: [1, 28, 28]                    # C, H, W of the images it takes
        num_classes: 10
        request: {field: image, batch: false, encoding: png-base64}  # or encoding: lists, layout: NHWC, scale: 255
        answer: {field: label, kind: labels}         # kind: labels, probabilities or logits

    ``field`` is a dotted path into the JSON object; with ``batch: true`` the field holds a list (one entry per
    image) in the request and in the answer, with ``batch: false`` one image goes per request. ``encoding``:
    ``png-base64`` (8-bit PNG, base64) or ``lists`` (nested numbers in ``layout`` NCHW or NHWC, pixels times
    ``scale``). An answer ``item_field`` reads each entry's scores or label from a field of its own."""

    name = "json"
    ENCODINGS, LAYOUTS, KINDS = ("png-base64", "lists"), ("NCHW", "NHWC"), ("labels", "probabilities", "logits")

    def __init__(self, url: str, config_path: str):
        import os
        import re
        from pathlib import Path

        import yaml

        try:
            cfg = yaml.safe_load(Path(config_path).read_text())
        except OSError as e:
            raise ConfigError(f"--protocol json:{config_path}: cannot read it ({e.strerror or e})") from None
        except yaml.YAMLError:
            raise ConfigError(f"--protocol json:{config_path}: not YAML or JSON") from None
        where = f"--protocol json:{config_path}"
        if not isinstance(cfg, dict):
            raise ConfigError(f"{where}: expected a mapping with input_shape, num_classes, request and answer")
        unknown = sorted(set(cfg) - {"url", "headers", "input_shape", "num_classes", "request", "answer"})
        req, ans = cfg.get("request") or {}, cfg.get("answer") or {}
        shape, k = cfg.get("input_shape"), cfg.get("num_classes")
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
        if (not isinstance(shape, list) or len(shape) != 3 or not all(isinstance(d, int) and 1 <= d <= 4096 for d in shape)
                or shape[0] > 4):
            raise ConfigError(f"{where}: input_shape must be [C, H, W] with C <= 4, got {shape!r}")
        if not isinstance(k, int) or not 2 <= k <= 100000:
            raise ConfigError(f"{where}: num_classes must be an integer >= 2, got {k!r}")
        if not isinstance(req, dict) or not isinstance(req.get("field"), str) or req.get("encoding", "lists") not in self.ENCODINGS \
                or req.get("layout", "NCHW") not in self.LAYOUTS:
            raise ConfigError(f"{where}: request needs a field, an encoding ({', '.join(self.ENCODINGS)}) and a layout "
                              f"({', '.join(self.LAYOUTS)})")
        if not isinstance(ans, dict) or not isinstance(ans.get("field"), str) or ans.get("kind") not in self.KINDS:
            raise ConfigError(f"{where}: answer needs a field and a kind ({', '.join(self.KINDS)})")
        headers = {}
        for name, value in (cfg.get("headers") or {}).items():
            def env(m, name=name):
                if m.group(1) not in os.environ:
                    raise ConfigError(f"{where}: header {name} needs the environment variable {m.group(1)}, which is not set")
                return os.environ[m.group(1)]
            headers[str(name)] = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", env, str(value))
        self.headers = headers  # sent, never written to the audit log or the verdict
        self.predict_url = cfg.get("url") or url
        self.info_url = None
        self.config, self.req, self.ans = cfg, req, ans
        self.max_batch = None if req.get("batch", False) else 1
        self.scale = float(req.get("scale", 1))

    def parse_info(self, obj) -> dict:
        output = "top1" if self.ans["kind"] == "labels" else "probabilities"
        return {"input_shape": tuple(self.config["input_shape"]), "num_classes": self.config["num_classes"],
                "output": output, "text": False, "protocol": self.name, "scores": self.ans["kind"]}

    def _item(self, img: np.ndarray):
        if self.req.get("encoding", "lists") == "png-base64":
            import io

            from PIL import Image

            u8 = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
            pic = Image.fromarray(u8[0] if u8.shape[0] == 1 else u8.transpose(1, 2, 0))
            buf = io.BytesIO()
            pic.save(buf, format="PNG")
            return base64.b64encode(buf.getvalue()).decode()
        a = img.transpose(1, 2, 0) if self.req.get("layout", "NCHW") == "NHWC" else img
        return (a * self.scale).tolist()

    def encode(self, x) -> bytes:
        if isinstance(x, list):
            raise RemoteError("a JSON-adapter API takes images, not sentences")
        items = [self._item(np.asarray(img, np.float32)) for img in x]
        value = items if self.max_batch is None else items[0]
        obj: dict = {}
        node = obj
        *parents, last = self.req["field"].split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        return json.dumps(obj).encode()

    def parse_answer(self, obj, n: int, info: dict, kind: str) -> np.ndarray:
        node = obj
        for part in self.ans["field"].split("."):
            if not isinstance(node, dict) or part not in node:
                raise missing(obj, self.ans["field"])
            node = node[part]
        items = node if self.max_batch is None else [node]
        if not isinstance(items, list) or len(items) != n:
            raise RemoteError(f"the API answered {len(items) if isinstance(items, list) else 'no list of'} entries for "
                              f"{n} images")
        if self.ans.get("item_field"):
            if not all(isinstance(i, dict) and self.ans["item_field"] in i for i in items):
                raise RemoteError(f"an entry of the API's answer has no '{self.ans['item_field']}'")
            items = [i[self.ans["item_field"]] for i in items]
        k = info["num_classes"]
        if self.ans["kind"] == "labels":
            return validate_answer({"labels": items}, n, k, "labels")
        try:
            a = np.asarray(items, dtype=np.float64)
        except (ValueError, TypeError):
            raise RemoteError("the API's scores are not a rectangular array of numbers") from None
        if self.ans["kind"] == "logits":
            a = softmax_rows(a)
        out = validate_answer({"probabilities": a}, n, k, "probabilities")
        return out if kind == "probabilities" else out.argmax(1)


class TfServingProtocol(Protocol):
    """TensorFlow Serving's REST API. ``url``: ``http(s)://HOST:PORT/v1/models/NAME`` (optionally
    ``/versions/V``). The signature ``serving_default`` of ``GET .../metadata`` gives the input's shape (one float
    input, a batch of images NHWC or NCHW) and the output's class count; images go as ``{"instances": nested lists}``
    to ``POST .../NAME:predict`` and the answer's ``predictions`` hold one row of ``scores`` (probabilities or logits,
    which the caller must say) per image."""

    name = "tfserving"

    def __init__(self, url: str, scores: str | None):
        base = model_url(url, scores, "a TF-Serving", "/v1/models", (":predict", "/metadata"))
        self.scores, self.info_url, self.predict_url = scores, base + "/metadata", base + ":predict"

    @staticmethod
    def _dims(tensor) -> list:
        try:
            return [int(d["size"]) for d in tensor["tensor_shape"]["dim"]]
        except (KeyError, TypeError, ValueError):
            raise RemoteError("the TF-Serving metadata has a tensor without a readable shape") from None

    def parse_info(self, obj) -> dict:
        where = self.info_url
        try:
            sig = obj["metadata"]["signature_def"]["signature_def"]["serving_default"]
            inputs, outputs = sig["inputs"], sig["outputs"]
        except (KeyError, TypeError):
            raise RemoteError(f"{where}: no signature 'serving_default' with inputs and outputs in the metadata") from None
        if not isinstance(inputs, dict) or len(inputs) != 1 or not isinstance(outputs, dict) or len(outputs) != 1:
            raise RemoteError(f"{where}: stealguard sends one image input and reads one output; the signature has "
                              f"{len(inputs) if isinstance(inputs, dict) else '?'} and "
                              f"{len(outputs) if isinstance(outputs, dict) else '?'}")
        (inp,), (out,) = inputs.values(), outputs.values()
        if not isinstance(inp, dict) or inp.get("dtype") not in ("DT_FLOAT", "DT_DOUBLE", "DT_HALF"):
            raise RemoteError(f"{where}: the input is not a float tensor")
        self.layout, chw = image_layout(self._dims(inp), where)
        oshape = self._dims(out)
        if len(oshape) != 2 or not 2 <= oshape[1] <= 100000:
            raise RemoteError(f"{where}: the output shape {oshape} is not [-1, K] with 2 <= K classes")
        return {"input_shape": tuple(chw), "num_classes": oshape[1], "output": "probabilities", "text": False,
                "protocol": self.name, "scores": self.scores, "layout": self.layout}

    def encode(self, x) -> bytes:
        if isinstance(x, list):
            raise RemoteError("a TF-Serving model here takes image tensors, not sentences")
        a = np.asarray(x, dtype=np.float32)
        a = a.transpose(0, 2, 3, 1) if self.layout == "NHWC" else a
        return json.dumps({"signature_name": "serving_default", "instances": a.tolist()}).encode()

    def parse_answer(self, obj, n: int, info: dict, kind: str) -> np.ndarray:
        if not isinstance(obj, dict) or "predictions" not in obj:
            raise missing(obj, "predictions")
        try:
            a = np.asarray(obj["predictions"], dtype=np.float64)
        except (ValueError, TypeError):
            raise RemoteError("the API's predictions are not a rectangular array of numbers") from None
        if a.ndim != 2:
            raise RemoteError(f"the API's predictions have shape {a.shape}, expected (images x classes)")
        if self.scores == "logits":
            a = softmax_rows(a) if a.shape == (n, info["num_classes"]) else a
        out = validate_answer({"probabilities": a}, n, info["num_classes"], "probabilities")
        return out if kind == "probabilities" else out.argmax(1)


def make_protocol(url: str, protocol: str | None = None, scores: str | None = None):
    """The protocol object for ``url``: ``protocol`` if given (``stealguard``, ``v2``, ``tfserving`` or
    ``json:FILE``), else ``v2`` for a URL with ``/v2/models/`` in its path, ``tfserving`` for one with
    ``/v1/models/`` and ``stealguard`` otherwise."""
    if protocol is None:
        path = urllib.parse.urlsplit(url).path
        protocol = "v2" if "/v2/models/" in path else "tfserving" if "/v1/models/" in path else "stealguard"
    if protocol.startswith("json:"):
        if scores is not None:
            raise ConfigError("--scores applies to a v2 suspect (a JSON adapter says what it answers in its file)")
        return JsonProtocol(url, protocol[len("json:"):])
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}: choose stealguard, v2, tfserving or json:FILE")
    if protocol == "v2":
        return V2Protocol(url, scores)
    if protocol == "tfserving":
        return TfServingProtocol(url, scores)
    if scores not in (None, "probabilities"):
        raise ConfigError("--scores applies to a v2 or TF-Serving suspect (a stealguard API says what it answers in /info)")
    return StealguardProtocol(url)
