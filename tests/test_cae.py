"""CAE on the shared tiny Fashion-MNIST victim (fixed seeds): the conferrable examples transfer to the victim's
distilled surrogates more than to the references they were optimised against; the victim, its fine-tuned and pruned
copies are flagged with labels only, the independent models are not."""

import pytest
import torch
from click.testing import CliRunner

from conftest import one_line_error
from stealguard.access import open_access
from stealguard.adversarial import conferrability
from stealguard.cli import cli
from stealguard.errors import ConfigError
from stealguard.methods import Cae, CaeSettings, verify_suspect
from stealguard.models import save_model

# surrogates and references are those of conftest.SAC_TINY (cache shared); the 4th and 5th reference are new
CAE_TINY = dict(samples=50, candidates=150, steps=60, surrogates=2, references=3, calibration=2, limit=2000, epochs=3)


def test_conferrability_hand_computed():
    sur = [torch.tensor([[0.8, 0.2]]), torch.tensor([[0.6, 0.4]])]
    ref = [torch.tensor([[0.1, 0.9]]), torch.tensor([[0.3, 0.7]])]
    # mean surrogate probability of class 0 (0.7) times one minus the highest reference probability of it (0.3)
    assert conferrability(sur, ref, torch.tensor([0])).item() == pytest.approx(0.7 * 0.7)


def test_copies_flagged_independents_not_with_labels_only(population, fmnist, tmp_path):
    victim, _, stolen, independent = population
    res = Cae().protect(victim, fmnist, CaeSettings(**CAE_TINY), tmp_path / "kit")
    rec = res.record
    assert rec["points"] == 50 and len(rec["reference_matching_rates"]) == 2
    # the examples do what CAE builds them for: the surrogates share the victim's labels on them far more often
    # than the references they were optimised against
    assert min(rec["surrogate_matching_rates"]) > max(rec["generation_reference_matching_rates"]) + 0.1, rec
    fine_tuned, _, pruned = stolen
    for m in (victim, fine_tuned, pruned):
        v = verify_suspect(res.kit, open_access(m, "labels"))
        assert v.stolen and v.queries == 50 and v.effect > 0, v.details
    for m in independent:
        v = verify_suspect(res.kit, open_access(m, "labels"))
        assert not v.stolen, v.details
        assert "no zero-shot copy" in v.blind_spot and "Known to miss" in v.summary()


def test_settings_bound_and_cli(fmnist_victim, tmp):
    for bad in (dict(samples=0), dict(candidates=10, samples=20), dict(eps=0), dict(eps=2), dict(calibration=0),
                dict(surrogates=0), dict(reference_archs="cnn:x")):
        with pytest.raises(ConfigError):
            CaeSettings(**bad)
    save_model(fmnist_victim[0], tmp / "victim.safetensors", extra={"dataset": "fashion-mnist"})
    r = CliRunner().invoke(cli, ["protect", "cae", "--victim", str(tmp / "victim.safetensors"), "--out", str(tmp / "cae"),
                                 *[f"--{k.replace('_', '-')}={v}" for k, v in CAE_TINY.items()], "--samples", "20",
                                 "--candidates", "80"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["verify", "--kit", str(tmp / "cae" / "kit"), "--suspect", str(tmp / "victim.safetensors"),
                                 "--access", "labels", "--json"])
    assert r.exit_code == 0 and '"method": "cae"' in r.output and '"stolen": true' in r.output, r.output
    r = CliRunner().invoke(cli, ["protect", "cae", "--victim", str(tmp / "victim.safetensors"), "--out", str(tmp / "x"),
                                 "--eps", "0"])
    assert "eps must be in (0, 1]" in one_line_error(r)
    # too few candidates become adversarial within a tiny eps: after the progress lines, one clear error line
    r = CliRunner().invoke(cli, ["protect", "cae", "--victim", str(tmp / "victim.safetensors"), "--out", str(tmp / "y"),
                                 *[f"--{k.replace('_', '-')}={v}" for k, v in CAE_TINY.items()], "--samples", "30",
                                 "--candidates", "30", "--steps", "5", "--eps", "0.001"])
    assert r.exit_code == 1 and "Traceback" not in r.output and not (tmp / "y" / "kit").exists()
    assert r.output.strip().splitlines()[-1].startswith("Error: only 0 of 30 candidates became adversarial"), r.output
