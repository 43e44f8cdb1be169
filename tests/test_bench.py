"""The benchmark harness: scenario validation, a tiny grid run end to end (real training, real verdicts), resuming a
run killed with SIGKILL, the Ray executor, a warm-cache rerun, and the report."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from stealguard.bench import ResultsDB, load_scenario, parse_scenario, run_bench, shipped_scenarios, write_report
from stealguard.bench.grid import expand
from stealguard.errors import ConfigError

from conftest import SESSION_CACHE

TINY = {
    "name": "tiny",
    "dataset": "fashion-mnist",
    "victim": {"arch": "cnn", "width": 0.5, "limit": 2000, "epochs": 2},
    "methods": [{"method": "sac", "label": "SAC-m", "access": ["probabilities"],
                 "settings": {"variant": "m", "surrogates": 1, "references": 2, "limit": 2000, "epochs": 2}}],
    "attacks": [{"attack": "fine-tune", "label": "Fine-tuning", "settings": {"epochs": 1, "limit": 1000}},
                {"attack": "label-query", "label": "Label-query", "settings": {"epochs": 2, "limit": 2000}}],
    "independent": [{"arch": "cnn", "width": 0.5, "seed": 0, "limit": 2000, "epochs": 2},
                    {"arch": "cnn", "width": 0.5, "seed": 1, "limit": 2000, "epochs": 2}],
}


def _bad(**changes):
    doc = yaml.safe_load(yaml.safe_dump(TINY))
    for path, value in changes.items():
        *parents, last = path.split(".")
        d = doc
        for p in parents:
            d = d[int(p)] if isinstance(d, list) else d[p]
        if value is None:
            del d[last]
        elif isinstance(d, list):
            d[int(last)] = value
        else:
            d[last] = value
    with pytest.raises(ConfigError) as e:
        parse_scenario(doc)
    return str(e.value)


def test_shipped_scenarios_are_valid():
    names = shipped_scenarios()
    assert {"fmnist-quick", "fmnist-full", "cifar10-cpu", "tiny-imagenet-cpu", "cifar10-paper"} <= set(names)
    for n in names:
        sc = load_scenario(n)
        jobs = expand(sc)
        keys = [j.key for j in jobs]
        assert len(keys) == len(set(keys))
        seen = set()
        for j in jobs:  # dependencies always come first: the scheduler can walk the list
            assert set(j.deps) <= seen, j.key
            seen.add(j.key)


@pytest.mark.parametrize("change, words", [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"victim": None}, "victim is required"),
    ({"victim.arch": "alexnet"}, "unknown architecture 'alexnet'"),
    ({"victim.limit": -5}, "victim.limit must be > 0"),
    ({"victim.width": "wide"}, "victim.width must be"),
    ({"seeds": [0, 0]}, "distinct integers"),
    ({"methods.0.method": "magic"}, "unknown method 'magic'"),
    ({"methods.0.access": ["root"]}, "methods[0].access"),
    ({"methods.0.settings": {"variant": "x"}}, "methods[0].settings"),
    ({"methods.0.settings": {"sharpness": 3}}, "sharpness"),
    ({"methods.0.settings": {"seed": 3}}, "comes from the scenario"),
    ({"methods.0.verify": {"m": 10}}, "methods[0].verify.m"),
    ({"attacks.0.attack": "teleport"}, "unknown attack 'teleport'"),
    ({"attacks.1.label": "Fine-tuning"}, "share a label"),
    ({"attacks.0.settings": {"epochs": "many"}}, "attacks[0].settings"),
    ({"scale": "huge"}, "scale must be"),
    ({"methods.0.attacks": ["Pruning"]}, "no attack labelled 'Pruning'"),
    ({"methods.0.attacks": "Fine-tuning"}, "methods[0].attacks must be a list"),
    ({"independent.0.recipe": {"nesterov": True}}, "unknown key 'independent[0].recipe.nesterov'"),
    ({"independent.0.recipe": {"flip": 1}}, "independent[0].recipe.flip must be bool"),
    ({"independent.0.recipe": {"crop_padding": True}}, "independent[0].recipe.crop_padding must be int"),
    ({"independent.0.style": {"styles": ["builtin:3"]}}, "independent[0].style.rate is required"),
    ({"independent.0.style": {"styles": [], "rate": 0.1}}, "independent[0].style.styles must be a non-empty list"),
    ({"independent.0.style": {"styles": ["builtin:3"], "rate": 1.5}}, "independent[0].style.rate must be in (0, 1]"),
    ({"independent.0.style": {"styles": ["builtin:99"], "rate": 0.1}}, "independent[0].style.styles: bad style 'builtin:99'"),
])
def test_scenario_errors_name_the_place(change, words):
    assert words in _bad(**change)


def test_an_independent_model_may_change_the_recipe():
    """A stranger's habits (augmentation, optimizer) as an independent model's recipe changes: in its label and job,
    and a model without changes keeps the job it had before the option existed."""
    doc = dict(TINY, independent=[{"arch": "cnn", "seed": 3}, {"arch": "cnn", "seed": 3, "recipe": {"flip": True, "optimizer": "adam"}}])
    sc = parse_scenario(doc)
    assert [s.label for s in sc.independent] == ["cnn w1 seed 3, all imgs, default ep",
                                                 "cnn w1 seed 3, all imgs, default ep, flip True, optimizer adam"]
    jobs = [j for j in expand(sc) if j.kind == "independent"]
    assert "recipe" not in jobs[0].spec["independent"]
    assert jobs[1].spec["independent"]["recipe"] == {"flip": True, "optimizer": "adam"}


def test_an_independent_model_may_train_with_style_augmentation():
    """A stranger who stylises part of its own images with styles of its own: in its label and job; the drawn images
    are shared among the styles in turn (stylize_share, also MOVE's embedding)."""
    doc = dict(TINY, independent=[{"arch": "cnn", "seed": 3},
                                  {"arch": "cnn", "seed": 3, "style": {"styles": ["builtin:3", "patch:2"], "rate": 0.3}}])
    sc = parse_scenario(doc)
    assert sc.independent[1].label == "cnn w1 seed 3, all imgs, default ep, styles builtin:3+patch:2 at 0.3"
    jobs = [j for j in expand(sc) if j.kind == "independent"]
    assert "styles" not in jobs[0].spec["independent"] and "style_rate" not in jobs[0].spec["independent"]
    assert jobs[1].spec["independent"]["styles"] == ["builtin:3", "patch:2"] and jobs[1].spec["independent"]["style_rate"] == 0.3

    from stealguard.style import make_stylizer, stylize_share

    images = np.zeros((20, 8, 8, 1), np.uint8)
    ids, styled = stylize_share(images, [make_stylizer("patch:2"), make_stylizer("patch:4")], 0.25, np.random.default_rng(0))
    assert len(ids) == 5 and list(ids) == sorted(set(ids.tolist()))
    assert [int((s > 0).sum()) for s in styled] == [4, 16, 4, 16, 4]  # the two patch sizes take the images in turn
    with pytest.raises(ConfigError, match="stylises none"):
        stylize_share(images, make_stylizer("patch"), 0.01, np.random.default_rng(0))


def test_entries_share_a_protection_and_choose_their_attacks():
    """Entries with the same method and settings (access a subset) share one protect job, its victim and thefts;
    ``attacks`` limits which thefts an entry is judged on (and which are run against its own victim)."""
    move = {"style": "builtin:0", "rate": 0.1, "benign_models": 1, "references": 1, "style_references": 0}
    doc = dict(TINY, methods=[
        {"method": "move", "label": "MOVE", "access": ["white-box", "probabilities"], "settings": move},
        {"method": "move", "label": "MOVE m=20", "access": ["probabilities"], "settings": move, "verify": {"m": 20}},
        {"method": "move", "label": "MOVE γ=0.2", "access": ["probabilities"], "settings": dict(move, rate=0.2),
         "attacks": ["Label-query"]}])
    jobs = expand(parse_scenario(doc))
    protects = [j.key for j in jobs if j.kind == "protect"]
    assert protects == ["protect/MOVE/s0", "protect/MOVE γ=0.2/s0"]
    steals = [j.key for j in jobs if j.kind == "steal"]
    assert steals == ["steal/MOVE/s0/Fine-tuning", "steal/MOVE/s0/Label-query", "steal/MOVE γ=0.2/s0/Label-query"]
    shared = [j for j in jobs if j.key.startswith("verify/MOVE m=20/")]
    assert len(shared) == 1 + 2 + 2 and {j.spec["protect_job"] for j in shared} == {"protect/MOVE/s0"}
    assert {j.spec["suspect"] for j in jobs if j.key.startswith("verify/MOVE γ=0.2/")} == {
        "Source", "Label-query", *(s.label for s in parse_scenario(doc).independent)}
    # a method whose protection does not depend on the access levels (near-boundary) shares it across levels;
    # MOVE, which trains one meta-classifier per level, does not
    nb = {"boundaries": "0:1"}
    doc = dict(TINY, methods=[
        {"method": "near-boundary", "label": "NB", "access": ["white-box"], "settings": nb},
        {"method": "near-boundary", "label": "NB calibrated", "access": ["probabilities"], "settings": nb},
        {"method": "move", "label": "MOVE wb", "access": ["white-box"], "settings": move},
        {"method": "move", "label": "MOVE bb", "access": ["probabilities"], "settings": move}])
    jobs = expand(parse_scenario(doc))
    assert [j.key for j in jobs if j.kind == "protect"] == ["protect/NB/s0", "protect/MOVE wb/s0", "protect/MOVE bb/s0"]
    assert {j.spec["protect_job"] for j in jobs if j.key.startswith("verify/NB calibrated/")} == {"protect/NB/s0"}


def test_protections_that_start_from_the_plain_victim_wait_for_it():
    """Several protections that each start from the plain victim (feature sharing, EWE, ...) get one victim job to
    wait for, instead of all training the same model at once; MOVE, which trains from scratch, gets none."""
    fs = {"watermark": "id", "samples": 20}
    doc = dict(TINY, methods=[
        {"method": "feature-sharing", "label": "FS", "access": ["probabilities"], "settings": fs},
        {"method": "feature-sharing", "label": "Baseline", "access": ["probabilities"], "settings": dict(fs, freeze=0)}])
    jobs = expand(parse_scenario(doc))
    assert [j.key for j in jobs if j.kind == "victim"] == ["victim/s0"]
    assert {j.deps for j in jobs if j.kind == "protect"} == {("victim/s0",)}
    assert not any(j.key.startswith("steal/plain") for j in jobs)  # nothing is stolen from the plain victim itself
    one = dict(doc, methods=doc["methods"][:1])
    assert not [j for j in expand(parse_scenario(one)) if j.kind == "victim"]
    move = {"style": "builtin:0", "rate": 0.1, "benign_models": 1, "references": 1, "style_references": 0}
    two_moves = dict(TINY, methods=[{"method": "move", "label": "A", "access": ["probabilities"], "settings": move},
                                    {"method": "move", "label": "B", "access": ["probabilities"], "settings": dict(move, rate=0.2)}])
    assert not [j for j in expand(parse_scenario(two_moves)) if j.kind == "victim"]


def test_sweep_groups_find_one_varying_setting():
    from stealguard.bench.report import _sweep_groups

    base = {"method": "move", "access": ["probabilities"], "settings": {"rate": 0.1, "style": "builtin:0"}, "verify": {}}
    ms = [dict(base, label="a"), dict(base, label="b", settings={"rate": 0.05, "style": "builtin:0"}),
          dict(base, label="c", settings={"rate": 0.2, "style": "builtin:0"}),
          dict(base, label="d", settings={"rate": 0.2, "style": "patch"}),  # differs in two settings: not in the sweep
          dict(base, label="e", verify={"m": 20}), dict(base, label="f", verify={"m": 50})]
    assert _sweep_groups(ms) == [("move", "settings.rate", [(0.05, "b"), (0.1, "a"), (0.2, "c")])]  # m: two values only


def test_scenario_file_errors(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\nvictim: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_scenario(str(p))
    with pytest.raises(ConfigError, match="no scenario file"):
        load_scenario(str(tmp_path / "missing.yaml"))


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("scenario") / "tiny.yaml"
    p.write_text(yaml.safe_dump(TINY))
    return p


@pytest.fixture(scope="module")
def reference_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache-ref")


@pytest.fixture(scope="module")
def reference_run(tiny_path, reference_cache, tmp_path_factory, monkeypatch_module):
    """The tiny grid, uninterrupted, local executor, on a cache of its own."""
    monkeypatch_module.setenv("STEALGUARD_CACHE", str(reference_cache))
    out = tmp_path_factory.mktemp("runs") / "ref"
    t0 = time.perf_counter()
    summary = run_bench(load_scenario(str(tiny_path)), out, "local", workers=2, progress=False)
    return out, summary, time.perf_counter() - t0


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_grid_runs_and_flags_the_theft_not_the_independents(reference_run):
    out, summary, _ = reference_run
    assert summary["complete"] and not summary["failed"] and summary["jobs"] == 11
    db = ResultsDB(out / "results.sqlite")
    v = {r["suspect"]: r for r in db.rows("verdicts")}
    assert v["Source"]["stolen"] == 1 and v["Fine-tuning"]["stolen"] == 1
    independents = [r for r in db.rows("verdicts") if r["suspect_kind"] == "independent"]
    assert len(independents) == 2 and not any(r["stolen"] for r in independents)
    assert all(r["fidelity"] is not None for r in independents)
    stolen = {r["label"]: r for r in db.rows("models", "WHERE role = 'stolen'")}
    assert stolen["Label-query"]["queries"] == 2000 and stolen["Fine-tuning"]["queries"] == 0
    # a real SQLite file anyone can query
    con = sqlite3.connect(out / "results.sqlite")
    assert con.execute("SELECT count(*) FROM verdicts WHERE suspect_kind = 'independent' AND stolen = 1").fetchone() == (0,)


def test_report_tables_and_plots(reference_run):
    out, _, _ = reference_run
    page = write_report(out).read_text()
    for f in ("attacks.csv", "verification.csv", "auc.csv", "summary.csv", "protection.csv", "roc.png", "scores.png"):
        assert (out / "report" / f).stat().st_size > 0
    assert "| SAC-m | probabilities | 1/2 | 0/2 |" in page or "| SAC-m | probabilities | 2/2 | 0/2 |" in page
    assert "| Fine-tuning | 1.00 |" in page  # AUC: the fine-tuned copy is closer than both independent models


def test_a_failed_theft_is_neither_a_detection_nor_a_miss(reference_run, tmp_path):
    """A stolen model below twice chance accuracy (here the label-query copy, set to 0.12 in a copy of the run) is
    reported as a failed theft: marked in the models table, its row out of the detection count and the AUC."""
    out, _, _ = reference_run
    run = tmp_path / "run"
    shutil.copytree(out, run, ignore=shutil.ignore_patterns("report"))
    con = sqlite3.connect(run / "results.sqlite")
    with con:
        con.execute("UPDATE models SET accuracy = 0.12 WHERE role = 'stolen' AND label = 'Label-query'")
    con.close()
    page = write_report(run).read_text()
    assert "Label-query (victim plain, seed 0) — **failed theft**" in page
    assert "failed theft (test accuracy 0.120, below twice chance): neither a detection nor a miss" in page
    summary = (run / "report" / "summary.csv").read_text().splitlines()[1].split(",")
    assert summary[2] == "1/1"  # only the fine-tuned copy is counted
    auc = {r.split(",")[0]: r.split(",")[1] for r in (run / "report" / "auc.csv").read_text().splitlines()[1:]}
    assert auc["Label-query"] in ("", "–") and auc["Fine-tuning"] == "1.00"


def test_rerun_is_a_no_op_and_another_scenario_is_refused(reference_run, tiny_path):
    out, _, _ = reference_run
    before = ResultsDB(out / "results.sqlite").snapshot()
    s = run_bench(load_scenario(str(tiny_path)), out, "inline", progress=False)
    assert s["new"] == 0 and s["complete"]
    assert ResultsDB(out / "results.sqlite").snapshot() == before
    other = parse_scenario(dict(TINY, name="other", seeds=[1]))
    with pytest.raises(ConfigError, match="another scenario"):
        run_bench(other, out, "inline", progress=False)
    # a job an earlier stealguard planned and this one does not is forgotten, with its rows, on the next run
    db = ResultsDB(out / "results.sqlite")
    with db.con:
        db.con.execute("INSERT INTO jobs SELECT 'steal/gone/s0/x', kind, status, result, error, seconds, finished "
                       "FROM jobs WHERE kind = 'steal' LIMIT 1")
        db.con.execute("INSERT INTO models SELECT 'steal/gone/s0/x', role, grp, seed, label, attack, arch, width, "
                       "accuracy, fidelity, queries, sha256, path, seconds FROM models WHERE role = 'stolen' LIMIT 1")
    assert db.snapshot() != before
    s = run_bench(load_scenario(str(tiny_path)), out, "inline", progress=False)
    assert s["new"] == 0 and ResultsDB(out / "results.sqlite").snapshot() == before
    edited = parse_scenario(dict(TINY, seeds=[1]))  # the same scenario name, its file changed
    with pytest.raises(ConfigError, match="an earlier version of scenario"):
        run_bench(edited, out, "inline", progress=False)


def test_warm_cache_run_is_fast_and_identical(reference_run, tiny_path, tmp_path):
    out, _, cold = reference_run
    t0 = time.perf_counter()
    s = run_bench(load_scenario(str(tiny_path)), tmp_path / "warm", "inline", progress=False)
    warm = time.perf_counter() - t0
    assert s["complete"] and warm < cold
    assert ResultsDB(tmp_path / "warm" / "results.sqlite").snapshot() == ResultsDB(out / "results.sqlite").snapshot()


def _default_sigint() -> None:
    # as in a terminal: a test run from a background shell inherits SIGINT ignored, and Python keeps it ignored
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_cli(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "stealguard.cli", "bench", "run", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=_default_sigint, **kw)


def _done_jobs(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return sqlite3.connect(db, timeout=5).execute("SELECT count(*) FROM jobs WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _wait_until_done(db: Path, n: int, p: subprocess.Popen) -> None:
    deadline = time.time() + 300
    while _done_jobs(db) < n and p.poll() is None and time.time() < deadline:
        time.sleep(0.2)


def _cache_without_thefts_and_independents(source: Path, dest: Path) -> Path:
    """A copy of ``source`` (the reference run's cache) without the stolen and independent models, so a run in it
    has models to train (the victim and the protection come from the cache)."""
    shutil.copytree(source, dest)
    dropped = 0
    for cfg in (dest / "models").glob("*/config.json"):
        c = json.loads(cfg.read_text())
        if c.get("attack") in ("fine-tune", "label-query") or c.get("split") == "attacker":
            shutil.rmtree(cfg.parent)
            dropped += 1
    assert dropped == 4  # two thefts, two independent models
    return dest


def test_sigint_then_sigkill_mid_grid_then_resume_gives_the_same_database(reference_run, reference_cache, tiny_path,
                                                                          tmp_path):
    """One CLI run, stopped twice: Ctrl-C (SIGINT) after its first job stops it with one clear line; the same command
    continues it; SIGKILL of the coordinator and its workers mid-grid; a resume finishes it and the database equals
    the uninterrupted run's. Its cache is the reference run's without the thefts and the independent models, which it
    trains again (each stop in a fresh cache of its own retrained the whole grid: two minutes of the suite)."""
    out_ref, _, _ = reference_run
    cache = _cache_without_thefts_and_independents(reference_cache, tmp_path / "cache")
    env = dict(os.environ, STEALGUARD_CACHE=str(cache))
    out = tmp_path / "stopped"
    db = out / "results.sqlite"
    args = [str(tiny_path), "--out", str(out), "--workers", "1", "--no-report"]  # one worker process: quicker to start
    p = _run_cli(args, env)
    _wait_until_done(db, 1, p)
    os.killpg(p.pid, signal.SIGINT)
    text, _ = p.communicate(timeout=120)
    assert p.returncode != 0 and "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert "interrupted" in last and "run the same command to continue" in last
    first = _done_jobs(db)
    assert 1 <= first < 11
    p = _run_cli(args, env)  # the same command continues the run ...
    _wait_until_done(db, max(4, first + 2), p)
    assert p.poll() is None, "the run finished before it could be killed: " + (p.stdout.read() if p.stdout else "")
    os.killpg(p.pid, signal.SIGKILL)  # ... and is killed mid-grid with its workers
    p.wait()
    n = _done_jobs(db)
    assert max(4, first + 2) <= n < 11
    s = run_bench(load_scenario(str(tiny_path)), out, "local", workers=1, progress=False)
    assert s["complete"] and s["new"] == 11 - n
    assert ResultsDB(db).snapshot() == ResultsDB(out_ref / "results.sqlite").snapshot()


def test_ray_executor_gives_the_same_results_as_local(reference_run, tiny_path, tmp_path):
    """Every job of the grid runs as a Ray task (models from the reference run's cache, which Ray workers are told
    about; verdicts computed on the workers) and the results database equals the local executor's."""
    pytest.importorskip("ray")
    out_ref, _, _ = reference_run
    s = run_bench(load_scenario(str(tiny_path)), tmp_path / "ray", "ray", workers=2, progress=False)
    assert s["complete"] and not s["failed"]
    assert ResultsDB(tmp_path / "ray" / "results.sqlite").snapshot() == ResultsDB(out_ref / "results.sqlite").snapshot()


def test_demo_story_at_tiny_scale(tmp_path, monkeypatch):
    """`stealguard demo` is the fmnist-quick scenario plus an HTTP verification; here the same code on a tiny
    scenario: the MOVE-protected model's pruned copy is flagged, the independent model is not, and the pruned copy
    served over HTTP (20% of requests failing) is flagged there too. (The demo serves its fine-tuned copy, flagged at
    its scale, benchmarks/probes/move-fmnist-agreement; at this tiny scale the rule cannot tell one.)"""
    from stealguard.demo import run_demo

    # the session's cache: MOVE's settings (but no plain reference models), the pruned copy and the independent model
    # are those of the MOVE tests (conftest.MOVE_TINY with two style references, copy_and_stranger), so whichever
    # test comes first trains them for both. Set
    # explicitly: this module's reference_run switches to a cache of its own for the module's lifetime, and without
    # this the demo trained them there and test_move trained them again (about 40 s of the suite)
    monkeypatch.setenv("STEALGUARD_CACHE", SESSION_CACHE)
    doc = dict(TINY, name="tiny-demo", victim={"arch": "cnn", "width": 0.5, "limit": 3000, "epochs": 3},
               methods=[{"method": "move", "label": "MOVE", "access": ["labels"],
                         "settings": {"rate": 0.2, "meta_samples": 200, "verify_samples": 200, "references": 0,
                                      "benign_models": 2, "style_references": 2}}],
               attacks=[{"attack": "prune", "label": "Pruning", "settings": {"method": "magnitude", "rate": 0.3}},
                        {"attack": "logit-query", "label": "Logit-query", "settings": {"epochs": 1, "limit": 2000}}],
               independent=[{"arch": "cnn", "width": 0.5, "seed": 5, "limit": 3000, "epochs": 3}])
    p = tmp_path / "tiny-demo.yaml"
    p.write_text(yaml.safe_dump(doc))
    lines = []
    # a run of an earlier version of the demo's scenario in its folder (after an upgrade): restarted, not refused
    old = ResultsDB(tmp_path / "demo" / "bench" / "results.sqlite")
    old.bind_scenario({"name": "tiny-demo"}, "0" * 64, "0")
    old.close()
    s = run_demo(tmp_path / "demo", echo=lines.append, scenario=str(p), served="Pruning")
    said = " ".join(x.strip() for line in lines for x in line.splitlines())  # as a person reads the wrapped lines
    assert "earlier version of the demo's scenario: starting it afresh" in said
    rows = {r["suspect"]: r["MOVE (labels)"] for r in s["verdicts"]}  # the default rule, style-agreement, as the demo
    assert rows["Source"]["stolen"] and rows["Pruning"]["stolen"]
    assert any(line.strip().startswith("Pruning ") for line in lines)  # a theft's row is named as one
    assert not rows["cnn w0.5 seed 5, 3000 imgs, 3 ep"]["stolen"]
    assert s["api"]["stolen"] and s["api"]["sent"] > 0 and (tmp_path / "demo" / "audit.jsonl").exists()
    assert s["api"]["retries"] > 0  # the API failed some of its requests, and each was retried
    assert Path(s["report"]).exists() and any("STOLEN" in line for line in lines)
    # a person reads it in a 100-column terminal: whole suspect names, SAC-m's threshold beside its distance
    assert max(len(x) for line in lines for x in line.splitlines()) <= 100
    assert any(line.strip().startswith("cnn w0.5 seed 5, 3000 imgs, 3 ep ") for line in lines)
    from stealguard.demo import _cell

    sac = {"applicable": 1, "stolen": 0, "method": "sac", "effect": 0.31, "p_value": None, "details": '{"threshold": 0.2}'}
    assert _cell(sac) == "not shown, d 0.310 >= t 0.200"
    api_verdict = json.loads((tmp_path / "demo" / "verdict-api.json").read_text())
    assert api_verdict["suspect"].startswith("http://") and api_verdict["access"] == "labels"  # as the MOVE column
    # the report's MOVE tables name the rule each verdict used (a word among the numeric detail columns)
    with open(Path(s["report"]).parent / "verification.csv") as f:
        ver = {r["suspect"]: json.loads(r["details"]) for r in csv.DictReader(f)}
    assert ver["Source"]["rule"] == ver["Independent"]["rule"] == "style-agreement"
    assert 0 <= ver["Pruning"]["suspect_agreement"] <= 1 and "p_model_level_min" in ver["Independent"]
    # the demo's kit holds no meta-classifier (labels only): a white-box suspect gets rule style-agreement by default
    from stealguard.access import open_access
    from stealguard.methods import verify_suspect

    run = Path(s["run"])
    (kit,) = run.glob("kits/*")
    (protected,) = ResultsDB(run / "results.sqlite").rows("models", "WHERE role = 'protected'")
    v = verify_suspect(str(kit), open_access(str(run / protected["path"]), "white-box"))
    assert v.stolen and v.details["rule"] == "style-agreement"
    # every model file the run wrote records its dataset, so `steal` and `info` need no --dataset
    from stealguard.models import read_spec

    assert {read_spec(f)[1].get("dataset") for f in (run / "models").glob("*.safetensors")} == {"fashion-mnist"}


def test_bench_list_has_a_header_and_whole_names():
    from click.testing import CliRunner

    from stealguard.cli import cli

    out = CliRunner().invoke(cli, ["bench", "list"], terminal_width=100).output.splitlines()
    assert out[0].split()[:4] == ["scenario", "scale", "dataset", "jobs"]
    starts = {line.split()[0]: line.split()[1] for line in out[1:] if line and not line.startswith(" ")}
    assert set(starts) == set(shipped_scenarios())  # every name whole, each on a line of its own
    assert starts["move-cifar10-gpu-check"] == "gpu" and starts["fmnist-quick"] == "cpu"


def test_the_progress_estimate_learns_from_finished_jobs_of_each_kind():
    import io

    from stealguard.bench.runner import Progress

    from stealguard.bench.runner import PRIOR

    out = io.StringIO()
    p = Progress(10, out, workers=2)
    assert p.estimate(["steal"], []) is None  # nothing finished: no guess
    p.finished("victim", 100.0)
    p.finished("verify", 2.0)
    # four verifications (2 s each), a theft (none finished yet: its prior, in units of the finished jobs' seconds
    # per prior weight) and a victim running for 30 s (70 s left), shared by two workers
    scale = 102.0 / (PRIOR["victim"] + PRIOR["verify"])
    left = p.estimate(["verify"] * 4 + ["steal"], [("victim", 30.0)])
    assert left == pytest.approx((8 + PRIOR["steal"] * scale + 70) / 2)
    p.finished("steal", 10.0)  # learnt: the kind's own mean from now on
    assert p.estimate(["steal"], []) == pytest.approx(10.0)
    p.update(2, 1, 0, "", left)
    assert f"~{round(left)}s left" in out.getvalue()
