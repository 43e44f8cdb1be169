"""Hostile input, end to end through the CLI: every case of the table in tests/README.md ("Hostile inputs") gets one
clear line, no traceback. The table and CASES below are checked against each other."""

import base64
import json
import re
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import one_line_error
from stealguard.cli import cli
from stealguard.models import ModelSpec, build_model, export_onnx, save_model
from stealguard.serve import PredictionServer

INFO = {"protocol": "stealguard-predict/1", "input_shape": [1, 28, 28], "num_classes": 10, "output": "probabilities"}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that hung up (timeout, oversized answer): expected
        pass


class FakeApi:
    """An API that declares ``info`` and answers every predict request with ``answer(n)`` (bytes or a JSON object),
    or with HTTP ``status``."""

    def __init__(self, answer=None, info=INFO, status=200, delay=0.0):
        api = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body: bytes):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                self._send(200, json.dumps(api.info).encode())

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                n = body["shape"][0]
                if api.delay:
                    import time

                    time.sleep(api.delay)
                if api.status != 200:
                    self._send(api.status, b'{"error": "go away"}')
                    return
                a = api.answer(n)
                self._send(200, a if isinstance(a, bytes) else json.dumps(a).encode())

        self.info, self.answer, self.status, self.delay = info, answer, status, delay
        self.httpd = _QuietServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/predict"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _uniform(n, k=10):
    return {"probabilities": np.full((n, k), 1 / k).tolist()}


def _model(size=28, channels=1):
    torch.manual_seed(0)
    return build_model(ModelSpec(arch="cnn", num_classes=10, in_channels=channels, image_size=(size, size), width=0.25)).eval()


# ---------------------------------------------------------------------------------------------------- the cases
# id -> (expected text of the one-line error, builder(tmp, kit) -> CLI arguments [, cleanup])
def _file(name, content):
    def build(tmp, kit):
        p = tmp / name
        content(p) if callable(content) else p.write_bytes(content)
        return ["info", str(p)]
    return build


def _save_raw(state_fn, meta=True, spec_changes=None):
    def write(p):
        from safetensors.torch import save_file

        m = _model()
        state = {k: v.clone() for k, v in m.state_dict().items()}
        state = state_fn(state)
        spec = json.loads(m.spec.to_json()) | (spec_changes or {})
        md = {"stealguard": json.dumps({"format": "1", "spec": spec, "extra": {}})} if meta else None
        save_file(state, str(p), metadata=md)
    return write


def _last(state, ndim):
    """The name of the last floating-point tensor with ``ndim`` dimensions (a model's head weight or bias)."""
    return [k for k, v in state.items() if v.ndim == ndim and v.dtype.is_floating_point][-1]


def _truncated(p):
    save_model(_model(), p)
    p.write_bytes(p.read_bytes()[:200])


def _verify_file(make):
    def build(tmp, kit):
        p = make(tmp)
        return ["verify", "--kit", str(kit), "--suspect", str(p)]
    return build


def _onnx_32(tmp):
    export_onnx(_model(32, 3), tmp / "big.onnx")
    return tmp / "big.onnx"


def _onnx_nan(tmp):
    m = _model()
    with torch.no_grad():
        dict(m.named_parameters())[_last(m.state_dict(), 1)].fill_(float("nan"))
    export_onnx(m, tmp / "nan.onnx")
    return tmp / "nan.onnx"


def _onnx_meta(key, value):
    """The test model exported to ONNX, with one of its stealguard metadata entries set to ``value``."""
    def make(tmp):
        import onnx

        export_onnx(_model(), tmp / "m.onnx")
        proto = onnx.load(str(tmp / "m.onnx"))
        next(e for e in proto.metadata_props if e.key == key).value = value
        onnx.save(proto, str(tmp / "m.onnx"))
        return tmp / "m.onnx"
    return make


def _onnx_external(tmp):
    """The test model exported to ONNX with its weights moved to an external data file beside it."""
    import onnx

    export_onnx(_model(), tmp / "ext.onnx")
    proto = onnx.load(str(tmp / "ext.onnx"))
    onnx.save_model(proto, str(tmp / "ext.onnx"), save_as_external_data=True, location="weights.bin", size_threshold=0)
    return tmp / "ext.onnx"


def _kit_case(mutate):
    def build(tmp, kit):
        import shutil

        d = tmp / "kit"
        shutil.copytree(kit, d)
        mutate(d)
        return ["verify", "--kit", str(d), "--suspect", str(_suspect(tmp))]
    return build


def _suspect(tmp):
    p = tmp / "suspect.safetensors"
    if not p.exists():
        save_model(_model(), p)
    return p


def _first_array(d):
    return next(p for p in sorted(Path(d).iterdir()) if p.suffix == ".npy")


def _flip_byte(d):
    p = _first_array(d)
    b = bytearray(p.read_bytes())
    b[-1] ^= 1
    p.write_bytes(bytes(b))


def _other_version(d):
    m = json.loads((d / "manifest.json").read_text())
    m["version"] = 99
    (d / "manifest.json").write_text(json.dumps(m))


def _other_method_version(d):
    m = json.loads((d / "manifest.json").read_text())
    m["method_version"] = 99
    (d / "manifest.json").write_text(json.dumps(m))


def _api(answer=None, extra=(), **kw):
    def build(tmp, kit):
        api = FakeApi(answer or _uniform, **kw)
        return ["verify", "--kit", str(kit), "--suspect", api.url, "--audit-log", str(tmp / "a.jsonl"), "--retries", "1",
                "--timeout", "2", *extra], api.close
    return build


def _unreachable(tmp, kit):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return ["verify", "--kit", str(kit), "--suspect", f"http://127.0.0.1:{port}/predict", "--retries", "1",
            "--audit-log", str(tmp / "a.jsonl")]


def _served(extra, **kw):
    def build(tmp, kit):
        srv = PredictionServer(_model(), **kw).start()
        return ["verify", "--kit", str(kit), "--suspect", srv.url, "--audit-log", str(tmp / "a.jsonl"), *extra], srv.stop
    return build


def _log_case(text):
    """``verify`` against a served model with an audit log holding ``text(url)`` (url: the served API's)."""
    def build(tmp, kit):
        srv = PredictionServer(_model()).start()
        (tmp / "a.jsonl").write_text(text(srv.url))
        return ["verify", "--kit", str(kit), "--suspect", srv.url, "--audit-log", str(tmp / "a.jsonl")], srv.stop
    return build


_corrupt_log = _log_case(lambda url: '{"prev": "0"}\n{"broken": true}\n{"x": 1}\n')


def _edited_log(entry: dict):
    """A log whose hash chain is intact but whose one entry for the served API holds ``entry`` (edited by hand)."""
    return _log_case(lambda url: json.dumps({"url": url, "kind": "probabilities", "prev": "0" * 64} | entry,
                                            separators=(",", ":")) + "\n")


def _huge(n):
    return b'{"probabilities": [' + b" " * (65 * 2**20) + b"]}"


CASES = {
    # model files
    "pickle-pt": ("refusing model.pt", _file("model.pt", b"\x80\x04K\x01.")),
    "pickle-named-safetensors": ("content is a pickle", _file("m.safetensors", b"\x80\x04K\x01.")),
    "safetensors-wrong-shape": ("has shape", _file("s.safetensors", _save_raw(lambda s: {**s, _last(s, 2): torch.zeros(3, 3)}))),
    "safetensors-wrong-dtype": ("expected a floating-point tensor", _file("d.safetensors", _save_raw(lambda s: {k: v.to(torch.int64) for k, v in s.items()}))),
    "safetensors-nan-weights": ("NaN or infinite", _file("n.safetensors", _save_raw(lambda s: {**s, _last(s, 1): torch.full_like(s[_last(s, 1)], float("nan"))}))),
    # a small file whose metadata declares a huge model (vgg11 at width 64: 141 GiB of weights): refused from the
    # shapes alone, before anything is allocated
    "safetensors-huge-declared-model": ("tensors do not match a vgg11", _file("h.safetensors", _save_raw(lambda s: s, spec_changes={"arch": "vgg11", "width": 64}))),
    "safetensors-no-metadata": ("no stealguard metadata", _file("x.safetensors", _save_raw(lambda s: s, meta=False))),
    "safetensors-truncated": ("not a valid safetensors", _file("t.safetensors", _truncated)),
    "onnx-garbage": ("not a valid ONNX", _file("g.onnx", b"garbage")),
    "unknown-model-format": ("unsupported model file", _file("m.h5", b"HDF")),
    "onnx-wrong-input-size": ("the suspect takes inputs of shape (3, 32, 32)", _verify_file(_onnx_32)),
    "onnx-nan-output": ("NaN or infinite scores", _verify_file(_onnx_nan)),
    "onnx-logits-declared-probabilities": ("declares probabilities, but its answers leave [0, 1]",
                                           _verify_file(_onnx_meta("stealguard.output", "probabilities"))),
    "onnx-unknown-output": ("declares the output 'banana'", _verify_file(_onnx_meta("stealguard.output", "banana"))),
    "onnx-malformed-spec": ("malformed stealguard.spec metadata", _verify_file(_onnx_meta("stealguard.spec", "{not json"))),
    "onnx-external-data": ("keeps tensors in external data files", _verify_file(_onnx_external)),
    # kits
    "kit-tampered": ("does not match its SHA-256", _kit_case(_flip_byte)),
    "kit-other-version": ("kit format version 99", _kit_case(_other_version)),
    "kit-other-method-version": ("version 99; this stealguard verifies version", _kit_case(_other_method_version)),
    "kit-missing-file": ("is missing", _kit_case(lambda d: _first_array(d).unlink())),
    "kit-extra-file": ("not in its manifest", _kit_case(lambda d: (d / "extra.npy").write_bytes(b"x"))),
    "kit-not-a-kit": ("is not a kit", _kit_case(lambda d: (d / "manifest.json").unlink())),
    # API answers
    "api-not-json": ("not JSON", _api(lambda n: b"<html>oops</html>")),
    "api-deeply-nested-json": ("not JSON", _api(lambda n: b"[" * 200000 + b"]" * 200000)),
    "api-json-array": ("JSON list, not an object", _api(lambda n: [1, 2])),
    "api-missing-key": ("no 'probabilities'", _api(lambda n: {"scores": []})),
    "api-labels-instead": ("it answered labels", _api(lambda n: {"labels": [0] * n})),
    "api-ragged": ("not a rectangular array", _api(lambda n: {"probabilities": [[0.5, 0.5], [1.0]] * n})),
    "api-too-few-rows": ("answered 99 rows for 100 images", _api(lambda n: _uniform(n - 1))),
    "api-wrong-class-count": ("answered 11 classes, it declared 10", _api(lambda n: _uniform(n, 11))),
    "api-nan": ("NaN or infinite", _api(lambda n: json.dumps({"probabilities": [[float("nan")] * 10] * n}).encode())),
    "api-out-of-range": ("leave [0, 1]", _api(lambda n: {"probabilities": [[1.5, -0.5] + [0.0] * 8] * n})),
    "api-not-summing-to-one": ("do not sum to 1", _api(lambda n: {"probabilities": [[0.5] * 10] * n})),
    "api-strings": ("not a rectangular array of numbers", _api(lambda n: {"probabilities": [["a"] * 10] * n})),
    "api-labels-out-of-range": ("labels outside 0..9", _api(lambda n: {"labels": [12] * n}, extra=("--access", "labels"),
                                                              info=dict(INFO, output="top1"))),
    "api-labels-not-integers": ("labels are not integers", _api(lambda n: {"labels": [0.5] * n}, extra=("--access", "labels"),
                                                                info=dict(INFO, output="top1"))),
    "api-bad-info": ("invalid input_shape", _api(info=dict(INFO, input_shape=[1, -28, 28]))),
    "api-wrong-input-size": ("the suspect takes inputs of shape (3, 32, 32)", _api(info=dict(INFO, input_shape=[3, 32, 32]))),
    "api-unknown-input": ("declares an unknown input 'audio'", _api(info=dict(INFO, input="audio"))),
    "api-text-for-image-kit": ("the suspect takes inputs of shape (384,)", _api(info=dict(INFO, input="text"))),
    "api-http-404": ("HTTP 404", _api(status=404)),
    "api-http-500-always": ("no answer after 2 attempts (last: HTTP 500", _api(status=500)),
    "api-timeout": ("last: timed out", _api(delay=3.0)),
    "api-huge-answer": ("more than 64 MiB", _api(_huge)),
    "api-unreachable": ("no answer after 2 attempts", _unreachable),
    "url-not-http": ("must be an http:// or https:// URL", lambda tmp, kit: ["verify", "--kit", str(kit), "--suspect", "file:///etc/passwd"]),
    "api-white-box": ("a remote API is black-box", _served(["--access", "white-box"])),
    "api-query-budget": ("query budget of 10 exhausted", _served(["--max-queries", "10"])),
    "audit-log-corrupt": ("is corrupt at line 1", _corrupt_log),
    "audit-log-edited-answer": ("line 1 holds an answer the API cannot give now (the API answered 11 classes",
                                _edited_log({"images": ["0" * 64], "answer": [[1 / 11] * 11]})),
    "audit-log-edited-images": ("its 'images' are not a list of hashes", _edited_log({"images": 7, "answer": []})),
}


def _scenario(text: bytes):
    """``bench run`` on a scenario file with these bytes (validated before anything trains)."""
    def build(tmp):
        (tmp / "s.yaml").write_bytes(text)
        return ["bench", "run", str(tmp / "s.yaml"), "--out", str(tmp / "run"), "--executor", "inline", "--no-report"]
    return build


_GOOD = b"name: t\ndataset: fashion-mnist\nvictim: {arch: cnn}\nmethods: [{method: sac}]\n"


def _other_scenario_db(tmp):
    from stealguard.bench import ResultsDB

    (tmp / "s.yaml").write_bytes(_GOOD)
    ResultsDB(tmp / "run" / "results.sqlite").bind_scenario({"name": "other"}, "0" * 64, "0")
    return ["bench", "run", str(tmp / "s.yaml"), "--out", str(tmp / "run"), "--executor", "inline", "--no-report"]


def _garbage_db(tmp):
    (tmp / "run").mkdir()
    (tmp / "run" / "results.sqlite").write_bytes(b"this is not a database" * 100)
    return ["bench", "report", str(tmp / "run")]


SCENARIO_CASES = {
    # scenario files and results databases: refused before anything trains
    "scenario-not-yaml": ("not valid YAML at line 3", _scenario(b"name: x\nvictim: [unclosed\n")),
    "scenario-python-tag": ("not valid YAML", _scenario(b"name: !!python/object/apply:os.system ['echo hacked']\n")),
    "scenario-binary": ("cannot read it", _scenario(b"\xff\xfe\x00garbage")),
    "scenario-not-a-mapping": ("the document must be a mapping", _scenario(b"- a\n- b\n")),
    "scenario-unknown-key": ("unknown key 'colour'", _scenario(_GOOD + b"colour: red\n")),
    "scenario-unknown-method": ("unknown method 'magic'", _scenario(_GOOD.replace(b"method: sac", b"method: magic"))),
    "scenario-bad-setting": ("methods[0].settings", _scenario(_GOOD.replace(b"{method: sac}", b"{method: sac, settings: {variant: x}}"))),
    "results-db-other-scenario": ("another scenario", _other_scenario_db),
    "results-db-garbage": ("is not a stealguard results database", _garbage_db),
}


@pytest.mark.parametrize("case", list(SCENARIO_CASES))
def test_hostile_scenario_or_database_gets_one_clear_line(case, tmp):
    expected, build = SCENARIO_CASES[case]
    line = one_line_error(CliRunner().invoke(cli, build(tmp)))
    assert expected in line, line


@pytest.fixture(scope="module")
def kit(population):
    return population[1].kit.directory


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_gets_one_clear_line(case, kit, tmp):
    expected, build = CASES[case]
    built = build(tmp, kit)
    args, cleanup = built if isinstance(built, tuple) else (built, None)
    try:
        line = one_line_error(CliRunner().invoke(cli, args))
    finally:
        if cleanup:
            cleanup()
    assert expected in line, line


SERVER_CASES = {
    # id -> (body, expected status, expected error text)
    "serve-not-json": (b"{nope", 400, "not JSON"),
    "serve-deeply-nested-json": (b"[" * 200000 + b"]" * 200000, 400, "not JSON"),
    "serve-wrong-size": ({"images": np.zeros((1, 1, 32, 32)).tolist()}, 400, "images of shape [1, 32, 32]"),
    "serve-wrong-channels": ({"images": np.zeros((1, 3, 28, 28)).tolist()}, 400, "images of shape [3, 28, 28]"),
    "serve-pixels-out-of-range": ({"images": np.full((1, 1, 28, 28), 7.0).tolist()}, 400, "finite and in [0, 1]"),
    "serve-bad-base64": ({"shape": [1, 1, 28, 28], "dtype": "float32", "data": "***"}, 400, "not base64"),
    "serve-short-data": ({"shape": [2, 1, 28, 28], "dtype": "float32",
                          "data": base64.b64encode(np.zeros(28 * 28, np.float32).tobytes()).decode()}, 400, "needs 6272"),
    "serve-too-many-images": ({"shape": [9, 1, 28, 28], "dtype": "uint8",
                               "data": base64.b64encode(np.zeros(9 * 28 * 28, np.uint8).tobytes()).decode()}, 413, "at most 8 images"),
    # a text model's API (serve-text-*): sentences only
    "serve-text-images": ({"images": np.zeros((1, 1, 28, 28)).tolist()}, 400, "this is a text API"),
    "serve-text-not-strings": ({"texts": ["fine", 7]}, 400, "a list of strings"),
    "serve-text-too-many": ({"texts": ["a"] * 9}, 413, "at most 8 sentences"),
    "serve-text-too-long": ({"texts": ["a" * 10001]}, 413, "at most 10000 characters"),
}


@pytest.mark.parametrize("case", list(SERVER_CASES))
def test_server_refuses_hostile_requests(case):
    body, status, text = SERVER_CASES[case]
    is_text = case.startswith("serve-text-")
    model = build_model(ModelSpec(arch="mlp", num_classes=2, input_dim=384)).eval() if is_text else _model()
    if is_text:  # the sentence encoder loads on first use (~10 s cold here): load it before the timed requests
        from stealguard.data.text import encode

        encode(["warm-up"], cache=False)
    with PredictionServer(model, max_batch=8) as srv:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(srv.url, data=data, method="POST", headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == status
        err = json.loads(e.value.read())["error"]
        assert text in err and "\n" not in err, err
        ok = {"texts": ["a fine film", "dull"]} if is_text else {"images": np.zeros((2, 1, 28, 28)).tolist()}
        req = urllib.request.Request(srv.url, data=json.dumps(ok).encode(), method="POST")
        assert len(json.loads(urllib.request.urlopen(req, timeout=10).read())["probabilities"]) == 2  # still serving


def test_the_documented_table_matches_the_tested_cases():
    text = (Path(__file__).parent / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z0-9-]+)` \|[^|]*\| (?:`)?([^|`]+?)(?:`)? \|$", text, re.M))
    tested = ({k: v[0] for k, v in CASES.items()} | {k: v[0] for k, v in SCENARIO_CASES.items()}
              | {k: f"{v[1]}: {v[2]}" for k, v in SERVER_CASES.items()})
    assert rows == tested
    assert len(rows) >= 20
    # the README's Safety section quotes how many there are
    assert f"lists the {len(rows)} hostile inputs" in (Path(__file__).parents[1] / "README.md").read_text()
