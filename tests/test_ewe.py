"""EWE on tiny Fashion-MNIST models (fixed seeds): the soft nearest-neighbour loss measures entanglement; the
watermarked model and its fine-tuned copy are flagged, the plain and an independent model are not."""

import pytest
import torch

from conftest import copy_and_stranger
from stealguard.access import open_access
from stealguard.errors import ConfigError
from stealguard.methods import Ewe, EweSettings, verify_suspect
from stealguard.methods.ewe import snnl


def test_snnl_is_high_when_the_groups_are_mixed():
    flags = torch.tensor([1.0, 1.0, 0.0, 0.0])
    apart = torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.01, 1.0]])
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.01], [0.01, 1.0]])
    assert snnl(mixed, flags, 0.5) > snnl(apart, flags, 0.5) + 1.0
    for bad in (dict(kappa=0), dict(every=0), dict(watermark="x"), dict(alpha_cert=1.5)):
        with pytest.raises(ConfigError):
            EweSettings(**bad)


def test_watermarked_and_copied_models_are_flagged_plain_and_independent_are_not(fmnist, tmp_path):
    res = Ewe().protect(fmnist, EweSettings(dataset="fashion-mnist", arch="cnn", width=0.5, limit=2000, epochs=3, samples=100),
                        tmp_path / "kit")
    assert res.record["victim"]["accuracy"] >= res.record["benign"][0]["accuracy"] - 0.05
    stolen, independent = copy_and_stranger(res.model, fmnist)
    v = {name: verify_suspect(res.kit, open_access(m, "probabilities")) for name, m in
         [("protected", res.model), ("fine-tuned", stolen), ("plain", res.extra_models["plain"]), ("independent", independent)]}
    assert v["protected"].stolen and v["protected"].details["watermark_accuracy"] > 0.9 and v["fine-tuned"].stolen
    assert not v["plain"].stolen and not v["independent"].stolen
    assert "ID watermark" in v["independent"].blind_spot and "Known to miss" in v["independent"].summary()
    assert verify_suspect(res.kit, open_access(stolen, "labels")).stolen
