"""Model files: ``.safetensors`` (weights + metadata that rebuilds the model) and ``.onnx`` (black-box suspects).

A suspect file comes from the other side. Unpickling runs arbitrary code, so pickled files (``.pt``, ``.pth``,
``.pkl``, torch zip archives) are refused by name and by content; only safetensors and ONNX are ever read.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..backend import probability_problem
from ..errors import ModelFileError
from .zoo import Classifier, ModelSpec, build_model

FORMAT_VERSION = "1"
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib", ".tar"}
_SAFE_DTYPES = {torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64}


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _refuse_pickle(path: Path) -> None:
    why = ("it would have to be unpickled, and unpickling a file from another party runs its code; "
           "convert it to .safetensors or .onnx where it is trusted")
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ModelFileError(f"refusing {path.name}: {path.suffix} files are pickles; {why}")
    # .safetensors and .onnx are parsed by readers that never unpickle (and a safetensors header length can
    # start with the same bytes as a pickle), so only other names are sniffed here.
    if path.suffix not in (".safetensors", ".onnx") and _looks_pickled(path):
        raise ModelFileError(f"refusing {path.name}: its content is a pickle or a torch archive; {why}")


def _looks_pickled(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4)
    return (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) or head == b"PK\x03\x04"


def _check_exists(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelFileError(f"model file {p} does not exist")
    if not p.is_file():
        raise ModelFileError(f"{p} is not a file")
    _refuse_pickle(p)
    return p


def model_bytes(model: Classifier, extra: dict | None = None) -> bytes:
    """The exact bytes of ``model``'s ``.safetensors`` file (deterministic for given weights and metadata)."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # One metadata key: safetensors writes its metadata map in a per-process random order, and a model's bytes
    # (hence its SHA-256) must not depend on the process that saved it.
    doc = {"format": FORMAT_VERSION, "spec": json.loads(model.spec.to_json()), "extra": extra or {}}
    return save(state, metadata={"stealguard": json.dumps(doc, sort_keys=True)})


def model_sha256(model: Classifier, extra: dict | None = None) -> str:
    """SHA-256 of the file :func:`save_model` would write."""
    return hashlib.sha256(model_bytes(model, extra)).hexdigest()


def save_model(model: Classifier, path: str | os.PathLike, extra: dict | None = None) -> str:
    """Write ``model`` as one ``.safetensors`` file whose metadata rebuilds it. Returns the file's SHA-256."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ModelFileError(f"model files are written as .safetensors, got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = model_bytes(model, extra)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


def read_spec(path: str | os.PathLike) -> tuple[ModelSpec, dict]:
    """The :class:`ModelSpec` and extra metadata of a stealguard ``.safetensors`` file, without loading weights."""
    from safetensors import safe_open

    p = _check_exists(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types for malformed headers
        if _looks_pickled(p):
            raise ModelFileError(f"refusing {p.name}: named .safetensors but its content is a pickle or a torch archive") from None
        raise ModelFileError(f"{p.name} is not a valid safetensors file: {e}") from None
    if "stealguard" not in meta:
        raise ModelFileError(f"{p.name} has no stealguard metadata (architecture, classes, input shape): "
                             "it cannot be rebuilt from the file alone")
    try:
        doc = json.loads(meta["stealguard"])
        fmt = doc.get("format")
    except (ValueError, AttributeError) as e:
        raise ModelFileError(f"{p.name}: malformed model metadata: {e}") from None
    if fmt != FORMAT_VERSION:
        raise ModelFileError(f"{p.name}: model file format {fmt!r}, this version reads {FORMAT_VERSION}")
    try:
        spec = ModelSpec.from_json(json.dumps(doc["spec"]))
    except Exception as e:
        raise ModelFileError(f"{p.name}: malformed model metadata: {e}") from None
    return spec, doc.get("extra") or {}


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> Classifier:
    """Rebuild a model from a ``.safetensors`` file (eval mode). Shapes and dtypes are checked against its spec --
    the shapes before anything is allocated (the spec's model is built on the meta device first), so a small hostile
    file whose metadata declares a huge architecture is refused instead of exhausting memory."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    spec, _ = read_spec(path)
    name = Path(path).name
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated
            expected = build_model(spec).state_dict()
    except Exception as e:
        raise ModelFileError(f"{name}: cannot build '{spec.arch}': {e}") from None
    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:
        raise ModelFileError(f"{name}: unreadable tensors: {e}") from None
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    if missing or unexpected:
        raise ModelFileError(f"{name}: tensors do not match a {spec.arch} (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for k, shape in shapes.items():
        if shape != tuple(expected[k].shape):
            raise ModelFileError(f"{name}: tensor {k} has shape {shape}, expected {tuple(expected[k].shape)}")
    try:
        state = load_file(str(path))
    except Exception as e:
        raise ModelFileError(f"{name}: unreadable tensors: {e}") from None
    for k, v in state.items():
        if v.dtype not in _SAFE_DTYPES:
            raise ModelFileError(f"{name}: tensor {k} has unsupported dtype {v.dtype}")
        if v.dtype.is_floating_point != expected[k].dtype.is_floating_point:
            kind = "floating-point" if expected[k].dtype.is_floating_point else "integer"
            raise ModelFileError(f"{name}: tensor {k} has dtype {v.dtype}, expected a {kind} tensor")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ModelFileError(f"{name}: tensor {k} holds NaN or infinite values")
    model = build_model(spec)  # the file holds every tensor at its full size, so this costs what the file does
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return model.to(device).eval()


# ------------------------------------------------------------------------------------------------------ ONNX
def export_onnx(model: Classifier, path: str | os.PathLike, extra: dict | None = None) -> str:
    """Export ``model`` (normalisation included; output = logits) to ONNX with a dynamic batch. Returns SHA-256."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = model.spec
    was_training = model.training
    model = model.eval()
    dev = next(model.parameters()).device
    x = torch.rand(2, *spec.input_shape, device=dev)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
    except Exception as e:  # the exporter raises many error types; report the first line
        raise ModelFileError(f"cannot export {spec.arch} to ONNX: {str(e).strip().splitlines()[0]}") from None
    m = onnx.load(str(path))
    props = {"stealguard.spec": spec.to_json(), "stealguard.output": "logits",
             "stealguard.extra": json.dumps(extra or {}, sort_keys=True)}
    for k, v in props.items():
        entry = m.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(m, str(path))
    model.train(was_training)
    return sha256_file(path)


def _onnx_tensors(proto):
    """Every tensor an ONNX model holds: initializers (sparse ones too), node attributes, subgraphs, functions."""
    def graph_tensors(g):
        yield from g.initializer
        for s in g.sparse_initializer:
            yield from (s.values, s.indices)
        yield from nodes_tensors(g.node)

    def nodes_tensors(nodes):
        for node in nodes:
            for a in node.attribute:
                if a.HasField("t"):
                    yield a.t
                yield from a.tensors
                if a.HasField("g"):
                    yield from graph_tensors(a.g)
                for sub in a.graphs:
                    yield from graph_tensors(sub)

    yield from graph_tensors(proto.graph)
    for f in proto.functions:
        yield from nodes_tensors(f.node)


class OnnxModel:
    """A black-box model run by onnxruntime: ``scores(x)`` takes float images in [0, 1] (NCHW).

    ``output`` says whether the network returns ``logits`` or ``probabilities``; it is read from our metadata,
    else detected on the first batch (rows that are non-negative and sum to 1 are probabilities), so a softmax
    is never applied twice. Declared probabilities are checked where every suspect's are, by the access that asks
    (:func:`stealguard.access.probability_problem`).
    """

    def __init__(self, path: str | os.PathLike, output: str | None = None):
        import onnx
        import onnxruntime as ort
        from onnx.external_data_helper import uses_external_data

        p = _check_exists(path)

        def invalid(e: Exception) -> ModelFileError:
            return ModelFileError(f"{p.name} is not a valid ONNX model: {str(e).splitlines()[0] if str(e) else e}")

        try:
            proto = onnx.load(str(p), load_external_data=False)  # a suspect's file must not make us read other files
        except Exception as e:
            raise invalid(e) from None
        if any(uses_external_data(t) for t in _onnx_tensors(proto)):
            raise ModelFileError(f"{p.name} keeps tensors in external data files, which stealguard does not read (the file "
                                 "names them, and it comes from the other side); export the model as one self-contained "
                                 ".onnx file")
        try:
            onnx.checker.check_model(proto)
            self.session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception as e:
            raise invalid(e) from None
        meta = {e.key: e.value for e in proto.metadata_props}
        self.path = p
        try:
            self.spec = ModelSpec.from_json(meta["stealguard.spec"]) if "stealguard.spec" in meta else None
        except Exception as e:  # the file comes from the other side: its metadata may be anything
            raise ModelFileError(f"{p.name}: malformed stealguard.spec metadata: {str(e).splitlines()[0] if str(e) else e}") from None
        self.output = output or meta.get("stealguard.output")
        if self.output not in (None, "logits", "probabilities"):
            raise ModelFileError(f"{p.name}: its metadata declares the output {self.output!r} (expected logits or probabilities)")
        try:
            self.extra = json.loads(meta.get("stealguard.extra", "{}"))
        except ValueError:
            self.extra = {}
        inp = self.session.get_inputs()
        if len(inp) != 1:
            raise ModelFileError(f"{p.name}: expected one input, the model has {len(inp)}")
        self.input_name = inp[0].name
        shape = inp[0].shape
        if len(shape) != 4 and not (len(shape) == 2 and self.spec is not None and self.spec.input_dim):
            raise ModelFileError(f"{p.name}: expected an image input (N, C, H, W), got {shape}")
        dims = [d if isinstance(d, int) else None for d in shape[1:]]
        if self.spec is not None:
            dims = list(self.spec.input_shape)
        if None in dims:
            raise ModelFileError(f"{p.name}: input shape {shape} is not fixed; export it with fixed C, H, W")
        self.input_shape = tuple(int(d) for d in dims)
        out = self.session.get_outputs()[0].shape
        self.num_classes = self.spec.num_classes if self.spec else (out[-1] if isinstance(out[-1], int) else None)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """The network's outputs for float images in [0, 1] (NCHW): logits or probabilities (``output``), one row per
        image."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise ModelFileError(f"{self.path.name}: input of shape {x.shape[1:]}, the model takes {self.input_shape}")
        try:
            out = np.asarray(self.session.run(None, {self.input_name: x})[0], dtype=np.float64)
        except Exception as e:  # onnxruntime's own error types: a graph that does not run on what it declares
            raise ModelFileError(f"{self.path.name}: onnxruntime could not run it: {str(e).strip().splitlines()[0] if str(e).strip() else e}") from None
        if out.ndim != 2 or out.shape[0] != len(x) or (self.num_classes is not None and out.shape[1] != self.num_classes):
            raise ModelFileError(f"{self.path.name}: answered scores of shape {out.shape} for {len(x)} inputs"
                                 + (f" of {self.num_classes} classes" if self.num_classes is not None else ""))
        if self.output is None and len(out):
            self.output = "logits" if probability_problem(out) else "probabilities"
        if self.num_classes is None:
            self.num_classes = out.shape[1]
        return out


def open_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> Classifier | OnnxModel:
    """Open a suspect file: ``.safetensors`` -> :class:`Classifier`, ``.onnx`` -> :class:`OnnxModel`."""
    p = _check_exists(path)
    if p.suffix == ".onnx":
        return OnnxModel(p)
    if p.suffix == ".safetensors":
        return load_model(p, device)
    raise ModelFileError(f"{p.name}: unsupported model file; use .safetensors or .onnx")
