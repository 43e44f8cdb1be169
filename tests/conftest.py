"""Shared fixtures. Every test session uses a fresh artifact cache (a green run must not lean on models or decoded
data left over from earlier runs); STEALGUARD_TEST_CACHE=DIR reuses one on purpose while developing."""

import os
import tempfile
from pathlib import Path

import pytest

_cache = os.environ.get("STEALGUARD_TEST_CACHE") or tempfile.mkdtemp(prefix="stealguard-test-cache-")
os.environ["STEALGUARD_CACHE"] = _cache
os.environ.pop("STEALGUARD_NO_CACHE", None)


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
