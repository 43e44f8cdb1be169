import numpy as np
import pytest
import torch

from stealguard.access import (FunctionBackend, Labels, Probabilities, WhiteBox, open_access, parse_output,
                               probability_problem)
from stealguard.errors import AccessDenied, ConfigError, QueryBudgetExceeded, StealguardError
from stealguard.models import ModelSpec, build_model, export_onnx, save_model


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model(ModelSpec("cnn", 10, 1, (28, 28), 0.25)).eval()


def test_labels_only_never_returns_probabilities(model, tmp):
    export_onnx(model, tmp / "m.onnx")
    save_model(model, tmp / "m.safetensors")
    x = torch.rand(6, 1, 28, 28)
    for src in (model, tmp / "m.onnx", tmp / "m.safetensors"):
        a = open_access(src, "labels")
        assert isinstance(a, Labels)
        y = a.predict_labels(x)
        assert y.dtype == np.int64 and y.shape == (6,)
        assert np.array_equal(y, model(x).argmax(1).numpy())
        for call in (lambda: a.predict_proba(x), lambda: a.logits(x), lambda: a.module):
            with pytest.raises(AccessDenied):
                call()
        assert a.queries == 6
    # an API that answers top-1 only becomes a labels-only access, whatever level was asked
    assert isinstance(open_access(model, "probabilities", output="top1"), Labels)


def test_probabilities_sum_to_one_and_rounding(model):
    x = torch.rand(4, 1, 28, 28)
    p = open_access(model, "probabilities").predict_proba(x)
    assert np.allclose(p.sum(1), 1.0) and (p >= 0).all()
    assert np.allclose(p, torch.softmax(model(x), 1).detach().numpy(), atol=1e-6)
    r = open_access(model, "probabilities", output="rounded:2").predict_proba(x)
    assert np.allclose(r, np.round(p, 2))
    with pytest.raises(AccessDenied):
        open_access(model, "probabilities").logits(x)


def test_probability_outputs_are_not_softmaxed_twice():
    probs = np.array([[0.7, 0.2, 0.1]])
    backend = FunctionBackend(lambda x: np.repeat(probs, len(x), 0), 3, (1, 8, 8), kind="probabilities")
    p = Probabilities(backend).predict_proba(torch.rand(2, 1, 8, 8))
    assert np.allclose(p, probs)


def test_every_backend_that_declares_probabilities_is_held_to_them():
    # the one definition (files, user functions and remote APIs share it), on hand-made rows
    assert probability_problem(np.array([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0]])) is None
    assert probability_problem(np.zeros((0, 3))) is None
    assert "leave [0, 1]" in probability_problem(np.array([[1.5, -0.5, 0.0]]))
    assert "do not sum to 1 (off by up to 0.5" in probability_problem(np.array([[0.5, 0.5, 0.5]]))
    assert "NaN" in probability_problem(np.array([[np.nan, 0.5, 0.5]]))
    assert "dimension" in probability_problem(np.array([0.5, 0.5]))
    rounded = np.array([[0.33, 0.33, 0.33]])  # three classes at 2 decimals: off by 0.01
    assert probability_problem(rounded) is not None and probability_problem(rounded, 3 * 0.5 * 1e-2) is None
    # a user's predict function that answers logits under the default kind is refused, not used as probabilities
    logits = FunctionBackend(lambda x: np.tile([[2.0, -1.0, 0.5]], (len(x), 1)), 3, (1, 8, 8))
    x = torch.rand(2, 1, 8, 8)
    for access in (Probabilities(logits), Labels(logits)):
        with pytest.raises(StealguardError, match=r"declares probabilities, but its answers leave \[0, 1\].*kind='logits'"):
            access.predict_labels(x)
    assert Probabilities(FunctionBackend(logits.fn, 3, (1, 8, 8), kind="logits")).predict_labels(x).tolist() == [0, 0]
    # rounded probabilities pass with the tolerance their rounding needs, and only with it
    with pytest.raises(StealguardError, match="do not sum to 1"):
        Probabilities(FunctionBackend(lambda x: np.repeat(rounded, len(x), 0), 3, (1, 8, 8))).predict_proba(x)
    ok = FunctionBackend(lambda x: np.repeat(rounded, len(x), 0), 3, (1, 8, 8), sum_tolerance=0.015)
    assert np.allclose(Probabilities(ok).predict_proba(x), rounded)
    with pytest.raises(ConfigError, match="sum_tolerance"):
        FunctionBackend(logits.fn, 3, (1, 8, 8), sum_tolerance=-1)


def test_onnx_probability_model_detected(tmp):
    torch.manual_seed(0)
    m = build_model(ModelSpec("cnn", 10, 1, (28, 28), 0.25)).eval()
    wrapped = torch.nn.Sequential(m, torch.nn.Softmax(dim=1)).eval()
    import warnings

    with warnings.catch_warnings():  # the TorchScript exporter, as export_onnx uses it, says it is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(wrapped, (torch.rand(2, 1, 28, 28),), str(tmp / "p.onnx"), dynamo=False,
                          input_names=["input"], dynamic_axes={"input": {0: "b"}})
    a = open_access(tmp / "p.onnx", "probabilities")
    x = torch.rand(3, 1, 28, 28)
    assert np.allclose(a.predict_proba(x), wrapped(x).detach().numpy(), atol=1e-5)
    # declared in its metadata instead of detected: accepted too (a file declaring probabilities while answering
    # logits is refused: tests/test_hostile.py, onnx-logits-declared-probabilities)
    import onnx

    proto = onnx.load(str(tmp / "p.onnx"))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "stealguard.output", "probabilities"
    onnx.save(proto, str(tmp / "d.onnx"))
    assert np.allclose(open_access(tmp / "d.onnx", "probabilities").predict_proba(x), wrapped(x).detach().numpy(), atol=1e-5)


def test_query_counting_and_budget(model):
    a = open_access(model, "probabilities", max_queries=10)
    a.predict_proba(torch.rand(4, 1, 28, 28))
    a.predict_labels(torch.rand(6, 1, 28, 28))
    assert a.queries == 10
    with pytest.raises(QueryBudgetExceeded, match="budget of 10"):
        a.predict_labels(torch.rand(1, 1, 28, 28))
    assert a.queries == 10


def test_white_box_gradients_and_counting(model):
    a = open_access(model, "white-box")
    assert isinstance(a, WhiteBox) and a.module is model
    x = torch.rand(3, 1, 28, 28, requires_grad=True)
    a.logits(x).sum().backward()
    assert x.grad is not None and a.queries == 3


def test_white_box_needs_weights(model, tmp):
    export_onnx(model, tmp / "m.onnx")
    with pytest.raises(AccessDenied, match="white-box"):
        open_access(tmp / "m.onnx", "white-box")


def test_bad_inputs(model):
    a = open_access(model, "labels")
    with pytest.raises(StealguardError, match="shape"):
        a.predict_labels(torch.rand(2, 3, 32, 32))
    with pytest.raises(ConfigError):
        parse_output("rounded:x")
    with pytest.raises(ConfigError):
        open_access(model, "grey-box")
    nan = FunctionBackend(lambda x: np.full((len(x), 3), np.nan), 3, (1, 8, 8))
    with pytest.raises(StealguardError, match="NaN"):
        Labels(nan).predict_labels(torch.rand(2, 1, 8, 8))
