"""Shared fixtures. Every test session uses a fresh artifact cache (a green run must not lean on models or decoded
data left over from earlier runs); STEALGUARD_TEST_CACHE=DIR reuses one on purpose while developing."""

import os
import tempfile
from pathlib import Path

import pytest

# the session's artifact cache (a test that switches to a cache of its own can switch back to share this one)
# (parallel workers, pytest -n, inherit the controller's through STEALGUARD_TEST_CACHE and share it: the cache
# lets one process fill an entry while the others wait for it)
SESSION_CACHE = os.environ.get("STEALGUARD_TEST_CACHE") or tempfile.mkdtemp(prefix="stealguard-test-cache-")
os.environ["STEALGUARD_CACHE"] = os.environ["STEALGUARD_TEST_CACHE"] = SESSION_CACHE
os.environ.pop("STEALGUARD_NO_CACHE", None)

if os.environ.get("PYTEST_XDIST_WORKER"):  # one of several test processes: one thread each, not one per core each
    import torch

    torch.set_num_threads(1)


# Test files, the longest first (one process, 2026-12-01): scripts/test runs files whole in two workers
# (`--dist loadfile`) in this order (`--no-loadscope-reorder`; xdist's own order is by number of tests), so both
# workers start on long files and the short ones fill the end instead of one long file running alone at the end
FILE_ORDER = ["test_attacks.py", "test_bench.py", "test_near_boundary.py", "test_cae.py", "test_dataset_inference.py",
              "test_text.py", "test_move.py", "test_train.py", "test_recipes.py", "test_data.py", "test_badnets.py",
              "test_remote.py", "test_hostile.py", "test_feature_sharing.py", "test_ewe.py", "test_ipguard.py",
              "test_models.py"]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(FILE_ORDER)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's own order is kept


@pytest.fixture(scope="session")
def fmnist():
    from stealguard.data import load_splits

    return load_splits("fashion-mnist")


@pytest.fixture(scope="session")
def cifar():
    from stealguard.data import load_splits

    return load_splits("cifar10")


@pytest.fixture(scope="session")
def fmnist_victim(fmnist):
    """A small Fashion-MNIST victim shared by many tests (cached by config). Trained on only 2,000 defender images,
    it has idiosyncratic errors, so a copy agrees with it measurably more than an independent model does."""
    from stealguard.recipes import cpu_recipe, train_classifier

    model, record = train_classifier(fmnist, "cnn", 0.5, cpu_recipe("fashion-mnist", epochs=3, progress=False), limit=2000)
    return model, record


MOVE_TINY = dict(dataset="fashion-mnist", arch="cnn", width=0.5, limit=3000, epochs=3, rate=0.2, meta_samples=200,
                 verify_samples=200, references=3, benign_models=2, style_references=0)
SAC_TINY = dict(samples=100, surrogates=2, references=3, limit=2000, epochs=3)


def copy_and_stranger(model, splits):
    """A fine-tuned copy of ``model`` (1 epoch on 3,000 attacker images) and an independent cnn (width 0.5, seed 5,
    3,000 attacker images): the stolen and the innocent suspect of the method tests (both cached)."""
    from stealguard.attacks import run_attack
    from stealguard.recipes import cpu_recipe, train_classifier

    stolen, _ = run_attack("fine-tune", model, splits, limit=3000, epochs=1, progress=False)
    independent, _ = train_classifier(splits, "cnn", 0.5, cpu_recipe("fashion-mnist", epochs=3, seed=5, progress=False),
                                      split="attacker", limit=3000)
    return stolen, independent


@pytest.fixture(scope="session")
def move_run(fmnist, tmp_path_factory):
    """A tiny MOVE protection (both settings), a fine-tuned copy of the protected model and an independent model."""
    from stealguard.methods import Move, MoveSettings

    out = tmp_path_factory.mktemp("move")
    res = Move().protect(fmnist, MoveSettings(**MOVE_TINY), out / "kit")
    return (out, res, *copy_and_stranger(res.model, fmnist))


@pytest.fixture(scope="session")
def population(fmnist, fmnist_victim, tmp_path_factory):
    """A tiny SAC-m kit on the shared victim, three stolen copies and three independent models."""
    from stealguard.attacks import run_attack
    from stealguard.methods import Sac, SacSettings
    from stealguard.recipes import cpu_recipe, train_classifier

    victim, _ = fmnist_victim
    res = Sac().protect(victim, fmnist, SacSettings(**SAC_TINY), tmp_path_factory.mktemp("sac") / "kit")
    stolen = [run_attack("fine-tune", victim, fmnist, limit=2000, epochs=1, progress=False)[0],
              run_attack("logit-query", victim, fmnist, limit=2000, epochs=3, progress=False)[0],
              run_attack("prune", victim, fmnist, method="magnitude", rate=0.3, progress=False)[0]]
    independent = [train_classifier(fmnist, arch, w, cpu_recipe("fashion-mnist", epochs=3, seed=seed, progress=False),
                                    split="attacker", limit=2000)[0]
                   for arch, w, seed in [("cnn", 0.5, 11), ("cnn", 0.5, 12), ("resnet8", 0.5, 13)]]
    return victim, res, stolen, independent


def one_line_error(result) -> str:
    """Assert a CLI result failed with one clear line (no traceback) and return that line."""
    assert result.exit_code != 0, result.output
    out = result.output.strip()
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert lines[0].startswith("Error: "), out
    return lines[0]


@pytest.fixture
def tmp(tmp_path) -> Path:
    return tmp_path
