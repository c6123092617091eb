"""``skelnb doctor`` on a CPU: versions, the backend that will run, the checks it can do, what it skips."""
import pytest
import torch

from skelnb import cli, doctor
from skelnb.spa.sparse import spconv_available

pytestmark = pytest.mark.usefixtures("one_thread")


def test_doctor_on_cpu_reports_versions_checks_and_what_it_skipped(capsys):
    code = cli.main(["doctor", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"torch                   {torch.__version__}" in out and "CUDA available          False" in out
    backend = "spconv" if spconv_available() else "reference"
    assert f"sparse backend (auto)   {backend}" in out
    for name in doctor.MODELS:
        line = next(ln for ln in out.splitlines() if f"train step {name}:" in ln)
        assert line.startswith("  [ok]") and "quick size" in line and "samples/s" in line
        assert float(line.split(" samples/s")[0].rsplit("= ", 1)[1]) > 0
    if spconv_available():
        assert out.count("[ok] spconv vs reference") == 2
    else:
        assert "spconv vs reference (spconv is not importable" in out
    skipped = out.split("skipped here", 1)[1]
    assert "on a GPU" in skipped and "paper size" in skipped and "peak GPU memory" in skipped
    assert out.rstrip().endswith("checks passed")


def test_doctor_fails_loudly_when_a_check_fails(monkeypatch):
    real = doctor.build

    def broken(name, *a, **kw):
        if name == "spa-4d":
            raise RuntimeError("index_add_(): self (Float) and source (Half) must have the same scalar type")
        return real(name, *a, **kw)

    monkeypatch.setattr(doctor, "build", broken)
    lines = []
    assert doctor.run_doctor("cpu", out=lines.append) == 1
    assert any(ln.startswith("  [FAIL] train step spa-4d: RuntimeError: index_add_()") for ln in lines)
    assert lines[-1].endswith("FAILED: train step spa-4d")
