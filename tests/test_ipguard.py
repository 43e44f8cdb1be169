"""IPGuard on the shared tiny Fashion-MNIST victim (fixed seeds): the points sit next to their boundaries; the victim
itself, its fine-tuned and pruned copies are flagged with labels only, the independent models are not."""

import pytest
import torch
from click.testing import CliRunner

from conftest import one_line_error
from stealguard.access import open_access
from stealguard.adversarial import boundary_points
from stealguard.cli import cli
from stealguard.data import to_tensor
from stealguard.errors import ConfigError
from stealguard.methods import IpGuard, IpGuardSettings, verify_suspect
from stealguard.models import save_model

IPG_TINY = dict(samples=100, references=3, limit=2000, epochs=3)  # the references are those of conftest.SAC_TINY


def test_boundary_points_reach_class_j_with_i_runner_up(fmnist, fmnist_victim):
    victim = fmnist_victim[0].eval()
    x = to_tensor(fmnist.test.x[:32])
    i, j = torch.full((32,), 2), torch.full((32,), 4)
    pts = boundary_points(victim, x, i, j, k=1.0, steps=200)
    with torch.no_grad():
        z = victim(pts)
    top2 = z.topk(2, 1).indices
    ok = (top2[:, 0] == 4) & (top2[:, 1] == 2)
    assert ok.float().mean() > 0.9
    gap = (z[:, 4] - z[:, 2])[ok]
    assert (gap >= 1.0 - 1e-3).all() and gap.median() < 2.0  # just past the margin k: near the boundary


def test_copies_flagged_independents_not_with_labels_only(population, fmnist, tmp_path):
    victim, _, stolen, independent = population
    res = IpGuard().protect(victim, fmnist, IpGuardSettings(**IPG_TINY), tmp_path / "kit")
    assert len(res.record["reference_matching_rates"]) == 3
    fine_tuned, _, pruned = stolen
    for m in (victim, fine_tuned, pruned):
        v = verify_suspect(res.kit, open_access(m, "labels"))
        assert v.stolen and v.queries == 100 and v.effect > 0, v.details
    rates = []
    for m in independent:
        v = verify_suspect(res.kit, open_access(m, "labels"))
        assert not v.stolen, v.details
        rates.append(v.details["matching_rate"])
    # a known limit (as the SAC paper reports): boundary points do not survive extraction; the logit-query copy
    # matches the victim on them no more often than an independent model does
    lq = verify_suspect(res.kit, open_access(stolen[1], "labels"))
    assert not lq.stolen and lq.details["matching_rate"] < max(rates)
    assert "Known to miss: at CPU scale it flagged no distilled" in lq.summary()  # the limit goes with the clearance
    # sequential: the same decisions on fewer queries, and a query budget ends it with a verdict, not an error
    for m, stolen_ in ((victim, True), (fine_tuned, True), (independent[0], False), (stolen[1], False)):
        v = verify_suspect(res.kit, open_access(m, "labels"), sequential=True, round_size=10)
        assert v.stolen == stolen_ and v.queries < 100 and v.queries == v.details["sequential"]["items"], v.details
        assert v.details["sequential"]["stop"] == ("rejected" if stolen_ else "cannot reach alpha with the items left")
    capped = verify_suspect(res.kit, open_access(victim, "labels", max_queries=5), sequential=True, round_size=10)
    assert capped.queries == 5 and not capped.stolen and capped.details["sequential"]["stop"] == "query budget reached"
    assert 0.05 < capped.p_value < 1  # five matches: evidence, not yet enough


def test_settings_bound_and_cli(fmnist_victim, tmp):
    for bad in (dict(init="zeros"), dict(samples=0), dict(k=-1), dict(references=0), dict(reference_archs="cnn:x")):
        with pytest.raises(ConfigError):
            IpGuardSettings(**bad)
    save_model(fmnist_victim[0], tmp / "victim.safetensors", extra={"dataset": "fashion-mnist"})
    r = CliRunner().invoke(cli, ["protect", "ipguard", "--victim", str(tmp / "victim.safetensors"), "--out", str(tmp / "ipg"),
                                 "--samples", "40", "--references", "2", "--limit", "2000", "--epochs", "3"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["verify", "--kit", str(tmp / "ipg" / "kit"), "--suspect", str(tmp / "victim.safetensors"),
                                 "--access", "labels", "--json"])
    assert r.exit_code == 0 and '"method": "ipguard"' in r.output and '"stolen": true' in r.output, r.output
    r = CliRunner().invoke(cli, ["protect", "ipguard", "--victim", str(tmp / "victim.safetensors"), "--out", str(tmp / "x"),
                                 "--init", "zeros"])
    assert "init must be one of" in one_line_error(r)
