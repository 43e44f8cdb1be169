"""Live prediction APIs on loopback: `stealguard serve`, verification of HTTP suspects with MOVE black-box and SAC,
unreliable servers (30% failures, slow answers), the audit log and resuming without re-sending a query."""

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from conftest import one_line_error
from stealguard.access import open_access
from stealguard.cli import cli
from stealguard.methods import verify_suspect
from stealguard.models import save_model
from stealguard.remote import check_audit_log
from stealguard.serve import PredictionServer


def _verify(kit_dir, url, log, *extra):
    r = CliRunner().invoke(cli, ["verify", "--kit", str(kit_dir), "--suspect", url, "--audit-log", str(log), "--json", *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


@pytest.mark.parametrize("method,protocol", [("move", "stealguard"), ("sac", "v2")])
def test_served_stolen_model_flagged_and_independent_cleared(method, protocol, move_run, population, tmp):
    """The same verdicts through an API as from the files, over stealguard's protocol and the Open Inference
    Protocol v2 (KServe / Triton / MLServer), for a stolen copy and an independent model."""
    extra = ("--scores", "probabilities") if protocol == "v2" else ()
    if method == "move":
        out, _, stolen, independent = move_run
        kit = out / "kit"
    else:
        _, res, stolens, independents = population
        kit, stolen, independent = res.kit.directory, stolens[1], independents[0]  # the logit-query copy
    verdicts = {}
    for name, model in [("stolen", stolen), ("independent", independent)]:
        with PredictionServer(model, protocol=protocol) as srv:
            verdicts[name] = v = _verify(kit, srv.url, tmp / f"{name}.jsonl", *extra)
            remote = v["details"]["remote"]
            assert remote["protocol"] == protocol
            assert remote["url"] == srv.url and remote["sent"] == len(srv.answered)  # every image sent once
            assert check_audit_log(tmp / f"{name}.jsonl") == remote["audit_log_entries"] > 0
            local = verify_suspect(_kit(kit), open_access(model, "probabilities"))
            assert v["stolen"] == local.stolen and v["p_value"] == pytest.approx(local.p_value, rel=1e-6, abs=1e-12)
    assert verdicts["stolen"]["stolen"] and not verdicts["independent"]["stolen"]
    # queries per verdict: MOVE's default rule (style-accuracy) m stylised images; SAC n
    expected = 100
    assert verdicts["stolen"]["queries"] == expected


def _kit(path):
    from stealguard.kit import load_kit

    return load_kit(path)


def test_unreliable_and_slow_servers_give_the_same_verdict(move_run, tmp):
    out, _, stolen, independent = move_run
    base = {}
    for name, model in [("stolen", stolen), ("independent", independent)]:
        base[name] = verify_suspect(_kit(out / "kit"), open_access(model, "probabilities"))
        with PredictionServer(model, fail_rate=0.3, seed=3) as flaky:
            v = _verify(out / "kit", flaky.url, tmp / f"flaky-{name}.jsonl", "--retries", "10")
            assert flaky.requests["failed"] > 0  # failures really happened ...
            assert v["details"]["remote"]["retries"] == flaky.requests["failed"]  # ... and each was retried
            assert max(flaky.answered.values()) == 1  # no image answered twice
            assert v["stolen"] == base[name].stolen and v["p_value"] == pytest.approx(base[name].p_value, rel=1e-6, abs=1e-12)
    with PredictionServer(stolen, delay=0.3) as slow:
        t0 = time.perf_counter()
        v = _verify(out / "kit", slow.url, tmp / "slow.jsonl", "--timeout", "10")
        assert time.perf_counter() - t0 >= 0.3 * v["details"]["remote"]["requests"] - 0.5
        assert v["stolen"] == base["stolen"].stolen and v["p_value"] == pytest.approx(base["stolen"].p_value, rel=1e-6)
        assert max(slow.answered.values()) == 1


def test_interrupted_verification_resumes_without_resending(move_run, tmp):
    out, _, stolen, _ = move_run
    log = tmp / "audit.jsonl"
    rule = ("--rule", "calibrated")  # 1,000 queries in 10 batches (the default rule asks one batch of 100)
    with PredictionServer(stolen) as srv:
        r = CliRunner().invoke(cli, ["verify", "--kit", str(out / "kit"), "--suspect", srv.url, "--audit-log", str(log),
                                     "--max-queries", "450", *rule])
        line = one_line_error(r)
        assert "query budget of 450 exhausted" in line and str(log) in line and "rerun" in line
        sent_before = sum(srv.answered.values())
        assert 0 < sent_before <= 450 and check_audit_log(log) > 0  # the partial evidence is on disk
        v = _verify(out / "kit", srv.url, log, *rule)  # resume: only what is missing is sent
        assert max(srv.answered.values()) == 1
        assert v["details"]["remote"]["sent"] == sum(srv.answered.values()) - sent_before
        assert v["details"]["remote"]["from_log"] >= sent_before
        again = _verify(out / "kit", srv.url, log, *rule)  # a third run sends nothing at all
        assert again["details"]["remote"]["sent"] == 0 and again["p_value"] == v["p_value"]
    # a half-written last line (a run killed while writing) is dropped; the rest of the log still counts
    with open(log, "ab") as f:
        f.write(b'{"url": "http://x", "ima')
    with PredictionServer(stolen) as srv2:  # another port: another URL, so its answers are asked anew
        v3 = _verify(out / "kit", srv2.url, log, *rule)
        assert v3["stolen"] == v["stolen"] and check_audit_log(log) == v3["details"]["remote"]["audit_log_entries"]


def test_rounded_and_top1_apis(population, tmp):
    _, res, stolen, independent = population
    with PredictionServer(stolen[1], output="top1") as srv:
        v = _verify(res.kit.directory, srv.url, tmp / "top1.jsonl", "--access", "labels")
        assert v["access"] == "labels" and v["details"]["remote"]["output"] == "top1"
        r = CliRunner().invoke(cli, ["verify", "--kit", str(res.kit.directory), "--suspect", srv.url,
                                     "--audit-log", str(tmp / "x.jsonl")])
        assert "labels only" in one_line_error(r)
    with PredictionServer(stolen[1], output="rounded:2") as srv:  # rows sum to 1 only within the rounding: accepted
        v = _verify(res.kit.directory, srv.url, tmp / "r2.jsonl")
        local = verify_suspect(res.kit, open_access(stolen[1], "probabilities", output="rounded:2"))
        assert v["effect"] == pytest.approx(local.effect, abs=1e-9) and v["stolen"] == local.stolen


def test_stealguard_serve_command_and_remote_theft(fmnist_victim, tmp):
    """The real CLI in a subprocess serves a model; a label-query theft goes through it like through a file."""
    victim, _ = fmnist_victim
    save_model(victim, tmp / "victim.safetensors", extra={"dataset": "fashion-mnist"})
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "stealguard", "serve", str(tmp / "victim.safetensors"), "--port", "0",
                             "--output", "top1"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()
        assert "serving" in line, line
        url = line.split(" at ")[1].split(" ")[0]
        r = CliRunner().invoke(cli, ["steal", "label-query", "--victim", url, "--dataset", "fashion-mnist", "--arch", "cnn",
                                     "--width", "0.5", "--limit", "2000", "--epochs", "2", "--out", str(tmp / "s"),
                                     "--audit-log", str(tmp / "steal.jsonl")])
        assert r.exit_code == 0, r.output
        rec = json.loads((tmp / "s" / "record.json").read_text())
        assert rec["victim_url"] == url and rec["queries"] == 2000 and rec["fidelity"] > 0.6
        assert rec["remote"]["sent"] >= 2000 and check_audit_log(tmp / "steal.jsonl") > 0
        r = CliRunner().invoke(cli, ["steal", "fine-tune", "--victim", url, "--dataset", "fashion-mnist", "--out", str(tmp / "f"),
                                     "--audit-log", str(tmp / "ft.jsonl")])
        assert "needs the victim's weights" in one_line_error(r)
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode is not None


def test_onnx_model_served_and_answers_match_the_file(tmp):
    import numpy as np
    import torch

    from stealguard.models import ModelSpec, build_model, export_onnx

    torch.manual_seed(0)
    export_onnx(build_model(ModelSpec(arch="cnn", num_classes=10, in_channels=3, image_size=(32, 32), width=0.25)).eval(),
                tmp / "m.onnx")
    x = np.random.default_rng(0).integers(0, 256, (37, 32, 32, 3), dtype=np.uint8)
    with PredictionServer(tmp / "m.onnx", max_batch=16) as srv:
        remote = open_access(srv.url, "probabilities", remote={"audit_log": tmp / "a.jsonl", "batch_size": 16})
        assert remote.input_shape == (3, 32, 32) and remote.num_classes == 10
        np.testing.assert_allclose(remote.predict_proba(x), open_access(tmp / "m.onnx").predict_proba(x), atol=1e-6)
        assert remote.describe()["remote"]["sent"] == 37 and remote.describe()["remote"]["requests"] == 1 + 3
        # the rate limit spaces requests: 4 per second -> /info and 3 predict requests take at least 0.75 s
        t0 = time.perf_counter()
        slow = open_access(srv.url, "probabilities", remote={"audit_log": tmp / "b.jsonl", "batch_size": 16, "rate_limit": 4})
        slow.predict_proba(x)
        assert time.perf_counter() - t0 >= 0.75 and slow.describe()["remote"]["requests"] == 4


class FakeV2:
    """A v2 model server (metadata of a 1 x 28 x 28, 10-class model; also a one-image JSON API) whose n-th
    request is answered by
    ``answers[n]`` (an object, raw bytes, or "stall": headers promising 1,000 bytes, then silence); later requests
    by the last entry."""

    def __init__(self, answers):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        api, self.answers, self.calls = self, answers, 0

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, body: bytes, length=None):
                self.send_response(200)
                self.send_header("Content-Length", str(length or len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                if "/v1/" in self.path:  # TF-Serving's metadata
                    dims = lambda *d: {"dim": [{"size": str(x)} for x in d]}  # noqa: E731
                    sig = {"inputs": {"x": {"dtype": "DT_FLOAT", "tensor_shape": dims(-1, 28, 28, 1)}},
                           "outputs": {"y": {"dtype": "DT_FLOAT", "tensor_shape": dims(-1, 10)}}}
                    self._send(json.dumps({"metadata": {"signature_def": {"signature_def": {"serving_default": sig}}}}).encode())
                    return
                self._send(json.dumps({"name": "m", "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 1, 28, 28]}],
                                       "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 10]}]}).encode())

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                n = (body["inputs"][0]["shape"][0] if "inputs" in body else len(body["instances"]) if "instances" in body
                     else 1)  # v2, TF-Serving, or a JSON-adapter API taking one image
                a = api.answers[min(api.calls, len(api.answers) - 1)]
                api.calls += 1
                if a == "redirect":  # on to another host (127.0.0.2 is loopback too, but not the host asked)
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.2:{self.server.server_address[1]}{self.path}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if a == "stall":
                    self._send(b'{"outputs": [', 1000)
                    time.sleep(3)
                    return
                a = a(n) if callable(a) else a
                self._send(a if isinstance(a, bytes) else json.dumps(a).encode())

        class S(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.httpd = S(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v2/models/m"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _v2(data, n, shape=None):
    return {"outputs": [{"name": "y", "datatype": "FP32", "shape": shape or [n, 10], "data": data}]}


def test_hostile_v2_answers_keep_what_was_received_and_resume(population, tmp):
    """Each hostile answer of a v2 server (wrong shape, NaN, a JSON error body with status 200, logits declared as
    probabilities, an answer over 64 MiB, a stall mid-body, a redirect to another host) stops the verification with
    one line; the batches answered before it stay in the audit log and a rerun against a sound server sends only the
    rest. TF-Serving's adapter meets the same answers in its own format."""
    import numpy as np

    from stealguard.errors import RemoteError

    _, res, _, _ = population
    uniform = lambda n: _v2([0.1] * (10 * n), n)  # noqa: E731
    hostile = {
        "wrong shape": (lambda n: _v2([0.1] * (10 * n), n, [n, 5, 2]), "shape [40, 5, 2]"),
        "NaN": (lambda n: _v2([float("nan")] * (10 * n), n), "NaN or infinite"),
        "error body with 200": ({"error": "model crashed"}, "no 'outputs' (it says: model crashed)"),
        "logits as probabilities": (lambda n: _v2(np.random.default_rng(0).normal(0, 3, 10 * n).tolist(), n),
                                    "probabilities"),
        "over 64 MiB": (b" " * (65 * 2**20), "more than 64 MiB"),
        "stall mid-body": ("stall", "no answer after 1 attempts"),
        "redirect to another host": ("redirect", "redirected to another host"),
    }
    remote = {"batch_size": 40, "scores": "probabilities", "timeout": 1, "retries": 0}
    for case, (answer, expected) in hostile.items():
        log = tmp / f"{case}.jsonl"
        api = FakeV2([uniform, answer])
        try:
            with pytest.raises(RemoteError) as e:
                verify_suspect(res.kit, open_access(api.url, "probabilities", remote=remote | {"audit_log": log}))
            assert expected in str(e.value) and "\n" not in str(e.value), (case, str(e.value))
            assert check_audit_log(log) == 1, case  # the first batch's answer was kept
        finally:
            api.close()
    tf = {"wrong shape": ({"predictions": [[0.5, 0.5]]}, "1 rows for 40 images"),
          "NaN": (lambda n: {"predictions": [[float("nan")] * 10] * n}, "NaN or infinite"),
          "error body with 200": ({"error": "model crashed"}, "no 'predictions' (it says: model crashed)"),
          "over 64 MiB": (b" " * (65 * 2**20), "more than 64 MiB"), "stall mid-body": ("stall", "no answer"),
          "redirect to another host": ("redirect", "redirected to another host")}
    tf_uniform = lambda n: {"predictions": [[0.1] * 10] * n}  # noqa: E731
    for case, (answer, expected) in tf.items():
        log = tmp / f"tf-{case}.jsonl"
        api = FakeV2([tf_uniform, answer])
        try:
            with pytest.raises(RemoteError) as e:
                verify_suspect(res.kit, open_access(api.url.replace("/v2/", "/v1/"), "probabilities",
                                                    remote=remote | {"audit_log": log}))
            assert expected in str(e.value) and "\n" not in str(e.value), (case, str(e.value))
            assert check_audit_log(log) == 1, case
        finally:
            api.close()
    # the resume proper: same URL, the first 40 answers come from the log
    log = tmp / "resume.jsonl"
    api = FakeV2([uniform, {"error": "later"}])
    url = api.url
    with pytest.raises(RemoteError):
        verify_suspect(res.kit, open_access(url, "probabilities", remote=remote | {"audit_log": log}))
    api.answers, api.calls = [uniform], 0
    try:
        v = verify_suspect(res.kit, open_access(url, "probabilities", remote=remote | {"audit_log": log}))
    finally:
        api.close()
    assert v.details["remote"]["from_log"] == 40 and v.details["remote"]["sent"] == 60 and api.calls == 2
    # logits declared as logits are turned into probabilities, never used raw
    api = FakeV2([lambda n: _v2([0.0] * (10 * n), n)])
    try:
        a = open_access(api.url, "probabilities", remote=remote | {"scores": "logits", "audit_log": tmp / "l.jsonl"})
        assert np.allclose(a.predict_proba(np.zeros((3, 28, 28, 1), np.uint8)), 0.1)
    finally:
        api.close()
    line = one_line_error(CliRunner().invoke(cli, ["verify", "--kit", str(res.kit.directory), "--suspect", api.url]))
    assert "--scores probabilities|logits" in line


FASTAPI_APP = '''
import base64, io, sys

import numpy as np
from fastapi import FastAPI, Header, HTTPException
from PIL import Image
from pydantic import BaseModel

from stealguard.access import open_access

models = {name: open_access(path, "labels") for name, path in zip(sys.argv[1::2], sys.argv[2::2])}
app = FastAPI()


class Query(BaseModel):
    image: str


@app.post("/{name}/classify")
def classify(name: str, q: Query, x_api_key: str = Header(None)):
    if x_api_key != "s3cret":
        raise HTTPException(status_code=401, detail="bad key")
    if name not in models:
        raise HTTPException(status_code=404, detail="no such model")
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(q.image))).convert("L"))[None, :, :, None]
    return {"label": int(models[name].predict_labels(img)[0]), "model": "acme-vision-2"}
'''


def test_generic_json_adapter_against_a_fastapi_endpoint(population, tmp, monkeypatch):
    """A typical home-made endpoint (FastAPI under uvicorn, one base64 PNG in, {"label": ...} out, an API key in a
    header): the generic JSON adapter verifies a stolen copy and an independent model through it, labels only, with
    the verdicts the files give; the key is read from the environment and written nowhere."""
    import socket
    import urllib.request

    from stealguard.methods import verify_suspect as verify

    _, res, stolen, independent = population
    (tmp / "app.py").write_text(FASTAPI_APP)
    (tmp / "api.yaml").write_text("headers: {X-API-Key: '${ACME_KEY}'}\ninput_shape: [1, 28, 28]\nnum_classes: 10\n"
                                  "request: {field: image, encoding: png-base64}\nanswer: {field: label, kind: labels}\n")
    monkeypatch.setenv("ACME_KEY", "s3cret")
    models = {"stolen": stolen[0], "independent": independent[0]}
    for name, model in models.items():
        save_model(model, tmp / f"{name}.safetensors")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [x for name in models for x in (name, str(tmp / f"{name}.safetensors"))]
    proc = subprocess.Popen([sys.executable, "-c", f"import sys; sys.argv = ['app', *{argv!r}]; sys.path.insert(0, "
                             f"{str(tmp)!r}); import uvicorn; uvicorn.run('app:app', host='127.0.0.1', port={port}, "
                             "log_level='warning')"], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):  # until uvicorn listens
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/docs", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        for name, model in models.items():
            url = f"http://127.0.0.1:{port}/{name}/classify"
            log = tmp / f"{name}.jsonl"
            r = CliRunner().invoke(cli, ["verify", "--kit", str(res.kit.directory), "--suspect", url, "--access", "labels",
                                         "--protocol", f"json:{tmp / 'api.yaml'}", "--audit-log", str(log), "--json"])
            assert r.exit_code == 0, r.output
            v = json.loads(r.output)
            local = verify(res.kit, open_access(model, "labels"))
            assert v["stolen"] == local.stolen and v["effect"] == pytest.approx(local.effect, abs=1e-12), (v, local)
            assert v["details"]["remote"]["protocol"] == "json" and v["details"]["remote"]["requests"] == 100
            assert "s3cret" not in log.read_text() and "s3cret" not in r.output
        r = CliRunner().invoke(cli, ["verify", "--kit", str(res.kit.directory), "--suspect", url, "--protocol",
                                     f"json:{tmp / 'api.yaml'}", "--audit-log", str(tmp / "p.jsonl")])
        assert "labels only" in one_line_error(r)  # a label API gives no probabilities
    finally:
        proc.terminate()
        proc.wait(10)
    assert verify(res.kit, open_access(stolen[0], "labels")).stolen
    monkeypatch.delenv("ACME_KEY")
    line = one_line_error(CliRunner().invoke(cli, ["verify", "--kit", str(res.kit.directory), "--suspect", url,
                                                   "--protocol", f"json:{tmp / 'api.yaml'}", "--access", "labels"]))
    assert "ACME_KEY" in line and "not set" in line


def test_https_with_a_self_signed_certificate_needs_insecure(population, tmp):
    """A v2 server over HTTPS with a self-signed certificate: refused with one line naming --insecure, verified with
    it (the same verdict as from the file)."""
    _, res, stolen, _ = population
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp / "key.pem"), "-out",
                    str(tmp / "cert.pem"), "-subj", "/CN=127.0.0.1", "-days", "1"], check=True, capture_output=True)
    with PredictionServer(stolen[0], protocol="v2", certfile=str(tmp / "cert.pem"), keyfile=str(tmp / "key.pem")) as srv:
        assert srv.url.startswith("https://")
        args = ["verify", "--kit", str(res.kit.directory), "--suspect", srv.url, "--scores", "probabilities",
                "--audit-log", str(tmp / "tls.jsonl")]
        line = one_line_error(CliRunner().invoke(cli, args))
        assert "certificate is not trusted" in line and "--insecure" in line
        v = _verify(res.kit.directory, srv.url, tmp / "tls.jsonl", "--scores", "probabilities", "--insecure")
    local = verify_suspect(res.kit, open_access(stolen[0], "probabilities"))
    assert v["stolen"] == local.stolen and v["effect"] == pytest.approx(local.effect, abs=1e-6)  # FP32 on the wire
    save_model(stolen[0], tmp / "m.safetensors")
    line = one_line_error(CliRunner().invoke(cli, ["serve", str(tmp / "m.safetensors"), "--port", "0", "--certfile",
                                                   str(tmp / "nope.pem")]))
    assert "cannot load the certificate" in line


MLSERVER_RUNTIME = '''
import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri


class OnnxClassifier(MLModel):
    """A small custom MLServer runtime: the suspect's ONNX export, answering logits."""

    async def load(self) -> bool:
        self.session = ort.InferenceSession(await get_model_uri(self.settings), providers=["CPUExecutionProvider"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32)
        return InferenceResponse(model_name=self.name,
                                 outputs=[NumpyCodec.encode_output("logits", self.session.run(None, {"input": x})[0])])
'''


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlserver_v2_serves_the_onnx_exports_with_the_files_verdicts(population, tmp):
    """A real third-party v2 server (Seldon's MLServer from PyPI, in .venv-serving, made by scripts/setup) serving
    the ONNX exports of a stolen copy and an independent model through a small custom runtime that answers logits:
    verified with --scores logits, the verdicts are those of the files; declared as probabilities, the logits are
    refused."""
    from pathlib import Path

    from stealguard.models import export_onnx

    mlserver = Path(__file__).resolve().parents[1] / ".venv-serving" / "bin" / "mlserver"
    assert mlserver.exists(), "MLServer is missing: run scripts/setup (it installs it into .venv-serving)"
    _, res, stolen, independent = population
    models = {"stolen": stolen[0], "independent": independent[0]}
    port = _free_port()
    (tmp / "srv").mkdir()
    (tmp / "srv" / "settings.json").write_text(json.dumps({"http_port": port, "grpc_port": _free_port(),
                                                           "metrics_port": _free_port(), "metrics_endpoint": None,
                                                           "parallel_workers": 0, "host": "127.0.0.1"}))
    for name, model in models.items():
        folder = tmp / "srv" / name
        folder.mkdir()
        export_onnx(model, folder / "model.onnx")
        (folder / "onnx_runtime.py").write_text(MLSERVER_RUNTIME)
        (folder / "model-settings.json").write_text(json.dumps({
            "name": name, "implementation": "onnx_runtime.OnnxClassifier", "parameters": {"uri": "./model.onnx"},
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 28, 28]}],
            "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]}))
    proc = subprocess.Popen([str(mlserver), "start", str(tmp / "srv")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=tmp / "srv")
    try:
        import urllib.request

        for _ in range(300):  # MLServer starts in about 15 s on 2 cores
            try:
                if all(urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{n}/ready", timeout=1).status == 200
                       for n in models):
                    break
            except OSError:
                time.sleep(0.5)
        for name, model in models.items():
            url = f"http://127.0.0.1:{port}/v2/models/{name}"
            v = _verify(res.kit.directory, url, tmp / f"{name}.jsonl", "--scores", "logits")
            local = verify_suspect(res.kit, open_access(model, "probabilities"))
            assert v["stolen"] == local.stolen and v["effect"] == pytest.approx(local.effect, abs=1e-6), (name, v, local)
            assert v["details"]["remote"]["scores"] == "logits" and v["details"]["remote"]["protocol"] == "v2"
        line = one_line_error(CliRunner().invoke(cli, ["verify", "--kit", str(res.kit.directory), "--suspect", url,
                                                       "--scores", "probabilities", "--audit-log", str(tmp / "p.jsonl")]))
        assert "probabilities leave [0, 1]" in line
    finally:
        proc.terminate()
        proc.wait(20)
    assert local.stolen is False and verify_suspect(res.kit, open_access(stolen[0], "probabilities")).stolen


def test_hostile_answers_of_a_json_api(population, tmp):
    """The generic JSON adapter (one image per request, {"label": ...} back): a label that is not an integer, one out
    of range, an error body with status 200, an answer over 64 MiB, a stall mid-body and a redirect to another host
    each stop with one line; the answers received before stay in the audit log and a rerun sends only the rest."""
    from stealguard.errors import RemoteError

    _, res, _, _ = population
    (tmp / "api.yaml").write_text("input_shape: [1, 28, 28]\nnum_classes: 10\nrequest: {field: image, encoding: lists}\n"
                                  "answer: {field: label, kind: labels}\n")
    remote = {"protocol": f"json:{tmp / 'api.yaml'}", "timeout": 1, "retries": 0}
    good = {"label": 3}
    hostile = {"not an integer": ({"label": "cat"}, "not a rectangular array"), "out of range": ({"label": 99}, "outside 0..9"),
               "error body with 200": ({"detail": "rate limited"}, "no 'label' (it says: rate limited)"),
               "over 64 MiB": (b" " * (65 * 2**20), "more than 64 MiB"), "stall mid-body": ("stall", "timed out"),
               "redirect to another host": ("redirect", "redirected to another host")}
    for case, (answer, expected) in hostile.items():
        api = FakeV2([good] * 5 + [answer])
        log = tmp / f"json-{case}.jsonl"
        try:
            with pytest.raises(RemoteError) as e:
                verify_suspect(res.kit, open_access(api.url, "labels", remote=remote | {"audit_log": log}))
            assert expected in str(e.value), (case, str(e.value))
            assert check_audit_log(log) == 5, case
            api.answers, api.calls = [good], 0
            v = verify_suspect(res.kit, open_access(api.url, "labels", remote=remote | {"audit_log": log}))
            assert v.details["remote"]["from_log"] == 5 and v.details["remote"]["sent"] == 95 and api.calls == 95, case
        finally:
            api.close()


def test_tf_serving_rest_gives_the_files_verdicts(population, tmp):
    """TF-Serving's REST API (a stand-in on loopback speaking its metadata and :predict, NHWC instances in, logits
    out): verified with --scores logits, the verdicts of the files; a missing signature is one line."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import numpy as np
    import torch

    _, res, stolen, independent = population
    meta = {"model_spec": {"name": "m"}, "metadata": {"signature_def": {"signature_def": {"serving_default": {
        "inputs": {"x": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}, {"size": "28"}, {"size": "28"},
                                                                        {"size": "1"}]}, "name": "x:0"}},
        "outputs": {"y": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}, {"size": "10"}]}, "name": "y:0"}},
        "method_name": "tensorflow/serving/predict"}}}}}

    def serve(model, metadata):
        access = open_access(model, "probabilities")

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, obj):
                body = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                self._send(metadata)

            def do_POST(self):  # noqa: N802
                x = np.asarray(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["instances"], np.float32)
                p = access.predict_proba(torch.from_numpy(x.transpose(0, 3, 1, 2)))
                self._send({"predictions": np.log(np.maximum(p, 1e-30)).tolist()})  # logits

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1/models/m"

    for name, model in (("stolen", stolen[0]), ("independent", independent[0])):
        httpd, url = serve(model, meta)
        try:
            v = _verify(res.kit.directory, url, tmp / f"tf-{name}.jsonl", "--scores", "logits")
        finally:
            httpd.shutdown()
        local = verify_suspect(res.kit, open_access(model, "probabilities"))
        assert v["details"]["remote"]["protocol"] == "tfserving" and v["details"]["remote"]["layout"] == "NHWC"
        assert v["stolen"] == local.stolen and v["effect"] == pytest.approx(local.effect, abs=1e-6), (name, v, local)
    httpd, url = serve(stolen[0], {"metadata": {}})
    try:
        line = one_line_error(CliRunner().invoke(cli, ["verify", "--kit", str(res.kit.directory), "--suspect", url,
                                                       "--scores", "logits", "--audit-log", str(tmp / "bad.jsonl")]))
        assert "no signature 'serving_default'" in line
    finally:
        httpd.shutdown()
