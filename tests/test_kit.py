"""The kit format (manifest of SHA-256 hashes) and the Verdict."""

import json

import numpy as np
import pytest
import torch

from stealguard.kit import KitError, KitWriter, load_kit
from stealguard.verdict import Verdict


def _kit(tmp):
    w = KitWriter("demo-method", 1, "ab" * 32, meta={"alpha": 0.01})
    w.add_array("samples", np.arange(12, dtype=np.uint8).reshape(3, 2, 2, 1))
    w.add_json("settings", {"m": 10})
    w.add_tensors("meta", {"w": torch.ones(2, 3)}, {"dim": 3})
    return w.write(tmp / "kit")


def test_roundtrip_and_identity(tmp):
    kit = _kit(tmp)
    assert kit.method == "demo-method" and kit.method_version == 1 and kit.meta == {"alpha": 0.01}
    assert kit.victim_sha256 == "ab" * 32
    assert kit.array("samples").shape == (3, 2, 2, 1)
    assert kit.json("settings") == {"m": 10}
    tensors, meta = kit.tensors("meta")
    assert torch.equal(tensors["w"], torch.ones(2, 3)) and meta == {"dim": 3}
    assert len(kit.kit_id) == 64
    assert load_kit(tmp / "kit").kit_id == kit.kit_id


def test_tampered_file_fails_loudly(tmp):
    kit = _kit(tmp)
    arr = np.load(kit.directory / "samples.npy")
    arr[0, 0, 0, 0] = 99
    np.save(kit.directory / "samples.npy", arr)
    with pytest.raises(KitError, match="tampered"):
        load_kit(kit.directory)
    with pytest.raises(KitError, match="tampered"):  # also when the change happens after loading
        kit.array("samples")


def test_incomplete_extra_and_foreign_kits(tmp):
    kit = _kit(tmp)
    (kit.directory / "settings.json").unlink()
    with pytest.raises(KitError, match="incomplete"):
        load_kit(kit.directory)
    kit = _kit(tmp)
    (kit.directory / "smuggled.npy").write_bytes(b"x")
    with pytest.raises(KitError, match="not in its manifest"):
        load_kit(kit.directory)
    kit = _kit(tmp)
    with pytest.raises(KitError, match="not move"):
        load_kit(kit.directory, method="move")
    manifest = json.loads((kit.directory / "manifest.json").read_text())
    manifest["version"] = 99
    (kit.directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(KitError, match="version 99"):
        load_kit(kit.directory)
    (kit.directory / "manifest.json").write_text("{not json")
    with pytest.raises(KitError, match="not valid JSON"):
        load_kit(kit.directory)
    with pytest.raises(KitError, match="no kit folder"):
        load_kit(tmp / "nowhere")
    with pytest.raises(KitError, match="bad kit file name"):
        KitWriter("m", 1, None).add_bytes("../escape", b"")


def test_verdict_json_and_summary():
    v = Verdict("move", "probabilities", True, np.float64(1e-5), 0.8, 0.01, 1000, 2.5, "rule", "k" * 64, "s" * 64,
                {"p_paper": float("nan"), "arr": (np.int64(3),)})
    d = json.loads(v.to_json())
    assert d["stolen"] is True and d["p_value"] == 1e-5 and d["details"]["p_paper"] == "nan" and d["details"]["arr"] == [3]
    assert "STOLEN" in v.summary() and "p = 1e-05" in v.summary() and "1000 queries" in v.summary()
    v2 = Verdict("sac", "labels", False, None, 0.12, None, 50, 0.1)
    assert "not shown stolen" in v2.summary() and "p =" not in v2.summary()
    # a rule's measured caveat goes into an accusation's summary line, its measured blind spot into a clearance's
    both = dict(caveat="accused a stranger once", blind_spot="missed distilled copies")
    accused, cleared = (Verdict("move", "labels", s, 0.5, 0.1, 0.01, 10, 0.1, **both) for s in (True, False))
    assert "Caveat: accused a stranger once" in accused.summary() and "Known to miss" not in accused.summary()
    assert "Known to miss: missed distilled copies" in cleared.summary() and "Caveat" not in cleared.summary()
    assert json.loads(cleared.to_json())["blind_spot"] == "missed distilled copies"
    # a person reads it: short lines, the evidence one item a line, long explanations wrapped
    long = Verdict("move", "labels", True, 1e-4, 0.3, 0.01, 10, 0.1, "the suspect agrees with the owner " * 20,
                   "a" * 64, "b" * 64, caveat="a model trained with the same public style " * 30)
    lines = long.summary().splitlines()
    assert max(map(len, lines)) <= 100 and len(lines) > 10
    assert f"  kit sha256 {'a' * 64}" in lines and f"  suspect sha256 {'b' * 64}" in lines
    assert "  p = 0.0001 (alpha 0.01)" in lines and "  effect = 0.3" in lines and "  10 queries, 0.1 s" in lines
