"""The named training recipes: the fast (airbench-style) recipe against the standard one, its pieces (augmentation on
batch tensors, lookahead, the schedule, channels_last) and how a scenario hands its recipe to every model."""

import time

import numpy as np
import pytest
import torch

from stealguard.bench.scenario import entry_settings, load_scenario, parse_scenario
from stealguard.data import ArrayDataset
from stealguard.errors import ConfigError
from stealguard.methods import get_method
from stealguard.models import build_model, load_model, save_model, spec_for
from stealguard.recipes import cpu_recipe
from stealguard.train import ArrayBatches, TrainConfig, _Lookahead, _schedule, accuracy, fit, predict_logits, seed_everything


def _timed_fit(splits, data, arch, width, config):
    seed_everything(0)
    model = build_model(spec_for(splits, arch, width))
    t0 = time.perf_counter()
    fit(model, data, config)
    return model, time.perf_counter() - t0


def test_fast_recipe_beats_the_standard_recipe_at_equal_training_time(cifar):
    """The same network (airbench, width 0.25) on 5,000 CIFAR-10 images: the fast recipe for 4 epochs, then the
    standard recipe for as many epochs as fit in the same time (at least as much: its epochs are rounded up). The fast
    recipe is more accurate (0.490 against 0.457 here). The margin needs enough steps: with 4,000 images and 3 epochs
    the standard recipe wins (0.390 against 0.443), and against the standard recipe's resnet8 the fast one loses at
    subset scale; its advantage shows on the whole half (benchmarks/train_speed.md)."""
    data = cifar.defender.take(5000, seed=0)
    test = cifar.test.take(2000, seed=0)
    fast, t_fast = _timed_fit(cifar, data, "airbench", 0.25, cpu_recipe("cifar10", "fast", epochs=4, progress=False))
    _, t_epoch = _timed_fit(cifar, data, "airbench", 0.25, cpu_recipe("cifar10", epochs=1, progress=False))
    epochs = max(1, int(np.ceil(t_fast / t_epoch)))
    slow, _ = _timed_fit(cifar, data, "airbench", 0.25, cpu_recipe("cifar10", epochs=epochs, progress=False))
    a_fast, a_slow = accuracy(fast, test), accuracy(slow, test)
    assert a_fast > a_slow + 0.01, (a_fast, a_slow, epochs)


def test_augmentation_on_batch_tensors_keeps_labels_aligned():
    """Each image is one grey level that encodes its label: after shuffling, reflect-padded translation and flips,
    every image in a batch still shows its own target's level."""
    n = 300
    y = np.arange(n) % 10
    x = np.repeat((y * 25).astype(np.uint8)[:, None, None, None], 32 * 32 * 3).reshape(n, 32, 32, 3)
    src = ArrayBatches(x, y, 64, torch.device("cpu"), crop_padding=2, flip=True, seed=3, pad_mode="reflect")
    seen = 0
    for epoch in range(2):
        for xb, tb in src.epoch(epoch):
            level = (xb.mean(dim=(1, 2, 3)) * 255).round().long()
            assert torch.equal(level, tb * 25)
            seen += len(tb)
    assert seen == 2 * n
    # and the translation really moves content: a gradient image is shifted in some samples
    ramp = np.tile(np.arange(32, dtype=np.uint8)[None, None, :, None] * 8, (n, 32, 1, 3))
    moved = next(ArrayBatches(ramp, y, 64, torch.device("cpu"), crop_padding=2, flip=False, seed=1).epoch(0))[0]
    assert (moved[:, 0, 0, 16] * 255).round().unique().numel() > 1


def test_model_trained_with_the_recipe_saves_and_loads_identically(fmnist, tmp):
    data = fmnist.defender.take(1024, seed=0)
    seed_everything(0)
    model = build_model(spec_for(fmnist, "airbench", 0.25))
    fit(model, data, cpu_recipe("fashion-mnist", "fast", epochs=1, progress=False))
    assert all(p.is_contiguous() for p in model.parameters())  # channels_last was for training only
    sha = save_model(model, tmp / "m.safetensors")
    back = load_model(tmp / "m.safetensors")
    x = fmnist.test.x[:256]
    assert torch.equal(predict_logits(model, x), predict_logits(back, x)) and len(sha) == 64


def test_lookahead_and_schedule():
    lin = torch.nn.Linear(3, 2)
    la = _Lookahead(lin, total=100)
    start = lin.weight.detach().clone()
    with torch.no_grad():
        lin.weight.add_(1.0)
    la.step(5)  # early: almost no pull back
    assert torch.allclose(lin.weight, start + 1.0, atol=1e-3)
    with torch.no_grad():
        lin.weight.add_(1.0)
    la.step(100)  # late: pulled most of the way back to the slow copy
    assert (lin.weight - start).abs().max() < 1.5
    la.finish()
    assert torch.equal(lin.weight, la.slow[0])
    opt = torch.optim.SGD(lin.parameters(), lr=1.0)
    sched = _schedule(opt, TrainConfig(schedule="onecycle", progress=False), 100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.2) and max(lrs) == pytest.approx(1.0) and lrs.index(max(lrs)) == 20 and lrs[-1] < 0.02


def test_standard_recipe_keeps_its_cache_key_and_fast_differs():
    std = cpu_recipe("cifar10").recipe()
    assert set(std) == {"epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule", "crop_padding",
                        "flip", "seed"}
    fast = cpu_recipe("cifar10", "fast").recipe()
    assert fast["lookahead"] and fast["label_smoothing"] == 0.2 and fast["norm_lr_scale"] == 64.0
    with pytest.raises(ConfigError, match="unknown training recipe"):
        cpu_recipe("cifar10", "turbo")


def test_scenario_recipe_reaches_every_model():
    sc = load_scenario("cifar10-real")
    assert sc.recipe == "fast" and len(sc.independent) >= 12 and len({i.arch for i in sc.independent}) >= 3
    assert load_scenario("fmnist-real").recipe == "fast"
    assert "recipe" not in load_scenario("move-cifar10").to_dict()  # older runs keep their digest
    victim = {"arch": "airbench", "width": 0.5, "limit": None, "epochs": 16, "recipe": "fast"}
    move = entry_settings(get_method("move"), {}, "cifar10", 0, victim)
    sac = entry_settings(get_method("sac"), {"variant": "m"}, "cifar10", 0, victim)
    assert move.recipe == "fast" and sac.recipe == "fast" and move.to_dict()["recipe"] == "fast"
    plain = entry_settings(get_method("sac"), {"variant": "m"}, "cifar10", 0, dict(victim, recipe="standard"))
    assert "recipe" not in plain.to_dict()  # standard: the cache keys made before recipes had names
    from stealguard.bench.grid import _recipe

    assert _recipe(sc.to_dict(), 0, 16).lookahead and not _recipe(load_scenario("move-cifar10").to_dict(), 0, 5).lookahead
    doc = {"name": "x", "dataset": "cifar10", "recipe": "turbo", "victim": {"arch": "cnn"},
           "methods": [{"method": "sac", "access": ["labels"]}]}
    with pytest.raises(ConfigError, match="recipe must be one of"):
        parse_scenario(doc)


def test_fast_thieves_augment_and_smooth():
    from stealguard.attacks import make_settings

    fast = make_settings("label-query", recipe="fast")
    assert fast.augmentation() == {"crop_padding": 2, "flip": True, "pad_mode": "reflect"}
    cfg = fast.train_config()
    assert cfg.schedule == "onecycle" and cfg.lookahead and cfg.label_smoothing == 0.2
    assert "recipe" not in make_settings("label-query").to_dict() and make_settings("label-query").augmentation() == {}
    with pytest.raises(ConfigError, match="recipe must be"):
        make_settings("label-query", recipe="turbo")
