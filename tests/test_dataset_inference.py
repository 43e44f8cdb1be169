"""Dataset inference on a tiny, overfit Fashion-MNIST model (fixed seeds): the embeddings measure what they claim;
with labels only, the owner's model and its fine-tuned copy are flagged, an independent model trained the same way
on other images is not; settings and CLI errors are one line."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import one_line_error
from stealguard.access import open_access
from stealguard.adversarial import blind_walk_distances, min_gd_distances
from stealguard.attacks import run_attack
from stealguard.cli import cli
from stealguard.data import to_tensor
from stealguard.errors import ConfigError
from stealguard.methods import DatasetInference, DatasetInferenceSettings, verify_suspect
from stealguard.recipes import cpu_recipe, train_classifier

# dataset inference needs a model that fits its training images better than unseen ones: 500 images, 30 epochs
DI_TINY = dict(dataset="fashion-mnist", arch="cnn", width=0.5, limit=500, epochs=30, fit_samples=150,
               verify_samples=100, steps=30, walks=3, embeddings="blind")
ALL = dict(m=100, repeats=1)  # every verification image at once: m = 10 has too little power at this scale


@pytest.fixture(scope="module")
def di_run(fmnist, tmp_path_factory):
    res = DatasetInference().protect(fmnist, DatasetInferenceSettings(**DI_TINY), tmp_path_factory.mktemp("di") / "kit")
    independent, _ = train_classifier(fmnist, "cnn", 0.5, cpu_recipe("fashion-mnist", epochs=30, seed=5, progress=False),
                                      split="attacker", limit=500)
    return res, independent


def test_embeddings_measure_distances(di_run, fmnist):
    model = di_run[0].model.eval()
    x = to_tensor(fmnist.test.x[:6])
    with torch.no_grad():
        y = model(x).argmax(1)
    d = min_gd_distances(model, x, "linf", 0.01, 40)
    assert d.shape == (6, 10)
    assert (d[torch.arange(6), y] == 0).all()  # the class already answered is at distance 0
    others = d[torch.nn.functional.one_hot(y, 10) == 0]
    assert (others > 0).all() and (others <= 0.41).all()  # 40 signed steps of 0.01 at most
    labels = lambda t: model(t).argmax(1).numpy()  # noqa: E731
    b = blind_walk_distances(labels, x, "l2", 0.4, 30, 4, torch.Generator().manual_seed(0))
    assert b.shape == (6, 4) and (b > 0).all()
    assert (b[:, 1:] >= b[:, :-1]).all()  # sorted per image
    with pytest.raises(ValueError):
        min_gd_distances(model, x, "l3", 0.1, 2)


def test_owner_model_and_copy_flagged_independent_not(di_run, fmnist):
    res, independent = di_run
    assert res.record["fit"]["blind"]["score_gap"] > 0.03
    stolen, _ = run_attack("fine-tune", res.model, fmnist, limit=1000, epochs=1, progress=False)
    v = {name: verify_suspect(res.kit, open_access(m, "labels"), **ALL)
         for name, m in (("fine-tuned", stolen), ("independent", independent))}
    assert v["fine-tuned"].stolen and not v["independent"].stolen and v["independent"].p_value > 0.2, \
        {k: x.details for k, x in v.items()}
    assert np.isclose(v["fine-tuned"].details["p_all"], v["fine-tuned"].p_value)  # m = all images: p is p_all
    assert "Known to miss: at CPU scale, on victims trained as usual" in v["independent"].summary()
    # the owner's model with the paper's m = 10 per draw (weaker at this scale), whose verdict also reports p_all, the
    # test on every verification image at once: the owner's model is shown there
    paper = verify_suspect(res.kit, open_access(res.model, "labels"))
    assert paper.details["m"] == 10 and paper.details["p_all"] < 0.05 and paper.effect > 0, paper.details
    assert paper.details["embedding"] == "blind"
    assert paper.queries > 1000  # blind walks cost many label queries, all counted
    with pytest.raises(ConfigError, match="no mingd regressor"):
        verify_suspect(res.kit, open_access(res.model, "white-box"), embedding="mingd")


def test_settings_and_cli(tmp):
    for bad in (dict(fit_samples=1), dict(walks=0), dict(embeddings="mingd,radius"), dict(embeddings="")):
        with pytest.raises(ConfigError):
            DatasetInferenceSettings(**bad)
    assert DatasetInferenceSettings(embeddings="blind, mingd").embeddings == "mingd,blind"
    r = CliRunner().invoke(cli, ["protect", "dataset-inference", "--out", str(tmp / "di"), "--limit", "100",
                                 "--fit-samples", "80", "--verify-samples", "40", "--epochs", "1"])
    assert "needs 120 training" in one_line_error(r)
    assert "dataset-inference" in CliRunner().invoke(cli, ["protect", "--help"]).output


def test_blind_walk_survives_a_zero_uniform_draw():
    # seed 1 draws an exact 0.0 among these 4.6M uniforms; the L1 direction's -log(u) made whole walks NaN (found on
    # CIFAR-10, where a NaN query is refused as "the suspect returned NaN")
    g = torch.Generator().manual_seed(1)
    x = torch.full((300, 3, 32, 32), 0.5)
    labels = lambda t: (t.mean((1, 2, 3)) > 0.5).long().numpy()  # noqa: E731
    d = blind_walk_distances(labels, x, "l1", 8.0, 3, 5, g)
    assert torch.isfinite(d).all()
