import json
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from stealguard.cli import cli
from stealguard.errors import ConfigError, ModelFileError
from stealguard.models import (ARCHS, VECTOR_ARCHS, ModelSpec, OnnxModel, build_model, export_onnx, load_model, open_model,
                               read_spec, save_model, sha256_file)

from conftest import one_line_error

IMAGE_ARCHS = [a for a in ARCHS if a not in VECTOR_ARCHS]  # mlp (text) models: tests/test_text.py


@pytest.mark.parametrize("arch", IMAGE_ARCHS)
def test_every_arch_grey_and_colour_any_size(arch):
    width = 0.25 if arch in ("wrn28-10", "resnet18", "vgg16", "vgg19", "mobilenetv2") else 0.5
    for c, size in ((1, 28), (3, 32), (3, 40)):
        torch.manual_seed(0)
        m = build_model(ModelSpec(arch, 7, c, (size, size), width)).eval()
        x = torch.rand(2, c, size, size)
        assert m(x).shape == (2, 7)
        feats = m.features(x)
        assert feats.ndim == 2 and torch.allclose(m.head(feats), m(x))


def test_width_scales_parameters():
    small = sum(p.numel() for p in build_model(ModelSpec("resnet20", 10, 3, (32, 32), 0.5)).parameters())
    big = sum(p.numel() for p in build_model(ModelSpec("resnet20", 10, 3, (32, 32), 2.0)).parameters())
    assert big > 8 * small


def test_bad_spec_is_refused():
    with pytest.raises(ConfigError, match="unknown architecture"):
        build_model(ModelSpec("alexnet", 10))
    with pytest.raises(ConfigError, match="6n\\+2"):
        build_model(ModelSpec("resnet9", 10))
    with pytest.raises(ConfigError, match="at least 2 classes"):
        ModelSpec("cnn", 1)


def _model(arch="resnet8"):
    torch.manual_seed(1)
    m = build_model(ModelSpec(arch, 10, 3, (32, 32), 0.25, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2), classes=list("abcdefghij")))
    # give BatchNorm non-trivial running statistics
    m.train()
    with torch.no_grad():
        m(torch.rand(16, 3, 32, 32))
    return m.eval()


def test_safetensors_round_trip_identical(tmp):
    m = _model()
    sha = save_model(m, tmp / "m.safetensors")
    assert sha == sha256_file(tmp / "m.safetensors")
    back = load_model(tmp / "m.safetensors")
    x = torch.rand(8, 3, 32, 32)
    assert torch.equal(m(x), back(x))
    assert back.spec == m.spec
    # the bytes are deterministic: saving the reloaded model gives the same file
    assert save_model(back, tmp / "again.safetensors") == sha


@pytest.mark.parametrize("arch", IMAGE_ARCHS)
def test_onnx_round_trip_within_1e_4(tmp, arch):
    m = _model(arch)
    export_onnx(m, tmp / "m.onnx")
    o = open_model(tmp / "m.onnx")
    assert isinstance(o, OnnxModel) and o.input_shape == (3, 32, 32) and o.output == "logits"
    x = torch.rand(5, 3, 32, 32)
    assert np.abs(o.scores(x.numpy()) - m(x).detach().numpy()).max() < 1e-4


@pytest.mark.parametrize("name,content", [
    ("model.pt", None), ("model.pth", None), ("weights.pkl", None), ("weights.dat", "pickle"), ("torchsave.ckpt", "torch"),
    ("disguised.safetensors", "pickle"),
])
def test_pickles_are_refused(tmp, name, content):
    path = tmp / name
    if content == "torch":
        torch.save({"w": torch.zeros(2)}, path)
    else:
        path.write_bytes(pickle.dumps({"w": [1, 2, 3]}, protocol=4))
    with pytest.raises(ModelFileError, match="refusing"):
        open_model(path)
    line = one_line_error(CliRunner().invoke(cli, ["info", str(path)]))
    assert "pickle" in line


def test_tampered_safetensors_are_refused(tmp):
    from safetensors.torch import load_file, save_file

    m = _model()
    save_model(m, tmp / "m.safetensors")
    state = load_file(str(tmp / "m.safetensors"))
    # wrong shape
    bad = dict(state)
    bad["head.weight"] = torch.zeros(3, 3)
    spec_meta = {"stealguard": json.dumps({"format": "1", "spec": json.loads(m.spec.to_json()), "extra": {}})}
    save_file(bad, str(tmp / "shape.safetensors"), metadata=spec_meta)
    with pytest.raises(ModelFileError, match="shape"):
        load_model(tmp / "shape.safetensors")
    # no metadata
    save_file(state, str(tmp / "nometa.safetensors"))
    with pytest.raises(ModelFileError, match="no stealguard metadata"):
        read_spec(tmp / "nometa.safetensors")
    # garbage
    (tmp / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(ModelFileError, match="not a valid safetensors"):
        load_model(tmp / "junk.safetensors")
    (tmp / "junk.onnx").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="not a valid ONNX"):
        open_model(tmp / "junk.onnx")
    with pytest.raises(ModelFileError, match="does not exist"):
        open_model(tmp / "missing.safetensors")


def test_cli_info_and_export(tmp):
    m = _model()
    save_model(m, tmp / "m.safetensors", extra={"dataset": "cifar10"})
    r = CliRunner().invoke(cli, ["info", str(tmp / "m.safetensors"), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["arch"] == "resnet8" and d["input_shape"] == [3, 32, 32] and d["sha256"] == sha256_file(tmp / "m.safetensors")
    assert d["dataset"] == "cifar10" and "dataset cifar10" in CliRunner().invoke(cli, ["info", str(tmp / "m.safetensors")]).output
    save_model(m, tmp / "bare.safetensors")  # a file made elsewhere: says so
    assert "dataset not recorded" in CliRunner().invoke(cli, ["info", str(tmp / "bare.safetensors")]).output
    r = CliRunner().invoke(cli, ["export", str(tmp / "m.safetensors"), "--out", str(tmp / "m.onnx")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["info", str(tmp / "m.onnx"), "--json"])
    assert json.loads(r.output)["num_classes"] == 10 and json.loads(r.output)["dataset"] == "cifar10"
