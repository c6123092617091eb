"""backend='auto' tests spconv on the actual device once and falls back with one warning."""
import warnings

import pytest
import torch

from skelnb.spa.sparse import SparseConv, SparseTensor, modules, sparse_conv, spconv_backend, spconv_problem


@pytest.fixture
def fresh(monkeypatch):
    """No probe results and no warnings remembered from earlier tests."""
    monkeypatch.setitem(spconv_backend._SPCONV, "probe", {})
    monkeypatch.setattr(modules, "_warned", set())


def _x():
    coords = torch.tensor([[0, 1, 1, 1], [0, 2, 1, 1], [1, 0, 3, 2]], dtype=torch.int32)
    return SparseTensor(torch.randn(3, 2, generator=torch.Generator().manual_seed(1)), coords, (4, 4, 4), 2)


def _run_twice_recording():
    x = _x()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        a, b = SparseConv(3, 2, 4, 3, backend="auto"), SparseConv(3, 2, 4, 3, backend="auto")
        ya, yb = a(x), b(x)
    torch.testing.assert_close(ya.features, sparse_conv(x, a.weight, None, subm=True).features)
    torch.testing.assert_close(yb.features, sparse_conv(x, b.weight, None, subm=True).features)
    return [str(m.message) for m in w if issubclass(m.category, RuntimeWarning)], a


def test_auto_uses_spconv_where_its_test_passes(fresh):
    pytest.importorskip("spconv.pytorch")
    assert spconv_problem("cpu") is None
    assert SparseConv(3, 2, 4, 3).active_backend(torch.device("cpu")) == "spconv"


def test_auto_falls_back_once_when_spconv_fails_on_the_device(fresh, monkeypatch):
    pytest.importorskip("spconv.pytorch")
    calls = []

    def broken(self, device):    # what a wheel without kernels for this GPU does at run time
        calls.append(device)
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device")

    monkeypatch.setattr(SparseConv, "_spconv_layer", broken)
    msgs, conv = _run_twice_recording()
    assert len(msgs) == 1, msgs                                         # one warning for all layers
    assert msgs[0].startswith("sparse backend 'auto': spconv cannot run on cpu: its test convolution failed: "
                              "RuntimeError: CUDA error: no kernel image"), msgs[0]
    assert msgs[0].endswith("using the reference implementation")
    assert len(calls) == 1                                              # probed once, then remembered
    assert conv.active_backend(torch.device("cpu")) == "reference"
    assert conv.active_backend() == "spconv"    # without a device nothing is probed (as before)


def test_auto_falls_back_when_spconv_gives_wrong_numbers(fresh, monkeypatch):
    pytest.importorskip("spconv.pytorch")
    real = SparseConv.forward

    def wrong(self, x):
        y = real(self, x)
        return y.replace(y.features * 2) if self.backend == "spconv" else y

    monkeypatch.setattr(SparseConv, "forward", wrong)
    assert "differs from the reference" in spconv_problem("cpu")


def test_warning_names_the_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (12, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "NVIDIA RTX PRO 6000 Blackwell Server Edition")
    assert modules._device_name(torch.device("cuda", 0)) == \
        "cuda:0 (NVIDIA RTX PRO 6000 Blackwell Server Edition, sm_120)"


def test_without_spconv_the_reason_is_the_import(fresh, monkeypatch):
    monkeypatch.setitem(spconv_backend._SPCONV, "mod", None)
    monkeypatch.setitem(spconv_backend._SPCONV, "error", "ModuleNotFoundError: No module named 'spconv'")
    assert spconv_problem("cpu") == "spconv is not available (ModuleNotFoundError: No module named 'spconv')"
    assert spconv_problem("meta") is None                               # not a device spconv runs on


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_probe_on_this_gpu():
    """On a GPU: the probe either passes or names the GPU; auto then runs what it said."""
    why = spconv_problem("cuda")
    conv = SparseConv(3, 2, 4, 3).cuda()
    assert conv.active_backend(torch.device("cuda")) == ("reference" if why else "spconv")
    if why:
        assert torch.cuda.get_device_name() in why


def test_doctor_reports_the_backend_that_runs_on_the_device(fresh, monkeypatch):
    pytest.importorskip("spconv.pytorch")
    from skelnb import doctor

    def broken(self, device):
        raise RuntimeError("no kernel image is available for execution on the device")

    monkeypatch.setattr(SparseConv, "_spconv_layer", broken)
    rows = dict(doctor.environment(torch.device("cpu")))
    assert rows["sparse backend (auto)"].startswith("reference (spconv cannot run on cpu: its test convolution "
                                                    "failed: RuntimeError: no kernel image"), rows
