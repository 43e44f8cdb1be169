"""Suspect access levels: the one interface every attack and ownership method talks to.

=================  ==============================================================  ====================
level              may see                                                          built from
=================  ==============================================================  ====================
``white-box``      the module (gradients), logits, probabilities, labels            .safetensors, module
``probabilities``  probabilities (optionally rounded to K decimals), labels         + .onnx
``labels``         top-1 labels only                                                + .onnx
=================  ==============================================================  ====================

Every access counts the images it is asked about (``queries``) and can enforce a budget (``max_queries``): the
query that would exceed it is refused before anything is sent. A labels-only access has no method that returns
scores; asking for them raises :class:`~stealguard.errors.AccessDenied`.

Inputs are float images in [0, 1] (NCHW tensors) or uint8 arrays (N, H, W, C); a text model's inputs are its
encoder's sentence embeddings (N, D) (see :mod:`stealguard.data.text`).
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from .backend import SUM_TOLERANCE, Backend, parse_output, probability_problem  # noqa: F401 - part of this API
from .data import to_tensor
from .errors import AccessDenied, ConfigError, QueryBudgetExceeded, StealguardError

LEVELS = ("white-box", "probabilities", "labels")


class ModuleBackend(Backend):
    """A stealguard :class:`~stealguard.models.Classifier` in this process: logits, computed without gradients."""
    def __init__(self, module: nn.Module):
        self.module = module.eval()
        spec = getattr(module, "spec", None)
        if spec is None:
            raise ConfigError("a white-box module must be a stealguard Classifier (it carries its input spec)")
        self.num_classes, self.input_shape = spec.num_classes, tuple(spec.input_shape)

    @property
    def device(self) -> torch.device:
        """The device the module's parameters live on (inputs are moved there)."""
        return next(self.module.parameters()).device

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.module(x.to(self.device)).float().cpu()


class OnnxBackend(Backend):
    """An :class:`~stealguard.models.OnnxModel` run by onnxruntime; ``kind`` follows its declared or detected
    output."""
    def __init__(self, model):
        self.model = model
        self.input_shape = model.input_shape
        self.num_classes = model.num_classes

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.from_numpy(self.model.scores(x.cpu().numpy()))
        self.kind = self.model.output
        self.num_classes = self.model.num_classes
        return out


class FunctionBackend(Backend):
    """Wraps ``fn(x_float_nchw_numpy) -> scores`` (like ART's ``BlackBoxClassifier(predict_fn)``).

    ``kind="probabilities"`` (the default) promises rows in [0, 1] summing to 1: they are checked on every answer
    and used as they are. A function whose probabilities are rounded (an API answering K decimals) passes a wider
    ``sum_tolerance``, e.g. ``num_classes * 0.5 * 10**-K``; a function answering logits says ``kind="logits"``.
    """

    probability_hint = " (if it answers logits, say kind='logits')"

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], num_classes: int, input_shape: tuple[int, int, int],
                 kind: str = "probabilities", sum_tolerance: float = SUM_TOLERANCE):
        if kind not in ("logits", "probabilities"):
            raise ConfigError(f"kind must be 'logits' or 'probabilities', got {kind!r}")
        if not sum_tolerance >= 0:
            raise ConfigError(f"sum_tolerance must be >= 0, got {sum_tolerance}")
        self.fn, self.num_classes, self.input_shape, self.kind = fn, num_classes, tuple(input_shape), kind
        self.sum_tolerance = float(sum_tolerance)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(np.asarray(self.fn(x.cpu().numpy()), dtype=np.float64))


class Access:
    """Base class: query counting, budget, input checks and batching. Use a concrete level."""

    level = ""

    def __init__(self, backend: Backend, max_queries: int | None = None, batch_size: int = 512):
        if max_queries is not None and max_queries < 0:
            raise ConfigError(f"max_queries must be >= 0, got {max_queries}")
        self._backend = backend
        self.max_queries = max_queries
        self.batch_size = batch_size
        self.queries = 0

    @property
    def num_classes(self) -> int:
        """Number of classes the suspect answers."""
        return self._backend.num_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one input the suspect takes: (C, H, W), or (D,) for feature vectors."""
        return tuple(self._backend.input_shape)

    def _prepare(self, x, detach: bool = True) -> torch.Tensor:
        t = to_tensor(x) if isinstance(x, np.ndarray) else x
        if not isinstance(t, torch.Tensor) or t.ndim != 1 + len(self.input_shape):
            what = "images (N, C, H, W)" if len(self.input_shape) == 3 else "feature vectors (N, D)"
            raise StealguardError(f"queries must be a batch of {what}; got {getattr(t, 'shape', type(t))}")
        if tuple(t.shape[1:]) != self.input_shape:
            raise StealguardError(f"queries of shape {tuple(t.shape[1:])}, the suspect takes {self.input_shape}")
        return t.detach().float() if detach else t.float()

    def _charge(self, n: int) -> None:
        if self.max_queries is not None and self.queries + n > self.max_queries:
            raise QueryBudgetExceeded(f"query budget of {self.max_queries} exhausted ({self.queries} used, {n} more asked)")
        self.queries += n

    def _raw(self, x) -> tuple[torch.Tensor, str]:
        t = self._prepare(x)
        self._charge(len(t))
        outs = [self._backend.scores(t[i : i + self.batch_size]) for i in range(0, len(t), self.batch_size)]
        s = torch.cat(outs).double() if outs else torch.zeros(0, self.num_classes, dtype=torch.float64)
        if s.ndim != 2 or s.shape[0] != len(t):
            raise StealguardError(f"the suspect answered {len(t)} queries with scores of shape {tuple(s.shape)}")
        if not torch.isfinite(s).all():
            raise StealguardError("the suspect returned NaN or infinite scores")
        if self._backend.kind == "probabilities":
            problem = probability_problem(s.numpy(), self._backend.sum_tolerance)
            if problem:
                raise StealguardError(f"the suspect declares probabilities, but its answers {problem}"
                                      + self._backend.probability_hint)
        return s, self._backend.kind

    @staticmethod
    def _to_probabilities(s: torch.Tensor, kind: str) -> torch.Tensor:
        return torch.softmax(s, dim=1) if kind == "logits" else s  # never a second softmax

    def predict_labels(self, x) -> np.ndarray:
        """Top-1 labels (int64), one query per image."""
        s, _ = self._raw(x)
        return s.argmax(1).numpy().astype(np.int64)

    def predict_proba(self, x) -> np.ndarray:  # overridden where allowed
        """Probability rows, one per input (one query each); refused below the probabilities level."""
        raise AccessDenied(f"{self.level} access does not reveal probabilities")

    def logits(self, x) -> torch.Tensor:  # overridden where allowed
        """Differentiable logits; only white-box access reveals them."""
        raise AccessDenied(f"{self.level} access does not reveal logits")

    @property
    def module(self) -> nn.Module:  # overridden where allowed
        """The model itself (weights, gradients); only white-box access reveals it."""
        raise AccessDenied(f"{self.level} access does not reveal the model")

    def describe(self) -> dict:
        """Level, queries asked and budget; for a remote suspect also ``remote``: URL, audit log and what was sent."""
        d = {"level": self.level, "queries": self.queries, "max_queries": self.max_queries}
        report = getattr(self._backend, "report", None)
        return d | ({"remote": report()} if callable(report) else {})


class Labels(Access):
    """Top-1 labels only."""

    level = "labels"


class Probabilities(Access):
    """Probabilities (and labels). ``decimals``: round each probability to K decimals, an API-side defence."""

    level = "probabilities"

    def __init__(self, backend: Backend, max_queries: int | None = None, decimals: int | None = None, batch_size: int = 512):
        super().__init__(backend, max_queries, batch_size)
        if decimals is not None and decimals < 0:
            raise ConfigError(f"rounding decimals must be >= 0, got {decimals}")
        self.decimals = decimals

    def predict_proba(self, x) -> np.ndarray:
        s, kind = self._raw(x)
        p = self._to_probabilities(s, kind).numpy()
        if self.decimals is not None:
            p = np.round(p, self.decimals)
        return p

    def describe(self) -> dict:
        return super().describe() | {"decimals": self.decimals}


class WhiteBox(Probabilities):
    """Full access: the module itself (gradients allowed), logits, probabilities, labels.

    Queries made through :meth:`logits`, :meth:`predict_proba` and :meth:`predict_labels` are counted; direct use
    of :attr:`module` (weights, gradients) is not a query.
    """

    level = "white-box"

    def __init__(self, module: nn.Module, max_queries: int | None = None, batch_size: int = 512):
        super().__init__(ModuleBackend(module), max_queries, None, batch_size)

    @property
    def module(self) -> nn.Module:
        """The suspect's module (weights and gradients; using it directly is not a query)."""
        return self._backend.module

    def logits(self, x) -> torch.Tensor:
        """Differentiable logits (the module's device)."""
        t = self._prepare(x, detach=False)
        self._charge(len(t))
        return self.module(t.to(self._backend.device))


def open_access(source, level: str = "probabilities", max_queries: int | None = None, output: str | None = None,
                device: str | torch.device = "cpu", remote: dict | None = None) -> Access:
    """Wrap a suspect at an access level.

    ``source``: a :class:`~stealguard.models.Classifier`, an :class:`~stealguard.models.OnnxModel`, a
    :class:`Backend`, a path to a ``.safetensors`` / ``.onnx`` file, or the ``http(s)://.../predict`` URL of a
    prediction API (black-box only; ``remote``: options of :class:`~stealguard.remote.HttpBackend` such as
    ``timeout``, ``retries``, ``rate_limit``, ``audit_log``). ``output`` (``probabilities``, ``rounded:K``,
    ``top1``) applies an API's output defence on top of a black-box level.
    """
    from .models import Classifier, OnnxModel, open_model
    from .remote import HttpBackend, is_url

    if level not in LEVELS:
        raise ConfigError(f"unknown access level {level!r}: choose one of {', '.join(LEVELS)}")
    if isinstance(source, str) and "://" in source and not is_url(source):
        raise ConfigError(f"a remote suspect must be an http:// or https:// URL, got {source!r}")
    if is_url(source):
        if level == "white-box":
            raise AccessDenied("a remote API is black-box: use --access probabilities or labels")
        source = HttpBackend(source, **(remote or {}))
    elif isinstance(source, (str, os.PathLike)):
        source = open_model(source, device)
    decimals = None
    if output is not None:
        out_level, decimals = parse_output(output)
        if level == "white-box":
            raise ConfigError("an API output setting applies to black-box access, not white-box")
        if out_level == "labels":
            level = "labels"
    if level == "white-box":
        if not isinstance(source, Classifier):
            raise AccessDenied("white-box access needs the model's weights (.safetensors); an ONNX or remote suspect is black-box")
        return WhiteBox(source, max_queries)
    if isinstance(source, Classifier):
        backend: Backend = ModuleBackend(source)
    elif isinstance(source, OnnxModel):
        backend = OnnxBackend(source)
    elif isinstance(source, Backend):
        backend = source
    else:
        raise ConfigError(f"cannot open a suspect from {type(source).__name__}")
    if backend.kind == "labels" and level != "labels":
        raise AccessDenied("the suspect answers top-1 labels only: use --access labels")
    if level == "labels":
        return Labels(backend, max_queries)
    return Probabilities(backend, max_queries, decimals)
