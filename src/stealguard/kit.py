"""The kit: an owner's secret verification material, as a folder with a manifest of SHA-256 hashes.

Layout::

    kit/
      manifest.json      {"format": "stealguard-kit", "version": 1, "method", "method_version", "victim_sha256",
                          "created", "meta": {...}, "files": {name: sha256}}
      <name>.npy         arrays (saved without pickle)
      <name>.json        JSON documents
      <name>.safetensors small networks (e.g. a meta-classifier)

:func:`load_kit` checks the format, the version, that every listed file is present with its hash and that no
unlisted file was slipped in; anything else fails with one clear :class:`KitError`. The manifest's own SHA-256
(:attr:`Kit.kit_id`) identifies the kit: an owner can register it (e.g. with a notary) when protecting, and every
verdict cites it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from .errors import StealguardError

FORMAT = "stealguard-kit"
VERSION = 1
MANIFEST = "manifest.json"


class KitError(StealguardError):
    """A kit is missing, incomplete, tampered with or from an unsupported version."""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith(".") or name == MANIFEST:
        raise KitError(f"bad kit file name {name!r}")


class KitWriter:
    """Collects files in memory and writes the kit atomically (a temporary folder renamed into place)."""

    def __init__(self, method: str, method_version: int, victim_sha256: str | None, meta: dict | None = None):
        self.method, self.method_version, self.victim_sha256 = method, method_version, victim_sha256
        self.meta = dict(meta or {})
        self.files: dict[str, bytes] = {}

    def add_bytes(self, name: str, data: bytes) -> None:
        """Add file ``name`` with ``data`` (each name once; names are checked)."""
        _check_name(name)
        if name in self.files:
            raise KitError(f"kit file {name!r} added twice")
        self.files[name] = data

    def add_array(self, name: str, array: np.ndarray) -> None:
        """Add ``array`` as ``name.npy`` (no pickles)."""
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        self.add_bytes(f"{name}.npy", buf.getvalue())

    def add_json(self, name: str, obj) -> None:
        """Add ``obj`` as ``name.json``."""
        self.add_bytes(f"{name}.json", json.dumps(obj, indent=2, sort_keys=True).encode())

    def add_tensors(self, name: str, tensors: dict, metadata: dict | None = None) -> None:
        """Add ``tensors`` as ``name.safetensors``, with ``metadata`` (JSON) in its header."""
        from safetensors.torch import save

        meta = {"stealguard": json.dumps(metadata or {}, sort_keys=True)}
        self.add_bytes(f"{name}.safetensors", save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, meta))

    def write(self, directory: str | os.PathLike) -> "Kit":
        """Write the kit to ``directory`` with its manifest of SHA-256 hashes (atomically: a temporary folder renamed)
        and return it loaded."""
        d = Path(directory)
        manifest = {"format": FORMAT, "version": VERSION, "method": self.method, "method_version": self.method_version,
                    "victim_sha256": self.victim_sha256, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "meta": self.meta, "files": {n: _sha(b) for n, b in sorted(self.files.items())}}
        tmp = d.with_name(d.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for n, b in self.files.items():
            (tmp / n).write_bytes(b)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        if d.exists():
            shutil.rmtree(d)
        tmp.rename(d)
        return load_kit(d)


class Kit:
    """A loaded, verified kit. Read its files with :meth:`array`, :meth:`json` and :meth:`tensors`."""

    def __init__(self, directory: Path, manifest: dict, kit_id: str):
        self.directory, self.manifest, self.kit_id = directory, manifest, kit_id

    @property
    def method(self) -> str:
        """The method that wrote the kit."""
        return self.manifest["method"]

    @property
    def method_version(self) -> int:
        """The version of the method that wrote the kit."""
        return int(self.manifest["method_version"])

    @property
    def meta(self) -> dict:
        """The method's settings and metadata, from the manifest."""
        return self.manifest["meta"]

    @property
    def victim_sha256(self) -> str | None:
        """SHA-256 of the protected model the kit belongs to (None for methods without one)."""
        return self.manifest.get("victim_sha256")

    def _read(self, name: str) -> bytes:
        if name not in self.manifest["files"]:
            raise KitError(f"kit {self.directory} has no file {name!r} (incomplete kit)")
        data = (self.directory / name).read_bytes()
        if _sha(data) != self.manifest["files"][name]:  # re-checked on every read: the folder may change after load
            raise KitError(f"kit file {name} does not match its SHA-256 in the manifest (tampered)")
        return data

    def has_array(self, name: str) -> bool:
        """Whether the kit holds the array ``name`` (kits of older method versions may lack newer ones)."""
        return f"{name}.npy" in self.manifest["files"]

    def array(self, name: str) -> np.ndarray:
        """The array ``name`` (its hash checked on every read)."""
        try:
            return np.load(io.BytesIO(self._read(f"{name}.npy")), allow_pickle=False)
        except ValueError as e:
            raise KitError(f"kit array {name} is unreadable: {e}") from None

    def json(self, name: str):
        """The JSON file ``name`` (its hash checked on every read)."""
        try:
            return json.loads(self._read(f"{name}.json"))
        except json.JSONDecodeError as e:
            raise KitError(f"kit file {name}.json is not valid JSON: {e}") from None

    def tensors(self, name: str) -> tuple[dict, dict]:
        """The tensors of ``name.safetensors`` and the stealguard metadata of its header (hash checked)."""
        from safetensors import SafetensorError
        from safetensors.torch import load

        data = self._read(f"{name}.safetensors")
        try:
            tensors = load(data)
            header_len = int.from_bytes(data[:8], "little")
            header = json.loads(data[8 : 8 + header_len])
            meta = json.loads(header.get("__metadata__", {}).get("stealguard", "{}"))
        except (SafetensorError, ValueError) as e:
            raise KitError(f"kit file {name}.safetensors is unreadable: {e}") from None
        return tensors, meta


def load_kit(directory: str | os.PathLike, method: str | None = None) -> Kit:
    """Open and verify a kit folder (see the module docstring for what is checked)."""
    d = Path(directory)
    if not d.is_dir():
        raise KitError(f"no kit folder at {d}")
    mpath = d / MANIFEST
    if not mpath.is_file():
        raise KitError(f"{d} is not a kit: it has no {MANIFEST}")
    raw = mpath.read_bytes()
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as e:
        raise KitError(f"kit manifest {mpath} is not valid JSON: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise KitError(f"{mpath} is not a stealguard kit manifest")
    if manifest.get("version") != VERSION:
        raise KitError(f"kit format version {manifest.get('version')} is not supported (this stealguard reads version {VERSION})")
    for key in ("method", "method_version", "files", "meta"):
        if key not in manifest:
            raise KitError(f"kit manifest lacks {key!r}")
    files = manifest["files"]
    if not isinstance(files, dict):
        raise KitError("kit manifest 'files' must map names to SHA-256 hashes")
    for name, sha in files.items():
        _check_name(name)
        p = d / name
        if not p.is_file():
            raise KitError(f"kit {d} is incomplete: {name} is missing")
        if _sha(p.read_bytes()) != sha:
            raise KitError(f"kit file {name} does not match its SHA-256 in the manifest (tampered)")
    extra = sorted(p.name for p in d.iterdir() if p.name != MANIFEST and p.name not in files)
    if extra:
        raise KitError(f"kit {d} holds files not in its manifest: {', '.join(extra)}")
    if method is not None and manifest["method"] != method:
        raise KitError(f"kit {d} is a {manifest['method']} kit, not {method}")
    return Kit(d, manifest, _sha(raw))
