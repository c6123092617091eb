import pytest

from skelnb import colab, profile


@pytest.mark.parametrize("python, cuda, expected", [
    ((3, 12), "12.4", "spconv-cu124==2.3.8"),       # Colab 2025-26: Python 3.12, CUDA 12.4
    ((3, 12), "12.6", "spconv-cu126==2.3.8"),
    ((3, 12), "12.8", "spconv-cu126==2.3.8"),       # newest wheel not newer than torch's CUDA
    ("3.13", "12.9", "spconv-cu126==2.3.8"),
    ((3, 12), "12.1", "spconv-cu121==2.3.8"),
    ((3, 12), "12.3", "spconv-cu121==2.3.8"),
    ((3, 11), "12.0", "spconv-cu120==2.3.6"),       # the pinned local wheel's case
    ((3, 10), "12.2", "spconv-cu120==2.3.6"),       # cu121 has no 3.10 wheel
    ((3, 11), "12.4", "spconv-cu124==2.3.8"),
    ((3, 12), None, "spconv==2.3.8"),               # CPU-only torch
])
def test_spconv_wheel_table(python, cuda, expected):
    assert colab.spconv_requirement(python, cuda) == expected


@pytest.mark.parametrize("python, cuda", [((3, 12), "12.0"), ((3, 12), "11.8"), ((3, 10), None), ((3, 14), "12.6")])
def test_no_wheel_is_a_clear_error(python, cuda):
    with pytest.raises(RuntimeError, match="no .*spconv wheel"):
        colab.spconv_requirement(python, cuda)


def test_badge_url_points_at_the_chapter():
    assert colab.badge_url("book/01_skeletons.ipynb") == (
        "https://colab.research.google.com/github/skelnb/skelnb/blob/main/book/01_skeletons.ipynb")


def test_profile_switch(monkeypatch):
    monkeypatch.delenv(profile.ENV, raising=False)
    assert profile.current().name == "quick" and profile.current().device == "cpu"
    monkeypatch.setenv(profile.ENV, "fast")
    with pytest.raises(ValueError, match="not a profile"):
        profile.current()
    monkeypatch.setenv(profile.ENV, "full")
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            profile.current()
    assert profile.PROFILES["full"].num_frames > profile.PROFILES["quick"].num_frames
