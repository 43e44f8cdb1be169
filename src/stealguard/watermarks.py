"""Watermark inputs shared by the watermarking methods (feature sharing, BadNets, ...): a white-square trigger and
out-of-distribution images from another real dataset. One place, so every method stamps the same trigger."""

from __future__ import annotations

import numpy as np

from . import stats
from .errors import ConfigError
from .kit import KitError

TRIGGER_SIDE = {28: 3, 32: 4, 64: 6}  # the feature-sharing paper's trigger sizes


def trigger_side(size: int) -> int:
    """The trigger's side in pixels for images of ``size`` x ``size`` (3 on 28, 4 on 32, 6 on 64, else ~10%)."""
    return TRIGGER_SIDE.get(size, max(2, int(round(size * 0.1))))


def add_trigger(x: np.ndarray, side: int) -> np.ndarray:
    """uint8 (N, H, W, C) images with a white side x side square in the bottom-right corner."""
    if side < 1 or side > min(x.shape[1:3]):
        raise ConfigError(f"trigger side must be in 1..{min(x.shape[1:3])}, got {side}")
    out = x.copy()
    out[:, -side:, -side:, :] = 255
    return out


class TriggerStamp:
    """Stamps the trigger again on the marked samples of a training batch after augmentation (pass it to
    :func:`stealguard.train.fit` as ``after_augment``). A random crop shifts a corner trigger partly or wholly out of
    the image (with padding 4, a 4-pixel trigger is gone from about a fifth of the crops) and a flip moves it to the
    other corner, so without this the model sees relabelled images without their trigger, and the trigger where
    verification never puts it. ``marked``: a bool per training sample."""

    def __init__(self, marked: np.ndarray, side: int):
        self.marked, self.side = np.asarray(marked, bool), int(side)
        self._mask = None

    def __call__(self, xb, idx):
        if self._mask is None or self._mask.device != idx.device:
            import torch

            self._mask = torch.as_tensor(self.marked, device=idx.device)
        xb[self._mask[idx], :, -self.side:, -self.side:] = 1.0  # no sample marked: nothing changes (no device sync)
        return xb

    def cache_key(self, config) -> dict:
        """What the training's cache key must add: nothing on a recipe without augmentation (stamping again changes
        no pixel there, so the model is the one trained before this existed)."""
        return {"trigger_after_augment": self.side} if config.crop_padding or config.flip else {}


def id_trigger_stamp(clean, kind: str, trigger: int, marked: np.ndarray) -> TriggerStamp | None:
    """The :class:`TriggerStamp` of a watermark made by :func:`watermark_set` on the training set ``clean``: the ID
    trigger (``trigger`` 0: the default side) on the ``marked`` samples; None for OOD or text watermarks, which have
    no trigger to move."""
    if kind != "id" or clean.is_features:
        return None
    return TriggerStamp(marked, trigger or trigger_side(clean.x.shape[1]))


def ood_images(source: str, cls: int, shape: tuple[int, int, int], data_dir=None) -> np.ndarray:
    """Images of class ``cls`` of another real dataset as uint8 (N, H, W, C) in the protected task's shape:
    ``digits`` (scikit-learn's 8x8 digits, shipped with it, upscaled) or ``tiny-imagenet-pool`` (resized)."""
    from .data.sources import load_dataset, resize_images

    h, w, c = shape
    if source == "digits":
        from sklearn.datasets import load_digits  # shipped with scikit-learn: no download

        d = load_digits()
        if not 0 <= cls < 10:
            raise ConfigError(f"ood_class must be a digit 0-9 for the digits source, got {cls}")
        x = (d.images[d.target == cls] * (255.0 / 16.0)).round().astype(np.uint8)[..., None]
    elif source == "tiny-imagenet-pool":
        pool = load_dataset("tiny-imagenet-pool", data_dir)
        k = len(pool.train.classes)
        if not 0 <= cls < k:
            raise ConfigError(f"ood_class must be in 0..{k - 1} for the tiny-imagenet pool, got {cls}")
        x = pool.train.x[pool.train.y == cls]
    else:
        raise ConfigError(f"OOD source must be digits or tiny-imagenet-pool, got {source!r}")
    if x.shape[1] != h:
        x = resize_images(x, h)
    if x.shape[3] != c:
        x = np.repeat(x, c, axis=3) if x.shape[3] == 1 else x.mean(axis=3, keepdims=True).round().astype(np.uint8)
    return x


def target_answers(access, x: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """``(p, hit)`` of a suspect on images ``x``: its probability of class ``target`` and whether its top-1 answer is
    ``target``. A labels-only suspect's answers count as one-hot probabilities (it is never asked for scores)."""
    if access.level == "labels":
        hit = np.asarray(access.predict_labels(x)) == target
        return hit.astype(float), hit
    probs = np.asarray(access.predict_proba(x), dtype=float)
    return probs[:, target], probs.argmax(1) == target


def watermark_set(clean, kind: str, source: int, samples: int, trigger: int, ood: str, ood_class: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """The watermark inputs of an owner's training set ``clean``: ``id`` — ``samples`` images of class ``source``
    with the trigger (and their originals); ``ood`` — ``samples`` images of another dataset's class (no originals).
    ``trigger`` 0 and ``ood`` "auto" pick the defaults for the image size and colour. On a text dataset the inputs
    are sentence embeddings: ``id`` inserts ``trigger`` rare trigger words (0: the default count) into sentences of
    class ``source``; ``ood`` takes sentences of class ``ood_class`` of AG News."""
    if clean.is_features:
        return _text_watermark_set(clean, kind, source, samples, trigger, ood, ood_class, rng)
    h, w, c = clean.x.shape[1:]
    if kind == "id":
        originals = clean.x[_source_indices(clean, source, samples, rng, "images")]
        return add_trigger(originals, trigger or trigger_side(h)), originals
    src = ood if ood != "auto" else ("digits" if c == 1 else "tiny-imagenet-pool")
    wm = ood_images(src, ood_class, (h, w, c))
    if len(wm) < samples:
        raise ConfigError(f"the OOD source has {len(wm)} images of class {ood_class}; lower samples (asked {samples})")
    return wm[np.sort(rng.choice(len(wm), samples, replace=False))], None


def _source_indices(clean, source: int, samples: int, rng: np.random.Generator, what: str) -> np.ndarray:
    """``samples`` seeded sorted indices of training samples of class ``source`` (the ID watermark's originals)."""
    k = len(clean.classes)
    if not 0 <= source < k:
        raise ConfigError(f"source must be a class 0..{k - 1}, got {source}")
    pool = np.flatnonzero(clean.y == source)
    if len(pool) < samples:
        raise ConfigError(f"only {len(pool)} training {what} of class {source}; lower samples (asked {samples})")
    return np.sort(rng.choice(pool, samples, replace=False))


TEXT_TRIGGER_WORDS = 1  # trigger words inserted into a sentence when ``trigger`` is 0


def _text_watermark_set(clean, kind: str, source: int, samples: int, trigger: int, ood: str, ood_class: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    from .data.text import class_sentences, encode, insert_trigger

    if clean.texts is None:
        raise ConfigError(f"{clean.name}: a text watermark needs the training sentences, and this set has none")
    if kind == "id":
        idx = _source_indices(clean, source, samples, rng, "sentences")
        texts = insert_trigger([clean.texts[i] for i in idx], trigger or TEXT_TRIGGER_WORDS, rng)
        return encode(texts), clean.x[idx]
    if ood not in ("auto", "agnews"):
        raise ConfigError(f"the OOD source of a text dataset is agnews, got {ood!r}")
    return encode(class_sentences("agnews", ood_class, samples, rng)), None


def least_likely_class(probs: np.ndarray, exclude: int | None = None) -> int:
    """The class with the lowest mean probability over the rows of ``probs`` (optionally never ``exclude``): a
    watermark target an unrelated model has as little reason as possible to answer."""
    mean = np.asarray(probs, float).mean(0)
    if exclude is not None:
        mean[exclude] = np.inf
    return int(np.argmin(mean))


def wilcoxon_watermark_test(suspect, watermark: np.ndarray, originals: np.ndarray | None, target: int, num_classes: int,
                            alpha_cert: float, alpha: float, subsets: int = 200) -> tuple[float, float, dict]:
    """The feature-sharing paper's test: with p the suspect's probability of ``target`` on each watermark input and q
    that on its original (ID) or 1/|Y| (OOD), the one-sided Wilcoxon signed-rank test of H0: p - q <= alpha_cert.
    Returns ``(p_value, mean(p - q), details)``; details hold the watermark accuracy and the WDR (the fraction of
    ``subsets`` random tenths of the watermark on which H0 is rejected at ``alpha``)."""
    p, hit = target_answers(suspect, watermark, target)
    d = p - (target_answers(suspect, originals, target)[0] if originals is not None else 1.0 / num_classes)
    res = stats.wilcoxon(d, "greater", margin=alpha_cert)
    rng = np.random.default_rng(0)
    size = max(5, len(d) // 10)
    wdr = (float(np.mean([stats.wilcoxon(d[rng.choice(len(d), size, replace=False)], "greater", margin=alpha_cert).p_value < alpha
                          for _ in range(subsets)])) if subsets else None)
    return res.p_value, float(np.mean(d)), {"target": target, "alpha_cert": alpha_cert, "samples": int(len(d)),
                                             "watermark_accuracy": float(hit.mean()), "wdr": wdr, "subset_size": size}


def choose_target(plain, wm: np.ndarray, target: int, kind: str, source: int, num_classes: int) -> int:
    """The watermark's target class: ``target``, or for -1 the class the plain model finds least likely on the
    watermark inputs (never the ID source class); checked against the class count."""
    import torch

    from .train import predict_logits

    if target == -1:
        target = least_likely_class(torch.softmax(predict_logits(plain, wm), 1).numpy(), source if kind == "id" else None)
    if not 0 <= target < num_classes or (kind == "id" and target == source):
        raise ConfigError(f"target must be a class 0..{num_classes - 1} other than the source, got {target}")
    return target


def write_watermark_kit(method, model, settings: dict, dataset: str, target: int, wm: np.ndarray,
                        originals: np.ndarray | None, out_kit, **meta):
    """The kit of a watermarking method: the watermark inputs (and their originals for an ID trigger), the target,
    the settings (``kind`` = settings["watermark"]) and the protected model's SHA-256. A text model's kit also holds
    the sentences of those inputs (``texts.json``), so that a live text API can be verified in words."""
    from .kit import KitWriter
    from .models import model_sha256

    kw = KitWriter(method.name, method.version, model_sha256(model), meta={
        "settings": settings, "dataset": dataset, "num_classes": model.spec.num_classes, "target": target,
        "input_shape": list(model.spec.input_shape), **meta})
    kw.add_array("watermark", wm)
    if originals is not None:
        kw.add_array("originals", originals)
    if model.spec.input_dim:
        from .data.text import sentences_of

        kw.add_json("texts", {"watermark": sentences_of(wm), **({"originals": sentences_of(originals)} if originals is not None else {})})
    return kw.write(out_kit)


def _kit_inputs(kit, names: tuple[str, ...]) -> list[np.ndarray]:
    """A kit's watermark inputs ``names``; for a text kit that holds their sentences (``texts.json``, read once),
    remembered with them (see :func:`stealguard.data.text.sentences_of`)."""
    xs = [kit.array(name) for name in names]
    if "texts.json" in kit.manifest["files"]:
        from .data.text import remember_sentences

        texts = kit.json("texts")
        for name, x in zip(names, xs):
            if not isinstance(texts, dict) or not isinstance(texts.get(name), list) or not all(isinstance(t, str) for t in texts[name]):
                raise KitError(f"kit file texts.json has no list of sentences for {name!r} (incomplete kit)")
            remember_sentences(texts[name], x)
    return xs


def watermark_verdict(method, kit, suspect, alpha: float, subsets: int, suspect_id: str | None, blind_spot: str = ""):
    """Verify ``suspect`` against a kit written by :func:`write_watermark_kit` with the Wilcoxon test
    (:func:`wilcoxon_watermark_test`; the margin is the kit's ``alpha_cert``); stolen iff p < alpha. ``blind_spot``:
    the method's measured misses (:class:`~stealguard.verdict.Verdict`)."""
    import time

    from .verdict import Verdict

    t0 = time.perf_counter()
    s = kit.meta["settings"]
    method.check_suspect(suspect, kit.meta["input_shape"], kit.meta["num_classes"])
    q0 = suspect.queries
    wm, *originals = _kit_inputs(kit, ("watermark", "originals") if s["watermark"] == "id" else ("watermark",))
    p, effect, details = wilcoxon_watermark_test(suspect, wm, originals[0] if originals else None,
                                                 int(kit.meta["target"]), kit.meta["num_classes"], s["alpha_cert"], alpha, subsets)
    details["watermark"] = s["watermark"]
    return Verdict(method.name, suspect.level, bool(p < alpha), p, effect, alpha, suspect.queries - q0,
                   round(time.perf_counter() - t0, 3),
                   "one-sided Wilcoxon signed-rank test of H0: (p - q) <= alpha_cert (ID) or (p - 1/|Y|) <= alpha_cert "
                   "(OOD) on the watermark inputs; stolen iff p < alpha", kit.kit_id, suspect_id, details,
                   blind_spot=blind_spot)
