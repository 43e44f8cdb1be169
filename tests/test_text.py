"""Text models (SST-2 sentence embeddings of the frozen MiniLM encoder + an mlp), fixed seeds: the data layer, model
files, and the watermarks of the feature-sharing paper's text setting — a model extracted from a protected text API
through label queries carries the watermark, an independent text model does not."""

import json
import time

import numpy as np
import pytest
from click.testing import CliRunner

from stealguard.access import open_access
from stealguard.attacks import run_attack
from stealguard.cli import cli
from stealguard.data import load_dataset, make_splits
from stealguard.data.text import TRIGGER_WORDS, insert_trigger
from stealguard.errors import ConfigError, DataError, StealguardError
from stealguard.methods import FeatureSharing, FeatureSharingSettings, verify_suspect
from stealguard.models import build_model, export_onnx, load_model, save_model, spec_for
from stealguard.recipes import cpu_recipe, train_classifier

DATASET = "sst2-4k"


@pytest.fixture(scope="module")
def sst2():
    return make_splits(load_dataset(DATASET), 0)


def test_text_dataset_is_cached_sentence_embeddings(sst2):
    d = sst2.defender
    assert d.x.dtype == np.float32 and d.x.shape == (2000, 384) and len(d.texts) == 2000
    assert np.allclose(np.linalg.norm(d.x, axis=1), 1.0, atol=1e-4)  # L2-normalised MiniLM embeddings
    assert set(np.unique(d.y)) == {0, 1} and sst2.test.x.shape == (1821, 384)
    t0 = time.perf_counter()
    again = load_dataset(DATASET)
    assert time.perf_counter() - t0 < 10 and np.array_equal(again.test.x, sst2.test.x)  # encoded once, then cached
    sub = d.subset(np.array([5, 1]))
    assert sub.texts == [d.texts[5], d.texts[1]]
    out = insert_trigger(["a b c", "x"], 2, np.random.default_rng(0))
    assert all(TRIGGER_WORDS[0] in s.split() and TRIGGER_WORDS[1] in s.split() for s in out)
    assert sorted(out[0].split()) == sorted(["a", "b", "c", *TRIGGER_WORDS[:2]])


def test_bad_text_files_are_one_line_errors(tmp_path):
    (tmp_path / "text").mkdir()
    with pytest.raises(DataError, match="missing text file sst2_train.tsv"):
        load_dataset("sst2", tmp_path)
    (tmp_path / "text" / "sst2_train.tsv").write_text("label\tsentence\n1\tfine\nnot a row\n")
    (tmp_path / "text" / "sst2_test.tsv").write_text("label\tsentence\n0\tbad\n")
    with pytest.raises(DataError, match="line 3: expected two tab-separated columns"):
        load_dataset("sst2", tmp_path)
    (tmp_path / "text" / "sst2_train.tsv").write_text("label\tsentence\n7\tfine\n")
    with pytest.raises(DataError, match="labels must be 0 or 1"):
        load_dataset("sst2", tmp_path)
    with pytest.raises(DataError, match="SST-2 has"):
        load_dataset("sst2-999k")
    with pytest.raises(DataError, match="no image size"):
        load_dataset("sst2-4k", image_size=32)


def test_text_models_files_and_access(sst2, tmp_path):
    model, rec = train_classifier(sst2, "mlp", 1.0, cpu_recipe(DATASET, progress=False))
    assert rec["accuracy"] > 0.75  # frozen MiniLM + mlp on 2,000 sentences (about 0.80)
    save_model(model, tmp_path / "m.safetensors")
    export_onnx(model, tmp_path / "m.onnx")
    x = sst2.test.x[:64]
    p = open_access(model, "probabilities").predict_proba(x)
    for path in ("m.safetensors", "m.onnx"):
        assert np.allclose(open_access(str(tmp_path / path), "probabilities").predict_proba(x), p, atol=1e-5)
    assert load_model(tmp_path / "m.safetensors").spec.input_dim == 384
    with pytest.raises(StealguardError, match="feature vectors"):
        open_access(model, "labels").predict_labels(np.zeros((2, 28, 28, 1), np.uint8))
    with pytest.raises(ConfigError, match="'cnn' takes images"):
        build_model(spec_for(sst2, "cnn"))


@pytest.fixture(scope="module")
def protected(sst2, tmp_path_factory):
    kit = tmp_path_factory.mktemp("fs-text") / "kit"
    # 300 watermark sentences (the default is 150): with 150 the label-query thief's verdict moved with the CPU (p ~
    # 1e-6 on an Intel Xeon; on an AMD EPYC 1e-4 to 0.08 over thief seeds 1-6, seed 1 above alpha); with 300 it was
    # 1e-15 to 1e-6 over the same seeds there, independent models p = 1, for 2.3 points of accuracy
    res = FeatureSharing().protect(sst2, FeatureSharingSettings(dataset=DATASET, arch="mlp", watermark="id", source=0,
                                                                samples=300, freeze=1), kit)
    thief = run_attack("label-query", res.model, sst2, arch="mlp", epochs=10, limit=2000, seed=1)[0]
    independent = train_classifier(sst2, "mlp", 1.0, cpu_recipe(DATASET, seed=3, progress=False), split="attacker")[0]
    return res, thief, independent


def test_extracted_text_model_carries_the_watermark_independent_does_not(protected, tmp_path):
    res, thief, independent = protected
    # a bound for 2,000 training sentences and a 1,821-sentence test set, where the cost moves with the CPU's
    # floating point (150 sentences: -0.0 to -2.4 points seen; 300: -2.3 on an AMD EPYC); the paper's "at most 1
    # point" is benchmarks/feature_sharing.md's claim
    assert res.record["victim"]["accuracy"] >= res.record["benign"][0]["accuracy"] - 0.04
    prot = verify_suspect(res.kit, open_access(res.model, "probabilities"))
    stolen = verify_suspect(res.kit, open_access(thief, "labels"))
    ind = verify_suspect(res.kit, open_access(independent, "labels"))
    assert prot.stolen and prot.details["watermark_accuracy"] > 0.8
    assert stolen.stolen and stolen.details["watermark_accuracy"] > 0.4
    assert not ind.stolen and ind.details["watermark_accuracy"] < 0.3
    # the same verdict through the CLI, on the thief's ONNX file
    export_onnx(thief, tmp_path / "thief.onnx")
    out = CliRunner().invoke(cli, ["verify", "--kit", str(res.kit.directory), "--suspect", str(tmp_path / "thief.onnx"),
                                   "--access", "labels", "--json"])
    assert out.exit_code == 0, out.output
    v = json.loads(out.output)
    assert v["stolen"] is True and v["p_value"] == pytest.approx(stolen.p_value)


def test_cli_schemes_baseline_and_ewe(sst2, tmp_path):
    """``protect feature-sharing --scheme``: the paper's two baselines on the same watermark options."""
    base = ["protect", "feature-sharing", "--dataset", DATASET, "--arch", "mlp", "--samples", "100"]
    r = CliRunner().invoke(cli, base + ["--scheme", "ewe", "--out", str(tmp_path / "ewe")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "ewe" / "record.json").read_text())["method"] == "ewe"
    r = CliRunner().invoke(cli, base + ["--scheme", "baseline", "--out", str(tmp_path / "bl")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "bl" / "record.json").read_text())["frozen_blocks"] == 0
    for extra, msg in ((["--scheme", "ewe", "--freeze", "1"], "--freeze is a feature-sharing option"),
                       (["--scheme", "baseline", "--freeze", "2"], "leave out --freeze")):
        r = CliRunner().invoke(cli, base + extra + ["--out", str(tmp_path / "x")])
        assert r.exit_code != 0 and msg in r.output and "Traceback" not in r.output


def test_live_text_api_stolen_over_http_and_verified_in_words(protected, sst2, tmp_path):
    """A protected text model behind a live text API (sentences in, top-1 labels out) is extracted over HTTP with the
    attacker's sentences (300 of them here: the mechanics); the kit alone (its sentences, nothing remembered from
    protecting) verifies a thief's own text API — the fixture's label-query thief, the same recipe on 2,000 sentences:
    flagged — and an independent model's — not; an input that is no sentence is refused before sending."""
    import dataclasses
    import urllib.request

    from stealguard.data import text
    from stealguard.remote import HttpBackend, RemoteError, check_audit_log
    from stealguard.serve import PredictionServer

    res, thief, independent = protected
    with PredictionServer(res.model, output="top1") as api:
        victim = HttpBackend(api.url, audit_log=tmp_path / "theft.jsonl")
        assert victim.text and victim.input_shape == (384,) and victim.kind == "labels"
        small = dataclasses.replace(sst2, test=sst2.test.subset(np.arange(200)))  # fidelity on 200 sentences: fewer to embed
        _, rec = run_attack("label-query", victim, small, arch="mlp", epochs=10, limit=300, seed=1, use_cache=False)
        sent = len(set(sst2.attacker.take(300, 1).texts) | set(small.test.texts))  # each sentence is sent once
        assert rec["queries"] == 300 and victim.stats["sent"] == sent == sum(api.answered.values())
        assert check_audit_log(tmp_path / "theft.jsonl") >= 2 and rec["fidelity"] > 0.7, rec["fidelity"]  # a working copy (0.82)
        req = urllib.request.Request(api.url, data=json.dumps({"images": [[[[0.0]]]]}).encode(), method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 400 and b"this is a text API" in e.value.read()
    text._SENTENCES.clear()  # what verification knows of the watermark's words comes from the kit
    for model, stolen in ((thief, True), (independent, False)):
        with PredictionServer(model) as api:
            out = CliRunner().invoke(cli, ["verify", "--kit", str(res.kit.directory), "--suspect", api.url, "--json",
                                           "--audit-log", str(tmp_path / f"verify-{stolen}.jsonl")])
            assert out.exit_code == 0, out.output
            v = json.loads(out.output)
            assert v["stolen"] is stolen and v["queries"] == 600, v  # 300 watermark sentences, with and without the trigger
            with pytest.raises(RemoteError, match="text API: input 0 is an embedding with no known sentence"):
                open_access(api.url, "probabilities", remote={"audit_log": tmp_path / "x.jsonl"}).predict_proba(
                    np.random.default_rng(0).normal(size=(2, 384)).astype(np.float32))
