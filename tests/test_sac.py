"""SAC on a tiny Fashion-MNIST population (fixed seeds): stolen copies sit closer to the victim than independent
models; label-only mode never reads probabilities."""

import numpy as np
import pytest

from stealguard.access import Labels, ModuleBackend, open_access
from stealguard.errors import AccessDenied, ConfigError
from stealguard.methods import SacSettings, verify_suspect
from stealguard.methods.sac import correlation, cutmix, distance, smoothed_onehot

from conftest import SAC_TINY as TINY


def test_pieces():
    x = np.arange(4 * 8 * 8, dtype=np.uint8).reshape(4, 8, 8, 1)
    y = cutmix(x, 4, flip=False, seed=0)
    assert y.shape == x.shape and (y != x).any() and np.array_equal(cutmix(x, 4, False, 0), y)
    changed = (y != x).reshape(4, -1).sum(1)
    assert (changed > 0).all() and (changed <= 16).all()  # exactly one 4x4 patch per image
    p = smoothed_onehot(np.array([0, 2]), 4, 0.1)
    assert np.allclose(p.sum(1), 1) and p[0, 0] == pytest.approx(0.925) and p[0, 1] == pytest.approx(0.025)
    o = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    c = correlation(o)
    assert c[0, 1] == pytest.approx(0) and c[0, 2] == pytest.approx(1 / np.sqrt(2)) and np.allclose(np.diag(c), 1)
    assert np.allclose(np.diag(correlation(o, "rbf")), 1) and correlation(o, "rbf", 1.0)[0, 1] == pytest.approx(np.exp(-2))
    assert distance(c, c) == 0 and distance(c, np.zeros_like(c)) == pytest.approx(np.abs(c).mean())
    with pytest.raises(ConfigError):
        SacSettings(variant="x")


def test_thresholds():
    from stealguard.methods.sac import threshold

    sur, ref = [0.08, 0.06], [0.12, 0.25, 0.13, 0.22]
    assert threshold(sur, ref, "paper") == pytest.approx((0.07 + 0.18) / 2)  # 0.125: above the reference at 0.12
    assert threshold(sur, ref) == pytest.approx((0.08 + 0.12) / 2)
    assert threshold([0.2], ref) < 0.12 and threshold([0.2], ref) == pytest.approx(0.12)  # overlap: just below
    assert threshold([], ref) == pytest.approx(0.06) and threshold([], ref, "paper") == pytest.approx(0.06)
    with pytest.raises(ConfigError):
        threshold(sur, ref, "median")


def test_stolen_models_are_closer_than_every_independent_one(population):
    victim, res, stolen, independent = population
    vs = [verify_suspect(res.kit, open_access(m, "probabilities")) for m in stolen]
    vi = [verify_suspect(res.kit, open_access(m, "probabilities")) for m in independent]
    assert max(v.effect for v in vs) < min(v.effect for v in vi), ([v.effect for v in vs], [v.effect for v in vi])
    assert all(v.stolen for v in vs) and not any(v.stolen for v in vi)
    assert all("no zero-shot copy" in v.blind_spot for v in vs + vi)
    assert vs[0].queries == TINY["samples"] and vs[0].method == "sac"
    assert verify_suspect(res.kit, open_access(victim, "probabilities")).effect == pytest.approx(0, abs=1e-12)


def test_label_only_mode_never_reads_probabilities(population):
    victim, res, stolen, independent = population

    class NoScores(Labels):
        def predict_proba(self, x):  # pragma: no cover - must never be called
            raise AssertionError("label-only SAC read probabilities")

    v = verify_suspect(res.kit, NoScores(ModuleBackend(stolen[0])))
    assert v.access == "labels" and v.details["output"] == "labels" and v.queries == TINY["samples"]
    honest = verify_suspect(res.kit, NoScores(ModuleBackend(independent[0])))
    assert v.effect < honest.effect
    with pytest.raises(AccessDenied):
        open_access(stolen[0], "labels").predict_proba(np.zeros((1, 28, 28, 1), np.uint8))


def test_cli_protect_and_verify(population, tmp):
    import json

    from click.testing import CliRunner

    from stealguard.cli import cli
    from stealguard.models import save_model

    victim, res, stolen, independent = population
    save_model(victim, tmp / "victim.safetensors", extra={"dataset": "fashion-mnist"})
    save_model(stolen[0], tmp / "stolen.safetensors")
    args = ["protect", "sac", "--victim", str(tmp / "victim.safetensors"), "--out", str(tmp / "sac")]
    for k, v in TINY.items():
        args += [f"--{k}", str(v)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["verify", "--kit", str(tmp / "sac" / "kit"), "--suspect", str(tmp / "stolen.safetensors"),
                                 "--access", "labels", "--json"])
    assert r.exit_code == 0, r.output
    v = json.loads(r.output)
    assert v["method"] == "sac" and v["access"] == "labels" and v["stolen"] is True


def test_rounded_api_outputs_are_a_known_limit(population):
    """Documents the limit stated in the README: probabilities rounded to 2 decimals (an API-side defence) move even
    the victim itself above the kit's threshold in the default log-probability representation; labels survive."""
    victim, res, _, _ = population
    rounded = verify_suspect(res.kit, open_access(victim, "probabilities", output="rounded:2"))
    assert rounded.effect > rounded.details["threshold"] and not rounded.stolen
    labels = verify_suspect(res.kit, open_access(victim, "labels", output="rounded:2"))
    assert labels.effect == pytest.approx(0, abs=1e-12) and labels.stolen


def test_several_kits_give_one_combined_verdict(population, tmp, monkeypatch):
    """verify with several --kit: each kit's verdict and one combined verdict (Holm-Bonferroni at --alpha over all
    kits); kits of different protected models refused unless --allow-mixed says why; a kit that cannot judge the
    access level skipped with a line; an output file that cannot be written refused before any query."""
    import json
    import shutil
    from pathlib import Path

    from click.testing import CliRunner

    from stealguard.cli import cli
    from stealguard.methods import combined
    from stealguard.models import save_model

    from conftest import one_line_error

    victim, res, stolen, independent = population
    a, b, other = tmp / "a", tmp / "b", tmp / "other"
    shutil.copytree(res.kit.directory, a)
    shutil.copytree(res.kit.directory, b)
    shutil.copytree(res.kit.directory, other)
    manifest = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps(manifest | {"victim_sha256": "f" * 64}))  # another model's kit
    save_model(stolen[0], tmp / "stolen.safetensors")
    save_model(independent[0], tmp / "independent.safetensors")

    def run(*extra, suspect="stolen"):
        return CliRunner().invoke(cli, ["verify", "--kit", str(a), "--kit", str(b), "--suspect",
                                        str(tmp / f"{suspect}.safetensors"), "--access", "labels", *extra])

    # three reference models: an empirical p of at least 0.25 per kit, so a combined level of 0.6 (0.3 per kit)
    r = run("--alpha", "0.6", "--json")
    assert r.exit_code == 0, r.output
    c = json.loads(r.output)
    assert c["stolen"] and len(c["verdicts"]) == 2 and all(k["rejected"] for k in c["kits"])
    assert c["p_value"] == pytest.approx(2 * max(k["p_value"] for k in c["kits"])) and "Holm" in c["bound"]
    assert not json.loads(run("--alpha", "0.6", "--json", suspect="independent").output)["stolen"]
    text = run().output  # at the default 0.01 no SAC kit of three references can take part in an accusation
    assert "combined over 2 kit(s): not shown stolen" in text and "Bound: Holm-Bonferroni" in text
    line = one_line_error(CliRunner().invoke(cli, ["verify", "--kit", str(a), "--kit", str(other), "--suspect",
                                                   str(tmp / "stolen.safetensors"), "--access", "labels"]))
    assert "2 different models" in line and "--allow-mixed" in line
    r = CliRunner().invoke(cli, ["verify", "--kit", str(a), "--kit", str(other), "--suspect", str(tmp / "stolen.safetensors"),
                                 "--access", "labels", "--allow-mixed", "one release, fingerprinted twice"])
    assert r.exit_code == 0 and "combined because: one release, fingerprinted twice" in r.output
    line = one_line_error(run("--out", str(tmp / "missing" / "v.json")))
    assert "--out" in line and "does not exist" in line
    # a kit that cannot judge this access level is skipped, the others still decide
    real = combined.verify_suspect

    def picky(kit, suspect, **options):
        if Path(kit.directory).resolve() == b.resolve():
            raise AccessDenied("this kit needs probabilities")
        return real(kit, suspect, **options)

    monkeypatch.setattr(combined, "verify_suspect", picky)
    c = combined.verify_combined([str(a), str(b)], open_access(stolen[0], "labels"), alpha=0.6)
    assert len(c.verdicts) == 1 and c.skipped[0]["reason"] == "this kit needs probabilities" and c.stolen
    assert "skipped sac kit" in c.summary()


CHROMIUM_OWN = {"update.googleapis.com", "accounts.google.com", "clients2.google.com"}  # the browser's updater/account


def render_in_chromium(page, png, tmp):
    """Open ``page`` in headless Chromium behind a recording proxy that refuses everything; return the DOM after
    load and the requests the page made (the browser's own updater and account hosts left out)."""
    import socketserver
    import subprocess
    import threading

    seen = []

    class Refuse(socketserver.StreamRequestHandler):
        def handle(self):
            seen.append(self.rfile.readline().decode("latin-1").strip())
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    proxy = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp / 'chromium'}",
             f"--proxy-server=http://127.0.0.1:{proxy.server_address[1]}", "--proxy-bypass-list=<-loopback>",
             "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--window-size=1000,2600"]
    try:
        dom = subprocess.run(["chromium", *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                             timeout=120, check=True).stdout
        subprocess.run(["chromium", *flags, f"--screenshot={png}", page.as_uri()], capture_output=True, timeout=120,
                       check=True)
    finally:
        proxy.shutdown()
    host = lambda line: line.split()[1].split("://")[-1].split("/")[0].split(":")[0] if len(line.split()) > 1 else ""
    return dom, [line for line in seen if host(line) not in CHROMIUM_OWN]


def test_evidence_report_in_a_real_browser(population, tmp):
    """verify --report: one self-contained HTML page that Chromium loads without a single outside request, showing
    the combined verdict first and one plot per kit; the recording proxy does see a page that loads an outside image."""
    import base64
    import io
    import re
    import shutil

    from click.testing import CliRunner
    from PIL import Image

    from stealguard.cli import cli
    from stealguard.models import save_model

    from conftest import one_line_error

    victim, res, stolen, independent = population
    for name in "ab":
        shutil.copytree(res.kit.directory, tmp / f"report-{name}")
    save_model(stolen[0], tmp / "stolen.safetensors")
    page = tmp / "evidence.html"
    args = ["verify", "--kit", str(tmp / "report-a"), "--kit", str(tmp / "report-b"), "--suspect",
            str(tmp / "stolen.safetensors"), "--access", "labels", "--alpha", "0.6"]
    assert "--report" in one_line_error(CliRunner().invoke(cli, [*args, "--report", str(tmp / "no" / "r.html")]))
    r = CliRunner().invoke(cli, [*args, "--report", str(page)])
    assert r.exit_code == 0, r.output
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    dom, requests = render_in_chromium(page, tmp / "evidence.png", tmp)
    assert requests == [], requests
    assert "Combined over 2 kit(s)" in dom and dom.index("Combined over") < dom.index('class="panel"')
    plots = re.findall(r'<img class="plot"[^>]*src="data:image/png;base64,([^"]+)"', dom)
    assert len(plots) == 2
    for p in plots:  # each plot is a real picture
        assert Image.open(io.BytesIO(base64.b64decode(p))).size[0] >= 600
    shot = Image.open(tmp / "evidence.png").convert("L")
    assert shot.size == (1000, 2600) and sum(1 for c in shot.histogram() if c) > 20  # not a blank page
    for h in (res.kit.kit_id,):
        assert h in dom
    outside = tmp / "outside.html"
    outside.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>')
    assert any("example.invalid" in line for line in render_in_chromium(outside, tmp / "o.png", tmp)[1])
