"""Every attack on tiny subsets with fixed seeds: the stolen model must agree with the victim more than an
independent model does (transfer excepted: its label space differs; zero-shot, data-free, must be a working copy)."""

import json
from typing import NamedTuple

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from stealguard.access import Labels
from stealguard.attacks import ATTACKS, REGISTRY, make_settings, parse_stages, run_attack
from stealguard.attacks.base import AttackData
from stealguard.cli import cli
from stealguard.errors import AccessDenied, ConfigError
from stealguard.models import save_model
from stealguard.train import agreement

from conftest import one_line_error

# 4 epochs on 4,000 images: at 2 epochs the soft-label copies beat the independent model by < 0.03 on a CPU and
# fell below it under a GPU's bf16 (0.870-0.887 vs 0.901); at 4 the margins are +0.03 to +0.06 either way
SMALL = dict(epochs=4, limit=4000, progress=False)
# 100 generator steps on batches of 64: 38,400 queries. Fidelity 0.835 with one thread on an AMD EPYC (2026-12-01),
# against 0.845 with batches of 128 at twice the cost (the suite's longest test then, 140 s)
ZERO_SHOT = dict(epochs=4, iterations=25, generator_width=16, batch_size=64, progress=False)


class Case(NamedTuple):
    settings: dict
    queries: int | None = None  # the victim queries the theft must have spent (None: not a query attack)
    floor: float | None = None  # the fidelity the copy must exceed; None: the independent model's


CASES = {
    "direct-copy": Case({}),
    "distill": Case(SMALL, 4000),
    "label-query": Case(SMALL, 4000),
    "logit-query": Case(SMALL, 4000),
    "adv-extract": Case(dict(SMALL, adv_epochs=1, pgd_steps=2), 4000),
    "fine-tune": Case(dict(SMALL, epochs=1)),
    "prune": Case(dict(rate=0.3)),
    "recalibrate": Case(dict(limit=2000)),  # the cnn victim has no BatchNorm: an unchanged copy
    # Data-free at this budget, the copy agrees with the victim a little less than an independent model trained on
    # 4,000 real images (0.835 against 0.867 with one thread; with batches of 128, 0.845-0.853, above it on another
    # CPU), as benchmarks/attacks.md measures; it must still be a working copy made without a single real image
    "zero-shot": Case(ZERO_SHOT, 4 * 25 * (5 + 1) * 64, floor=0.8),  # student and generator batches
}


@pytest.fixture(scope="module")
def independent(fmnist_victim, fmnist):
    victim, _ = fmnist_victim
    return run_attack("independent", victim, fmnist, **SMALL)


@pytest.mark.parametrize("name", list(CASES))
def test_attack_agrees_more_than_independent(name, fmnist_victim, fmnist, independent):
    victim, _ = fmnist_victim
    _, ind = independent
    case = CASES[name]
    model, rec = run_attack(name, victim, fmnist, **case.settings)
    floor = ind["fidelity"] if case.floor is None else case.floor
    assert rec["attack"] == name and rec["fidelity"] > floor, (rec["fidelity"], ind["fidelity"])
    assert rec["victim_sha256"] and rec["seconds"] >= 0 and 0 <= rec["accuracy"] <= 1
    if case.queries is not None:
        assert rec["queries"] == case.queries


def test_independent_is_a_real_negative_control(fmnist_victim, independent):
    _, victim_rec = fmnist_victim
    model, rec = independent
    assert rec["queries"] == 0 and rec["access"]["max_queries"] == 0
    assert rec["accuracy"] > 0.6  # a working model, merely not a copy


def test_fine_pruning_and_magnitude_pruning(fmnist_victim, fmnist, independent):
    victim, _ = fmnist_victim
    _, rec = run_attack("prune", victim, fmnist, method="magnitude", rate=0.5, use_cache=False)
    assert abs(rec["sparsity"] - 0.5) < 0.01
    model, rec = run_attack("prune", victim, fmnist, method="fine-pruning", rate=0.5, epochs=1, limit=1000, progress=False)
    assert rec["pruned_channels"] > 0 and rec["fidelity"] > independent[1]["fidelity"]


def test_recalibrate_recomputes_batchnorm_statistics_and_nothing_else(fmnist):
    from stealguard.models import ModelSpec, build_model

    torch.manual_seed(0)
    victim = build_model(ModelSpec("resnet8", 10, 1, (28, 28), 0.25, mean=(0.286,), std=(0.353,))).eval()
    bns = [m for m in victim.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:  # statistics that do not belong to the data (what a protection may leave behind)
        m.running_mean.fill_(3.0)
        m.running_var.fill_(9.0)
    model, rec = run_attack("recalibrate", victim, fmnist, limit=512, use_cache=False)  # 8 equal batches
    assert rec["norm_layers"] == len(bns) > 0 and rec["images"] == 512 and rec["queries"] == 0
    for (k, a), b in zip(victim.state_dict().items(), model.state_dict().values()):
        if k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue
        assert torch.equal(a, b.to(a.device)), k  # no weight changed
    # the first BatchNorm's statistics are now those of the first convolution's outputs on the thief's images
    x = torch.as_tensor(fmnist.attacker.take(512, 0).x).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        conv = model.extractor[0][0]
        out = conv((x - model.norm_mean.cpu()) / model.norm_std.cpu())
    first = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert torch.allclose(first.running_mean.cpu(), out.mean((0, 2, 3)), atol=1e-4)
    assert first.momentum == 0.1 and not model.training


def test_finetune_last_layer_and_clean_up_of_a_stolen_copy(fmnist_victim, fmnist, independent):
    """Finetune-L, and the adaptive clean-up (fine-tuning a label-query copy on 10% of the attacker data): both
    still agree with the victim more than an independent model does."""
    victim, _ = fmnist_victim
    _, last = run_attack("fine-tune", victim, fmnist, layers="last", **dict(SMALL, epochs=1))
    stolen, _ = run_attack("label-query", victim, fmnist, **SMALL)
    cleaned, rec = run_attack("fine-tune", stolen, fmnist, fraction=0.1, epochs=1, limit=4000, progress=False)
    assert last["settings"]["layers"] == "last" and rec["settings"]["fraction"] == 0.1
    # the record's fidelity is against the stage it attacked (the copy); the question is the original victim
    assert min(last["fidelity"], agreement(cleaned, victim, fmnist.test.x)) > independent[1]["fidelity"]


def test_transfer_reuses_features_on_a_new_label_space(fmnist_victim, fmnist):
    victim, _ = fmnist_victim
    model, rec = run_attack("transfer", victim, fmnist, limit=2000, epochs=1, progress=False)
    assert rec["task"] == "coarse" and model.spec.num_classes == 5 and rec["fidelity"] is None
    assert rec["task_accuracy"] > 0.7
    # Transfer-L: the feature extractor is the victim's, untouched
    for a, b in zip(model.extractor.parameters(), victim.extractor.parameters()):
        assert torch.equal(a.cpu(), b.cpu())


def test_label_only_api_never_sees_a_probability(fmnist_victim, fmnist, monkeypatch):
    victim, _ = fmnist_victim
    seen = []
    original = Labels.predict_labels

    def spy(self, x):
        out = original(self, x)
        seen.append(out)
        return out

    monkeypatch.setattr(Labels, "predict_labels", spy)
    for name in ("logit-query", "label-query", "adv-extract"):
        _, rec = run_attack(name, victim, fmnist, api_output="top1", epochs=1, limit=500, progress=False,
                            adv_epochs=1 if name == "adv-extract" else None, use_cache=False)
        assert rec["access"]["level"] == "labels" and rec["queries"] == 500
    assert seen and all(o.dtype == np.int64 and o.ndim == 1 for o in seen)


def test_zero_shot_never_reads_a_real_image(fmnist_victim, fmnist, monkeypatch):
    victim, _ = fmnist_victim
    handed = []
    original = REGISTRY["zero-shot"].steal

    def spy(self, access, data: AttackData, s):
        handed.append(data)
        return original(self, access, data, s)

    monkeypatch.setattr(REGISTRY["zero-shot"], "steal", spy)
    run_attack("zero-shot", victim, fmnist, epochs=1, iterations=2, progress=False, use_cache=False)
    d = handed[0]
    assert d.defender is None and d.attacker is None and d.substitute is None


def test_query_attacks_cannot_reach_weights(fmnist_victim, fmnist, monkeypatch):
    victim, _ = fmnist_victim
    from stealguard.attacks.query import LabelQuery

    def peek(self, access, data, s):
        return access.module, {}

    monkeypatch.setattr(LabelQuery, "steal", peek)
    with pytest.raises(AccessDenied):
        run_attack("label-query", victim, fmnist, use_cache=False)


def test_rounded_api_output(fmnist_victim, fmnist, independent):
    victim, _ = fmnist_victim
    _, rec = run_attack("logit-query", victim, fmnist, api_output="rounded:2", **SMALL)
    assert rec["access"]["decimals"] == 2
    assert rec["fidelity"] > independent[1]["fidelity"]  # rounding hides detail, the copy still works


def test_chain_of_stages(fmnist_victim, fmnist, independent):
    victim, _ = fmnist_victim
    assert parse_stages("direct-copy,zero-shot:resnet8") == [("direct-copy", None), ("zero-shot", "resnet8")]
    model, rec = run_attack("chain", victim, fmnist, stages="logit-query,prune", rate=0.2, **SMALL)
    assert [s["attack"] for s in rec["stages"]] == ["logit-query", "prune"]
    assert rec["queries"] == 4000 and rec["fidelity"] > independent[1]["fidelity"]
    with pytest.raises(ConfigError):
        parse_stages("direct-copy")


def test_settings_are_validated():
    with pytest.raises(ConfigError, match="no setting"):
        make_settings("prune", temperature=3)
    with pytest.raises(ConfigError, match="rate"):
        make_settings("prune", rate=1.5)
    with pytest.raises(ConfigError, match="loss"):
        make_settings("zero-shot", loss="l2")
    with pytest.raises(ConfigError, match="balance"):
        make_settings("zero-shot", balance=-1)
    with pytest.raises(ConfigError, match="unknown attack"):
        make_settings("steal-everything")


def test_cli_steal_lists_every_attack_and_writes_record(fmnist_victim, tmp):
    victim, _ = fmnist_victim
    r = CliRunner().invoke(cli, ["steal", "--help"])
    assert r.exit_code == 0 and all(name in r.output for name in ATTACKS)
    save_model(victim, tmp / "victim.safetensors", extra={"dataset": "fashion-mnist"})
    r = CliRunner().invoke(cli, ["steal", "label-query", "--victim", str(tmp / "victim.safetensors"), "--limit", "500",
                                 "--epochs", "1", "--api-output", "top1", "--out", str(tmp / "s")])
    assert r.exit_code == 0, r.output
    rec = json.loads((tmp / "s" / "record.json").read_text())
    for key in ("attack", "settings", "victim_sha256", "queries", "accuracy", "fidelity", "seconds"):
        assert key in rec
    assert rec["queries"] == 500 and rec["settings"]["api_output"] == "top1"
    line = one_line_error(CliRunner().invoke(cli, ["steal", "zero-shot", "--victim", str(tmp / "victim.safetensors"),
                                                   "--out", str(tmp / "z"), "--epochs", "0"]))
    assert "epochs" in line


def test_query_attack_on_an_onnx_victim(fmnist_victim, tmp):
    from stealguard.models import export_onnx

    victim, _ = fmnist_victim
    export_onnx(victim, tmp / "victim.onnx", extra={"dataset": "fashion-mnist"})
    r = CliRunner().invoke(cli, ["steal", "label-query", "--victim", str(tmp / "victim.onnx"), "--limit", "300",
                                 "--epochs", "1", "--out", str(tmp / "o")])
    assert r.exit_code == 0, r.output
    rec = json.loads((tmp / "o" / "record.json").read_text())
    assert rec["queries"] == 300 and rec["arch"] == "cnn"
    line = one_line_error(CliRunner().invoke(cli, ["steal", "fine-tune", "--victim", str(tmp / "victim.onnx"),
                                                   "--out", str(tmp / "f")]))
    assert "needs the victim's weights" in line
