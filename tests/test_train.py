import json

import pytest
import torch
from click.testing import CliRunner

from stealguard.cli import cli
from stealguard.models import load_model
from stealguard.recipes import cpu_recipe, train_classifier
from stealguard.errors import ConfigError
from stealguard.train import TrainConfig, agreement, accuracy, fit

from conftest import one_line_error


def test_cli_train_fashion_mnist_reaches_075(tmp):
    r = CliRunner().invoke(cli, ["train", "--dataset", "fashion-mnist", "--arch", "cnn", "--epochs", "1",
                                 "--limit", "5000", "--out", str(tmp / "fm")])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp / "fm" / "metrics.json").read_text())
    assert m["accuracy"] >= 0.75 and m["epochs"] == 1 and len(m["sha256"]) == 64 and m["seconds"] > 0
    model = load_model(tmp / "fm" / "model.safetensors")
    assert model.spec.arch == "cnn" and model.spec.image_size == (28, 28)
    # same config again: a cache lookup giving the identical file
    r2 = CliRunner().invoke(cli, ["train", "--dataset", "fashion-mnist", "--arch", "cnn", "--epochs", "1",
                                  "--limit", "5000", "--out", str(tmp / "fm2")])
    assert r2.exit_code == 0, r2.output
    m2 = json.loads((tmp / "fm2" / "metrics.json").read_text())
    assert m2["cached"] is True and m2["sha256"] == m["sha256"]


def test_training_is_deterministic_on_cpu(fmnist):
    cfg = cpu_recipe("fashion-mnist", epochs=1, progress=False)
    a, ra = train_classifier(fmnist, "cnn", 0.25, cfg, limit=1500, use_cache=False)
    b, rb = train_classifier(fmnist, "cnn", 0.25, cfg, limit=1500, use_cache=False)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), ka
    c, _ = train_classifier(fmnist, "cnn", 0.25, cpu_recipe("fashion-mnist", epochs=1, progress=False, seed=1), limit=1500, use_cache=False)
    assert not torch.equal(a.head[-1].weight, c.head[-1].weight)


def test_cli_train_cifar10_resnet8(tmp):
    r = CliRunner().invoke(cli, ["train", "--dataset", "cifar10", "--arch", "resnet8", "--width", "0.5", "--epochs", "2",
                                 "--limit", "4000", "--out", str(tmp / "c"), "--onnx"])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp / "c" / "metrics.json").read_text())
    assert m["accuracy"] > 0.25  # well above chance (0.1) after two short epochs
    assert (tmp / "c" / "model.onnx").exists()


def test_fit_soft_targets_frozen_modules_and_metrics(fmnist_victim, fmnist):
    victim, record = fmnist_victim
    assert record["accuracy"] > 0.7
    from stealguard.models import build_model

    torch.manual_seed(0)
    student = build_model(victim.spec)
    frozen_before = student.extractor[0].weight.clone()
    x = fmnist.attacker.x[:2000]
    from stealguard.train import ArrayBatches, predict_logits

    soft = torch.softmax(predict_logits(victim, x), 1).numpy()
    src = ArrayBatches(x, soft, 64, torch.device("cpu"), seed=0)
    res = fit(student, src, TrainConfig(epochs=2, lr=0.05, progress=False), frozen=[student.extractor])
    assert torch.equal(student.extractor[0].weight.cpu(), frozen_before.cpu())  # frozen stays frozen
    assert all(p.requires_grad for p in student.parameters())  # ... during training only: gradients work afterwards
    assert res.steps == 2 * src.batches_per_epoch and res.images == 4000
    fid = agreement(student, victim, fmnist.test.x[:1000])
    assert 0.5 < fid <= 1.0 and 0 <= accuracy(student, fmnist.test) <= 1


def test_batches_stay_on_their_device_and_precision_is_not_in_the_recipe():
    """GPU regressions seen on an H100: a batch taken from tensors already on the training device was copied back to
    the CPU (``to_tensor``'s old default), and a batch source built for the CPU met a model on the GPU. ``meta``
    tensors stand in for a second device here."""
    from stealguard.data import to_tensor

    x = torch.zeros(2, 4, 4, 3, dtype=torch.uint8, device="meta")
    assert to_tensor(x).device.type == "meta" and to_tensor(x).shape == (2, 3, 4, 4)
    assert to_tensor(torch.zeros(2, 4, 4, 3, dtype=torch.uint8).numpy()).device.type == "cpu"
    assert TrainConfig(precision="bf16").recipe() == TrainConfig().recipe()  # how, not what: cache keys unchanged
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="fp8")


def test_bf16_training_runs_on_the_cpu_too(fmnist):
    from stealguard.models import ModelSpec, build_model
    from stealguard.train import ArrayBatches

    torch.manual_seed(0)
    model = build_model(ModelSpec("cnn", 10, 1, (28, 28), 0.5, mean=(0.286,), std=(0.353,)))
    src = ArrayBatches(fmnist.defender.x[:1024], fmnist.defender.y[:1024], 64, torch.device("cpu"), seed=0)
    res = fit(model, src, TrainConfig(epochs=2, lr=0.05, progress=False, precision="bf16"))
    assert res.steps == 32 and res.loss < 1.5 and all(p.dtype == torch.float32 for p in model.parameters())
    assert accuracy(model, fmnist.test) > 0.6  # measured 0.70, as in fp32


def test_bad_training_settings_are_one_line(tmp):
    line = one_line_error(CliRunner().invoke(cli, ["train", "--dataset", "fashion-mnist", "--arch", "cnn", "--epochs", "0",
                                                   "--out", str(tmp / "x")]))
    assert "epochs" in line
    line = one_line_error(CliRunner().invoke(cli, ["train", "--dataset", "fashion-mnist", "--arch", "resnet9",
                                                   "--out", str(tmp / "x")]))
    assert "6n+2" in line


def test_help_everywhere():
    for args in ([], ["train"], ["info"], ["export"], ["demo"]):
        r = CliRunner().invoke(cli, args + ["--help"])
        assert r.exit_code == 0 and "Usage" in r.output


def _commands(group, ctx, path=()):
    import click

    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, ctx, path + (name,))
        else:
            yield path + (name,), cmd


def test_errors_name_the_flags_the_user_typed(tmp):
    """Every numeric option of every command: a settings error that names the option's Python name reaches the user
    with the flag instead; end to end for a bad training setting."""
    import click

    from stealguard.cli import in_flags

    commands = dict(_commands(cli, click.Context(cli)))
    numeric = [(path, p) for path, cmd in commands.items() for p in cmd.params
               if isinstance(p, click.Option) and isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType))]
    assert len(numeric) > 100  # every protect and steal subcommand is registered when listed
    for path, p in numeric:
        flag = max((o for o in p.opts if o.startswith("--")), key=len)
        for message in (f"{p.name} must be >= 0, got -5", f"samples and {p.name} must be >= 1"):
            text = in_flags(message, [p])
            assert flag in text, (path, p.name, text)
    line = one_line_error(CliRunner().invoke(cli, ["train", "--dataset", "fashion-mnist", "--arch", "cnn", "--epochs", "0",
                                                   "--out", str(tmp / "x")]))
    assert "--epochs must be >= 1" in line
    verify_params = commands[("verify",)].params
    assert in_flags("max_queries must be >= 0, got -5", verify_params) == "--max-queries must be >= 0, got -5"


def _fill_entry(cache: str, log: str) -> str:
    """A worker process of the test below: fills one cache entry slowly, noting each build."""
    import os
    import time
    from pathlib import Path

    os.environ["STEALGUARD_CACHE"] = cache
    from stealguard.cache import cached_dir

    def build(folder: Path) -> dict:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(1.0)
        (folder / "out.txt").write_text("made once")
        return {"maker": os.getpid()}

    folder, rec = cached_dir({"kind": "test-concurrent-entry"}, build)
    return f"{(folder / 'out.txt').read_text()}|{rec['maker']}|{rec['cached']}"


def test_processes_sharing_the_cache_fill_an_entry_once(tmp_path):
    """Two processes asking for the same missing entry at once (benchmark or test workers): one builds it, the other
    waits and reads it; neither sees a half-written or deleted folder."""
    import multiprocessing

    log = tmp_path / "builds.txt"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        out = pool.starmap(_fill_entry, [(str(tmp_path / "cache"), str(log))] * 2)
    assert len(log.read_text().split()) == 1  # built once
    makers = {o.split("|")[1] for o in out}
    assert len(makers) == 1 and all(o.startswith("made once|") for o in out)
    assert sorted(o.split("|")[2] for o in out) == ["False", "True"]
