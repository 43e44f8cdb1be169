"""Remote suspects: a prediction API over HTTP behind the ordinary access interface.

:class:`HttpBackend` speaks, through :mod:`stealguard.protocols`, the Open Inference Protocol v2 (KServe, Triton,
MLServer), TensorFlow Serving's REST API, any JSON API described by a YAML file, and the ``stealguard-predict/1``
protocol that ``stealguard serve`` implements:

* ``GET  <base>/info`` -> ``{"protocol": "stealguard-predict/1", "input_shape": [C, H, W], "num_classes": K,
  "output": "probabilities" | "rounded:K" | "top1"}``
* ``POST <base>/predict`` with ``{"shape": [N, C, H, W], "dtype": "float32", "data": <base64 of the C-order
  bytes>}`` (or ``{"images": nested lists}``) -> ``{"probabilities": [[...] x N]}`` or ``{"labels": [...]}``.
* A **text** API declares ``"input": "text"`` in ``/info`` (instead of ``input_shape``) and takes
  ``{"texts": ["a sentence", ...]}``. stealguard's text models see sentences through the shared MiniLM encoder, so
  the client sends the words of each embedding a method or an attack asks about (:func:`stealguard.data.text.sentences_of`:
  the dataset's sentences, a kit's watermark sentences); an embedding with no sentence is refused before anything
  is sent. The audit log then hashes the UTF-8 sentence where it hashes an image.

What the client does about a hostile or unreliable API:

* **validation** of every answer before it is used: a JSON object of bounded size with the expected key, a
  rectangular numeric array with one row per image and one column per declared class, finite probabilities in
  [0, 1] that sum to 1 within a tolerance (wider for a ``rounded:K`` API), integral labels in range. A violation
  raises :class:`RemoteError` naming what was wrong; nothing of that answer is used.
* **retries** with exponential backoff on connection errors, timeouts, HTTP 429 and 5xx; other HTTP errors stop
  at once. A **rate limit** spaces requests.
* **audit log** (JSON lines): every answer is appended — the SHA-256 of each image sent, of the request body and
  of the response body, the validated answer, and the SHA-256 of the previous entry (a hash chain a third party
  can check with :func:`check_audit_log`) — and flushed to disk *before* it is used. An image whose answer is
  already in the log is never sent again: an interrupted verification resumes where it stopped, and repeated
  queries within a run cost nothing.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import torch

from .backend import SUM_TOLERANCE, Backend
from .errors import ConfigError, RemoteError
from .protocols import make_protocol, sum_tolerance, validate_answer

MAX_RESPONSE_BYTES = 64 * 2**20


def image_sha256(x: np.ndarray) -> str:
    """SHA-256 of one image as sent (float32, C-order, shape included)."""
    a = np.ascontiguousarray(x, dtype=np.float32)
    return hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()


def text_sha256(sentence: str) -> str:
    """SHA-256 of one sentence as sent (UTF-8)."""
    return hashlib.sha256(sentence.encode("utf-8")).hexdigest()


class AuditLog:
    """Append-only JSON-lines log of every answer, hash-chained; doubles as the resume cache.

    Only answers of the same URL and kind (``probabilities`` or ``labels``) are reused, and each is validated again
    against the API's declared classes (``num_classes``, ``output``) before it is: a log edited by hand, or written
    when the API declared something else, is refused with the line at fault instead of feeding a verification."""

    def __init__(self, path: str | os.PathLike, url: str, kind: str, num_classes: int, output: str):
        self.path = Path(path)
        self.url = url
        self.kind, self.num_classes, self.output = kind, num_classes, output
        self.answers: dict[str, object] = {}  # image sha256 -> probabilities row (list) or label (int)
        self.entries = 0
        self.last = "0" * 64
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        lines = self.path.read_bytes().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for i, line in enumerate(lines):
            try:
                e = json.loads(line)
            except ValueError:
                if i == len(lines) - 1:  # a half-written last line (the run was killed while writing): dropped
                    with open(self.path, "r+b") as f:
                        f.truncate(sum(len(x) + 1 for x in lines[:-1]))
                    break
                e = None
            if not isinstance(e, dict) or e.get("prev") != self.last:
                raise RemoteError(f"audit log {self.path} is corrupt at line {i + 1} (not an entry of an unbroken hash "
                                  "chain): keep it as evidence and start a new one with --audit-log")
            self.last = hashlib.sha256(line).hexdigest()
            self.entries += 1
            if e.get("url") == self.url and e.get("kind") == self.kind:  # another kind: the API changed; not reused
                hashes = e.get("images")
                if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
                    raise RemoteError(f"audit log {self.path}, line {i + 1}: its 'images' are not a list of hashes; keep "
                                      "the log as evidence and start a new one with --audit-log")
                try:
                    validate_answer({self.kind: e.get("answer")}, len(hashes), self.num_classes, self.kind, self.output)
                except RemoteError as err:
                    raise RemoteError(f"audit log {self.path}, line {i + 1} holds an answer the API cannot give now "
                                      f"({err}); keep the log as evidence and start a new one with --audit-log") from None
                for h, a in zip(hashes, e["answer"]):
                    self.answers[h] = a

    def append(self, kind: str, hashes: list[str], answer: np.ndarray, request_sha: str, response_sha: str) -> None:
        """Append one validated answer (hashes of the images, of request and response, the answer, the previous
        entry's hash) and flush it to disk before it is used."""
        entry = {"url": self.url, "time": round(time.time(), 3), "kind": kind, "images": hashes,
                 "request_sha256": request_sha, "response_sha256": response_sha, "answer": answer.tolist(), "prev": self.last}
        line = json.dumps(entry, separators=(",", ":")).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as f:
            f.write(line + b"\n")
            f.flush()
            os.fsync(f.fileno())
        self.last = hashlib.sha256(line).hexdigest()
        self.entries += 1
        for h, a in zip(hashes, entry["answer"]):
            self.answers[h] = a

    def sha256(self) -> str | None:
        """SHA-256 of the log file as it is now (None if it does not exist)."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest() if self.path.exists() else None


def check_audit_log(path: str | os.PathLike) -> int:
    """Verify an audit log's hash chain; return its number of entries (raises :class:`RemoteError` if broken)."""
    last, n = "0" * 64, 0
    for i, line in enumerate(Path(path).read_bytes().splitlines()):
        try:
            e = json.loads(line)
        except ValueError:
            raise RemoteError(f"audit log {path}: line {i + 1} is not JSON") from None
        if e.get("prev") != last:
            raise RemoteError(f"audit log {path}: the hash chain breaks at line {i + 1}")
        last, n = hashlib.sha256(line).hexdigest(), n + 1
    return n


def default_audit_log(url: str) -> Path:
    """``stealguard-audit/<host>_<port>_<path>.jsonl`` in the current folder."""
    u = urllib.parse.urlsplit(url)
    name = "".join(c if c.isalnum() or c in "-." else "_" for c in f"{u.hostname}_{u.port or ''}{u.path}").strip("_")
    return Path("stealguard-audit") / f"{name or 'api'}.jsonl"


class HttpBackend(Backend):
    """A prediction API as a suspect (or victim) backend. ``kind`` is ``probabilities`` or ``labels`` (labels come
    back as one-hot scores so that only ``predict_labels`` can use them — the access level enforces that).

    ``timeout`` seconds per request; ``retries`` extra attempts with ``backoff`` * 2^i seconds between them (at most
    ``max_backoff``); ``rate_limit`` requests per second at most; ``batch_size`` images per request; ``audit_log``
    path (default :func:`default_audit_log`). ``protocol``/``scores``: how to talk to the API and what a v2 model's
    output holds (:func:`stealguard.protocols.make_protocol`; default: v2 for a ``/v2/models/`` URL). ``insecure``:
    accept an HTTPS certificate that cannot be verified (a self-signed one); without it such a server is refused.
    """

    def __init__(self, url: str, timeout: float = 30.0, retries: int = 5, backoff: float = 0.2, max_backoff: float = 10.0,
                 rate_limit: float | None = None, batch_size: int = 256, audit_log: str | os.PathLike | None = None,
                 protocol: str | None = None, scores: str | None = None, insecure: bool = False):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ConfigError(f"a remote suspect must be an http:// or https:// URL, got {url!r}")
        if timeout <= 0 or retries < 0 or backoff < 0 or batch_size < 1 or (rate_limit is not None and rate_limit <= 0):
            raise ConfigError("timeout, batch size and rate limit must be positive; retries and backoff non-negative")
        self.url, self.timeout, self.retries, self.backoff, self.max_backoff = url, timeout, retries, backoff, max_backoff
        self.interval = 0.0 if rate_limit is None else 1.0 / rate_limit
        self.batch_size = batch_size
        self.stats = {"requests": 0, "retries": 0, "sent": 0, "from_log": 0}
        self._last_request = 0.0
        # HTTPS certificates are verified; a self-signed one is accepted only when the caller says so (--insecure)
        self._ssl = ssl._create_unverified_context() if insecure else None
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=self._ssl), _SameHostRedirects())
        self.protocol = make_protocol(url, protocol, scores)
        self.headers = dict(getattr(self.protocol, "headers", {}))  # e.g. an API key: sent, never logged
        if getattr(self.protocol, "max_batch", None):
            self.batch_size = min(self.batch_size, self.protocol.max_batch)
        info_url = self.protocol.info_url
        self.info = self.protocol.parse_info(None if info_url is None else self._request(info_url, None))
        self.input_shape, self.num_classes, self.output = self.info["input_shape"], self.info["num_classes"], self.info["output"]
        self.kind = "labels" if self.output in ("top1", "labels") else "probabilities"
        self.sum_tolerance = sum_tolerance(self.output, self.num_classes) if self.kind == "probabilities" else SUM_TOLERANCE
        self.text = self.info["text"]
        self.log = AuditLog(audit_log if audit_log is not None else default_audit_log(url), url, self.kind,
                            self.num_classes, self.output)

    # ------------------------------------------------------------------ transport
    def _request(self, url: str, body: bytes | None) -> object:
        """One request with retries; returns the decoded JSON (sets ``self._response_sha``)."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats["retries"] += 1
                time.sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
            wait = self._last_request + self.interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()
            self.stats["requests"] += 1
            req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET",
                                         headers={"Content-Type": "application/json", "Accept": "application/json",
                                                  **self.headers})
            try:
                with self._opener.open(req, timeout=self.timeout) as r:
                    raw = r.read(MAX_RESPONSE_BYTES + 1)
            except urllib.error.HTTPError as e:
                msg = _error_text(e)
                if e.code == 429 or e.code >= 500:
                    last = f"HTTP {e.code}{msg}"
                    continue
                raise RemoteError(f"{url} refused the request: HTTP {e.code}{msg}") from None
            except (urllib.error.URLError, socket.timeout, TimeoutError, OSError, http.client.HTTPException) as e:
                reason = getattr(e, "reason", e)
                if isinstance(reason, ssl.SSLCertVerificationError):
                    raise RemoteError(f"{url}: its HTTPS certificate is not trusted ({reason.verify_message}); if you "
                                      "know the server (e.g. a self-signed certificate), pass --insecure") from None
                last = "timed out" if isinstance(reason, (socket.timeout, TimeoutError)) else f"{type(reason).__name__}: {reason}"
                continue
            if len(raw) > MAX_RESPONSE_BYTES:
                raise RemoteError(f"{url} answered more than {MAX_RESPONSE_BYTES // 2**20} MiB")
            self._response_sha = hashlib.sha256(raw).hexdigest()
            try:
                return json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise RemoteError(f"{url} answered something that is not JSON ({len(raw)} bytes)") from None
        raise RemoteError(f"{url}: no answer after {self.retries + 1} attempts (last: {last})")

    # ------------------------------------------------------------------ backend
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        a = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        if self.text:
            from .data.text import sentences_of
            from .errors import DataError

            try:
                a = sentences_of(a)
            except DataError as e:
                raise RemoteError(f"{self.url} is a text API: {e}") from None
            hashes = [text_sha256(t) for t in a]
        else:
            hashes = [image_sha256(img) for img in a]
        todo = [i for i, h in enumerate(hashes) if h not in self.log.answers]
        seen: dict[str, int] = {}
        fresh = [i for i in todo if seen.setdefault(hashes[i], i) == i]  # duplicates inside the batch: sent once
        self.stats["from_log"] += len(a) - len(fresh)
        for s in range(0, len(fresh), self.batch_size):
            idx = fresh[s : s + self.batch_size]
            body = self.protocol.encode([a[i] for i in idx] if self.text else a[idx])
            answer = self.protocol.parse_answer(self._request(self.protocol.predict_url, body), len(idx), self.info,
                                                self.kind)
            self.log.append(self.kind, [hashes[i] for i in idx], answer, hashlib.sha256(body).hexdigest(), self._response_sha)
            self.stats["sent"] += len(idx)
        rows = [self.log.answers[h] for h in hashes]
        if self.kind == "labels":
            out = torch.zeros(len(rows), self.num_classes, dtype=torch.float64)
            if rows:
                out[torch.arange(len(rows)), torch.as_tensor(rows, dtype=torch.long)] = 1.0
            return out
        return torch.as_tensor(np.asarray(rows, dtype=np.float64).reshape(len(rows), self.num_classes))

    def report(self) -> dict:
        """What a verdict cites: the URL, the audit log and its hash, and what was sent and read back."""
        extra = {k: self.info[k] for k in ("scores", "layout", "model") if k in self.info}
        return {"url": self.url, "protocol": self.protocol.name, **extra, "output": self.output, "audit_log": str(self.log.path), "audit_log_sha256": self.log.sha256(),
                "audit_log_last_entry_sha256": self.log.last, "audit_log_entries": self.log.entries,
                **self.stats}


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only within the same scheme, host and port: an API that sends the queries (or the owner's
    verification images) on to another host is refused, not followed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
            raise RemoteError(f"{req.full_url} redirected to another host ({new.scheme}://{new.netloc}): refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _error_text(e: urllib.error.HTTPError) -> str:
    try:
        body = e.read(2000).decode("utf-8", "replace")
        msg = json.loads(body).get("error", "") if body.lstrip().startswith("{") else body
    except Exception:  # noqa: BLE001 - the error body is only decoration
        msg = ""
    msg = " ".join(str(msg).split())[:200]
    return f" ({msg})" if msg else ""


def is_url(source) -> bool:
    """Whether ``source`` is an http(s) URL (a remote suspect)."""
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))

