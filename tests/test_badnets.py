"""BadNets backdoor watermark on tiny Fashion-MNIST models (fixed seeds): the poisoned model and its fine-tuned copy
are flagged, the plain model and an independent one are not; labels-only; the CLI end to end."""

import json

import pytest
from click.testing import CliRunner

from conftest import copy_and_stranger
from stealguard.access import open_access
from stealguard.cli import cli
from stealguard.errors import ConfigError
from stealguard.methods import BadNets, BadNetsSettings, verify_suspect
from stealguard.models import save_model

BN_TINY = dict(dataset="fashion-mnist", arch="cnn", width=0.5, limit=2000, epochs=3, rate=0.1, target=0)


@pytest.fixture(scope="module")
def bn_run(fmnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("badnets")
    res = BadNets().protect(fmnist, BadNetsSettings(**BN_TINY), out / "kit")
    return (out, res, *copy_and_stranger(res.model, fmnist))


def test_backdoored_and_copied_models_are_flagged_plain_and_independent_are_not(bn_run):
    out, res, stolen, independent = bn_run
    assert res.record["attack_success_rate"] > 0.9
    assert res.record["victim"]["accuracy"] >= res.record["benign"][0]["accuracy"] - 0.05
    v = {name: verify_suspect(res.kit, open_access(m, "probabilities")) for name, m in
         [("protected", res.model), ("fine-tuned", stolen), ("plain", res.extra_models["plain"]), ("independent", independent)]}
    assert v["protected"].stolen and v["fine-tuned"].stolen
    assert not v["plain"].stolen and not v["independent"].stolen
    assert "no distilled, label-query or logit-query copy" in v["independent"].blind_spot
    assert v["independent"].details["attack_success_rate"] < 0.5
    assert v["protected"].queries == 2 * 100  # m triggered images and their benign originals
    lab = verify_suspect(res.kit, open_access(stolen, "labels"))
    assert lab.access == "labels" and lab.stolen


def test_settings_and_cli(bn_run, tmp):
    out, res, stolen, independent = bn_run
    for bad in (dict(rate=0.0), dict(verify_samples=1), dict(trigger=-1)):
        with pytest.raises(ConfigError):
            BadNetsSettings(**bad)
    args = ["protect", "badnets", "--out", str(tmp / "bn")] + [f"--{k.replace('_', '-')}={v}" for k, v in BN_TINY.items()]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    save_model(stolen, tmp / "stolen.safetensors")
    r = CliRunner().invoke(cli, ["verify", "--kit", str(tmp / "bn" / "kit"), "--suspect", str(tmp / "stolen.safetensors"), "--json"])
    assert r.exit_code == 0, r.output
    v = json.loads(r.output)
    assert v["method"] == "badnets" and v["stolen"] and v["alpha"] == 0.01
