"""Live prediction APIs on loopback: `stealguard serve`, verification of HTTP suspects with MOVE black-box and SAC,
unreliable servers (30% failures, slow answers), the audit log and resuming without re-sending a query."""

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from conftest import one_line_error
from stealguard.access import open_access
from stealguard.cli import cli
from stealguard.methods import verify_suspect
from stealguard.models import save_model
from stealguard.remote import check_audit_log
from stealguard.serve import PredictionServer


def _verify(kit_dir, url, log, *extra):
    r = CliRunner().invoke(cli, ["verify", "--kit", str(kit_dir), "--suspect", url, "--audit-log", str(log), "--json", *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


@pytest.mark.parametrize("method", ["move", "sac"])
def test_served_stolen_model_flagged_and_independent_cleared(method, move_run, population, tmp):
    if method == "move":
        out, _, stolen, independent = move_run
        kit = out / "kit"
    else:
        _, res, stolens, independents = population
        kit, stolen, independent = res.kit.directory, stolens[1], independents[0]  # the logit-query copy
    verdicts = {}
    for name, model in [("stolen", stolen), ("independent", independent)]:
        with PredictionServer(model) as srv:
            verdicts[name] = v = _verify(kit, srv.url, tmp / f"{name}.jsonl")
            remote = v["details"]["remote"]
            assert remote["url"] == srv.url and remote["sent"] == len(srv.answered)  # every image sent once
            assert check_audit_log(tmp / f"{name}.jsonl") == remote["audit_log_entries"] > 0
            local = verify_suspect(_kit(kit), open_access(model, "probabilities"))
            assert v["stolen"] == local.stolen and v["p_value"] == pytest.approx(local.p_value, rel=1e-6, abs=1e-12)
    assert verdicts["stolen"]["stolen"] and not verdicts["independent"]["stolen"]
    # queries per verdict: MOVE's default rule (style-accuracy) m stylised images; SAC n
    expected = 100
    assert verdicts["stolen"]["queries"] == expected


def _kit(path):
    from stealguard.kit import load_kit

    return load_kit(path)


def test_unreliable_and_slow_servers_give_the_same_verdict(move_run, tmp):
    out, _, stolen, independent = move_run
    base = {}
    for name, model in [("stolen", stolen), ("independent", independent)]:
        base[name] = verify_suspect(_kit(out / "kit"), open_access(model, "probabilities"))
        with PredictionServer(model, fail_rate=0.3, seed=3) as flaky:
            v = _verify(out / "kit", flaky.url, tmp / f"flaky-{name}.jsonl", "--retries", "10")
            assert flaky.requests["failed"] > 0  # failures really happened ...
            assert v["details"]["remote"]["retries"] == flaky.requests["failed"]  # ... and each was retried
            assert max(flaky.answered.values()) == 1  # no image answered twice
            assert v["stolen"] == base[name].stolen and v["p_value"] == pytest.approx(base[name].p_value, rel=1e-6, abs=1e-12)
    with PredictionServer(stolen, delay=0.3) as slow:
        t0 = time.perf_counter()
        v = _verify(out / "kit", slow.url, tmp / "slow.jsonl", "--timeout", "10")
        assert time.perf_counter() - t0 >= 0.3 * v["details"]["remote"]["requests"] - 0.5
        assert v["stolen"] == base["stolen"].stolen and v["p_value"] == pytest.approx(base["stolen"].p_value, rel=1e-6)
        assert max(slow.answered.values()) == 1


def test_interrupted_verification_resumes_without_resending(move_run, tmp):
    out, _, stolen, _ = move_run
    log = tmp / "audit.jsonl"
    rule = ("--rule", "calibrated")  # 1,000 queries in 10 batches (the default rule asks one batch of 100)
    with PredictionServer(stolen) as srv:
        r = CliRunner().invoke(cli, ["verify", "--kit", str(out / "kit"), "--suspect", srv.url, "--audit-log", str(log),
                                     "--max-queries", "450", *rule])
        line = one_line_error(r)
        assert "query budget of 450 exhausted" in line and str(log) in line and "rerun" in line
        sent_before = sum(srv.answered.values())
        assert 0 < sent_before <= 450 and check_audit_log(log) > 0  # the partial evidence is on disk
        v = _verify(out / "kit", srv.url, log, *rule)  # resume: only what is missing is sent
        assert max(srv.answered.values()) == 1
        assert v["details"]["remote"]["sent"] == sum(srv.answered.values()) - sent_before
        assert v["details"]["remote"]["from_log"] >= sent_before
        again = _verify(out / "kit", srv.url, log, *rule)  # a third run sends nothing at all
        assert again["details"]["remote"]["sent"] == 0 and again["p_value"] == v["p_value"]
    # a half-written last line (a run killed while writing) is dropped; the rest of the log still counts
    with open(log, "ab") as f:
        f.write(b'{"url": "http://x", "ima')
    with PredictionServer(stolen) as srv2:  # another port: another URL, so its answers are asked anew
        v3 = _verify(out / "kit", srv2.url, log, *rule)
        assert v3["stolen"] == v["stolen"] and check_audit_log(log) == v3["details"]["remote"]["audit_log_entries"]


def test_rounded_and_top1_apis(population, tmp):
    _, res, stolen, independent = population
    with PredictionServer(stolen[1], output="top1") as srv:
        v = _verify(res.kit.directory, srv.url, tmp / "top1.jsonl", "--access", "labels")
        assert v["access"] == "labels" and v["details"]["remote"]["output"] == "top1"
        r = CliRunner().invoke(cli, ["verify", "--kit", str(res.kit.directory), "--suspect", srv.url,
                                     "--audit-log", str(tmp / "x.jsonl")])
        assert "labels only" in one_line_error(r)
    with PredictionServer(stolen[1], output="rounded:2") as srv:  # rows sum to 1 only within the rounding: accepted
        v = _verify(res.kit.directory, srv.url, tmp / "r2.jsonl")
        local = verify_suspect(res.kit, open_access(stolen[1], "probabilities", output="rounded:2"))
        assert v["effect"] == pytest.approx(local.effect, abs=1e-9) and v["stolen"] == local.stolen


def test_stealguard_serve_command_and_remote_theft(fmnist_victim, tmp):
    """The real CLI in a subprocess serves a model; a label-query theft goes through it like through a file."""
    victim, _ = fmnist_victim
    save_model(victim, tmp / "victim.safetensors", extra={"dataset": "fashion-mnist"})
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "stealguard", "serve", str(tmp / "victim.safetensors"), "--port", "0",
                             "--output", "top1"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()
        assert "serving" in line, line
        url = line.split(" at ")[1].split(" ")[0]
        r = CliRunner().invoke(cli, ["steal", "label-query", "--victim", url, "--dataset", "fashion-mnist", "--arch", "cnn",
                                     "--width", "0.5", "--limit", "2000", "--epochs", "2", "--out", str(tmp / "s"),
                                     "--audit-log", str(tmp / "steal.jsonl")])
        assert r.exit_code == 0, r.output
        rec = json.loads((tmp / "s" / "record.json").read_text())
        assert rec["victim_url"] == url and rec["queries"] == 2000 and rec["fidelity"] > 0.6
        assert rec["remote"]["sent"] >= 2000 and check_audit_log(tmp / "steal.jsonl") > 0
        r = CliRunner().invoke(cli, ["steal", "fine-tune", "--victim", url, "--dataset", "fashion-mnist", "--out", str(tmp / "f"),
                                     "--audit-log", str(tmp / "ft.jsonl")])
        assert "needs the victim's weights" in one_line_error(r)
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode is not None


def test_onnx_model_served_and_answers_match_the_file(tmp):
    import numpy as np
    import torch

    from stealguard.models import ModelSpec, build_model, export_onnx

    torch.manual_seed(0)
    export_onnx(build_model(ModelSpec(arch="cnn", num_classes=10, in_channels=3, image_size=(32, 32), width=0.25)).eval(),
                tmp / "m.onnx")
    x = np.random.default_rng(0).integers(0, 256, (37, 32, 32, 3), dtype=np.uint8)
    with PredictionServer(tmp / "m.onnx", max_batch=16) as srv:
        remote = open_access(srv.url, "probabilities", remote={"audit_log": tmp / "a.jsonl", "batch_size": 16})
        assert remote.input_shape == (3, 32, 32) and remote.num_classes == 10
        np.testing.assert_allclose(remote.predict_proba(x), open_access(tmp / "m.onnx").predict_proba(x), atol=1e-6)
        assert remote.describe()["remote"]["sent"] == 37 and remote.describe()["remote"]["requests"] == 1 + 3
        # the rate limit spaces requests: 4 per second -> /info and 3 predict requests take at least 0.75 s
        t0 = time.perf_counter()
        slow = open_access(srv.url, "probabilities", remote={"audit_log": tmp / "b.jsonl", "batch_size": 16, "rate_limit": 4})
        slow.predict_proba(x)
        assert time.perf_counter() - t0 >= 0.75 and slow.describe()["remote"]["requests"] == 4
