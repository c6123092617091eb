import pytest

from skelnb import colab, profile


# The wheels that exist (PyPI, measured Aug 2026): spconv (CPU) 2.3.8 cp310-cp313; spconv-cu120
# 2.3.6 up to cp311; spconv-cu121/cu124/cu126 2.3.8 cp310-cp313; nothing for cp314; none listed
# for CUDA 11.x.
PYTHONS = [(3, 10), (3, 11), (3, 12), (3, 13)]
EXPECTED = {   # torch's CUDA -> wheel, the same for every Python 3.10-3.13 except where noted
    None: "spconv==2.3.8",
    "12.1": "spconv-cu121==2.3.8", "12.3": "spconv-cu121==2.3.8",
    "12.4": "spconv-cu124==2.3.8", "12.5": "spconv-cu124==2.3.8",
    "12.6": "spconv-cu126==2.3.8", "12.8": "spconv-cu126==2.3.8", "12.9": "spconv-cu126==2.3.8",
}


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("cuda", list(EXPECTED))
def test_spconv_wheel_table(python, cuda):
    assert colab.spconv_requirement(python, cuda) == EXPECTED[cuda]


@pytest.mark.parametrize("python, cuda, expected", [
    ((3, 13), "12.8", "spconv-cu126==2.3.8"),       # Colab, Aug 2026: Python 3.13, torch 2.11+cu128
    ("3.13", "12.8", "spconv-cu126==2.3.8"),        # versions as strings too
    ((3, 10), "12.0", "spconv-cu120==2.3.6"),       # only cu120 is built for CUDA 12.0 ...
    ((3, 11), "12.2", "spconv-cu121==2.3.8"),       # ... and cu121 is newer where it fits
    ((3, 12), None, "spconv==2.3.8"),               # a CPU-only machine on 3.12+ gets the CPU wheel
    ((3, 13), None, "spconv==2.3.8"),
])
def test_spconv_wheel_cases(python, cuda, expected):
    assert colab.spconv_requirement(python, cuda) == expected


@pytest.mark.parametrize("python, cuda", [((3, 12), "12.0"), ((3, 13), "12.0"), ((3, 11), "11.8"),
                                          ((3, 12), "11.8"), ((3, 10), "11.7"), ((3, 9), None),
                                          ((3, 14), "12.6"), ((3, 14), None)])
def test_no_wheel_is_a_clear_error(python, cuda):
    with pytest.raises(RuntimeError, match=f"no .*spconv wheel for Python {python[0]}.{python[1]}"):
        colab.spconv_requirement(python, cuda)


def test_every_listed_wheel_is_picked_somewhere():
    picked = {colab.spconv_requirement(py, cu) for py in PYTHONS for cu in ("12.0", "12.1", "12.4", "12.6", None)
              if not (cu == "12.0" and py >= (3, 12))}
    assert picked == {f"{n}=={v}" for n, v, _, _ in colab.SPCONV_WHEELS} | {"spconv==2.3.8"}


def test_badge_and_install_cell_name_the_pinned_ref():
    url, ref = colab.repo_config()
    assert (colab.REPO, colab.REF) == (url, ref)
    assert ref != "main", "Colab must install a pinned ref (a tag), not a moving branch"
    slug = url.split("github.com/")[1]
    assert colab.badge_url("book/01_skeletons.ipynb") == (
        f"https://colab.research.google.com/github/{slug}/blob/{ref}/book/01_skeletons.ipynb")
    assert f'"skelnb @ git+{url}@{ref}"' in colab.install_cell()


def test_one_address_everywhere():
    """Every badge, install cell, clone and link agrees with _config.yml (python -m skelnb.colab)."""
    problems = colab.check()
    assert not problems, "places that disagree with _config.yml's repository (fix: python -m skelnb.colab sync):\n" \
        + "\n".join(problems)


def _copy_repo(tmp_path):
    import shutil
    for name in ("_config.yml", "_toc.yml", "README.md"):
        shutil.copy(colab.ROOT / name, tmp_path / name)
    shutil.copytree(colab.ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("configs", "images"))
    (tmp_path / "data").mkdir()
    shutil.copy(colab.ROOT / "data" / "README.md", tmp_path / "data" / "README.md")
    return tmp_path


def test_check_catches_a_disagreement_and_sync_fixes_it(tmp_path, monkeypatch):
    root = _copy_repo(tmp_path)
    assert colab.check(root) == []
    cfg = (root / "_config.yml").read_text()
    assert cfg.count(f"url: {colab.REPO}\n") == 1
    (root / "_config.yml").write_text(cfg.replace(f"url: {colab.REPO}\n", "url: https://github.com/someone/skelnb\n")
                                         .replace(f"branch: {colab.REF}\n", "branch: v9.9\n"))
    problems = colab.check(root)
    chapters = colab.toc_notebooks(root)
    assert len(chapters) >= 14
    for nb in chapters:   # every chapter of _toc.yml is named: its badge and its install cell
        rel = nb.relative_to(root).as_posix()
        assert any(p.startswith(f"{rel}: cell 0") for p in problems), rel
        assert any(p.startswith(f"{rel}: cell 1") for p in problems), rel
    assert any(p.startswith("skelnb/colab.py") for p in problems)
    assert any("README.md does not name" in p for p in problems)

    # sync rewrites every chapter, README and colab.py's constants (here a copy of those two lines)
    monkeypatch.setattr(colab, "__file__", str(root / "colab_copy.py"))
    (root / "colab_copy.py").write_text(f'REPO = "{colab.REPO}"\nREF = "{colab.REF}"\n')
    changed = colab.sync(root)
    assert "colab_copy.py" in changed and "README.md" in changed
    assert len([c for c in changed if c.startswith("book/")]) == len(chapters)
    monkeypatch.setattr(colab, "REPO", "https://github.com/someone/skelnb")
    monkeypatch.setattr(colab, "REF", "v9.9")
    assert colab.check(root) == []
    assert (root / "colab_copy.py").read_text() == 'REPO = "https://github.com/someone/skelnb"\nREF = "v9.9"\n'
    ch14 = (root / "book" / "14_reproducing.ipynb").read_text()
    assert "https://github.com/someone/skelnb/blob/v9.9/data/README.md" in ch14
    assert "git+https://github.com/someone/skelnb@v9.9" in ch14
    assert colab.sync(root) == []     # idempotent


def test_check_catches_a_stray_link(tmp_path):
    import json
    root = _copy_repo(tmp_path)
    p = root / "book" / "05_mstff.ipynb"
    nb = json.loads(p.read_text())
    nb["cells"][-1]["source"].append(f"\nSee {colab.REPO}/blob/main/skelnb/recipes.py and "
                                     f"https://colab.research.google.com/github/x/y/blob/main/book/05_mstff.ipynb")
    p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    problems = colab.check(root)
    assert any("blob/main/skelnb/recipes.py should be" in q for q in problems), problems
    assert any("Colab link https://colab.research.google.com/github/x/y" in q for q in problems), problems


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


def test_setup_picks_colab_on_a_gpu_never_full(monkeypatch, capsys):
    import torch
    monkeypatch.delenv(profile.ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(colab.sys, "version_info", (3, 13, 0))
    assert colab.setup(install=False) == "spconv-cu126==2.3.8"
    assert profile.current().name == "colab" and "profile 'colab'" in capsys.readouterr().out
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    assert colab.setup(install=False) == "spconv==2.3.8" and profile.current().name == "quick"


def test_setup_without_a_wheel_says_so_and_goes_on(monkeypatch, capsys):
    import torch
    monkeypatch.delenv(profile.ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(colab.sys, "version_info", (3, 14, 0))
    assert colab.setup(install=True) is None       # nothing to pip-install, no exception
    out = capsys.readouterr().out
    assert "spconv not installed: no CPU spconv wheel for Python 3.14" in out


def test_colab_profile_is_sized_for_a_t4():
    q, c, f = (profile.PROFILES[k] for k in ("quick", "colab", "full"))
    assert c.device == "cuda" and c.paper_sem and not c.paper_spa and c.real_data
    assert c.epochs <= 12 < f.epochs and len(q.subjects) < len(c.subjects) < len(f.subjects)
    assert not q.paper_sem and not q.paper_spa and not q.real_data and f.paper_sem and f.paper_spa


def test_recipes_follow_the_profile_model_sizes():
    import dataclasses
    from skelnb import recipes
    from skelnb.sem.net import SEMNet
    cpu_colab = dataclasses.replace(profile.PROFILES["colab"], device="cpu")
    n_params = lambda m: sum(p.numel() for p in m.parameters())
    small = recipes.sem_model(profile.PROFILES["quick"])
    paper = recipes.sem_model(cpu_colab)
    assert n_params(paper) == n_params(SEMNet(num_classes=paper.fc.out_features, num_frames=64)) > 10 * n_params(small)
    assert n_params(recipes.spa_model(cpu_colab)) == n_params(recipes.spa_model(profile.PROFILES["quick"]))
    assert recipes.train_config(cpu_colab).warmup_epochs == 1
    assert recipes.train_config(profile.PROFILES["full"]).warmup_epochs == 5


def test_sync_gives_a_new_chapter_its_badge_and_install_cell(tmp_path, monkeypatch):
    import json
    root = _copy_repo(tmp_path)
    new = {"cells": [{"cell_type": "markdown", "id": "a1", "metadata": {}, "source": ["# 15. New\n", "\n", "Text."]},
                     {"cell_type": "code", "execution_count": None, "id": "a2", "metadata": {}, "outputs": [],
                      "source": ["x = 1"]}],
           "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (root / "book" / "15_new.ipynb").write_text(json.dumps(new, indent=1) + "\n")
    with open(root / "_toc.yml", "a") as f:
        f.write("  - file: book/15_new\n")
    assert [p for p in colab.check(root) if p.startswith("book/15_new")]       # the test sees the new chapter
    monkeypatch.setattr(colab, "__file__", str(root / "colab_copy.py"))
    (root / "colab_copy.py").write_text(f'REPO = "{colab.REPO}"\nREF = "{colab.REF}"\n')
    assert colab.sync(root) == ["book/15_new.ipynb"]
    assert colab.check(root) == []
    cells = json.loads((root / "book" / "15_new.ipynb").read_text())["cells"]
    assert "".join(cells[0]["source"]) == f"# 15. New\n\n{colab.badge_markdown('book/15_new.ipynb')}\n\nText."
    assert "".join(cells[1]["source"]) == colab.install_cell() and "".join(cells[2]["source"]) == "x = 1"


def test_the_profiles_thread_count_yields_to_omp_num_threads(monkeypatch):
    import torch
    from skelnb import profile
    monkeypatch.setenv("SKELNB_PROFILE", "quick")
    old = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        torch.set_num_threads(1)
        assert profile.current().threads == 2 and torch.get_num_threads() == 2
        # make test runs two one-thread workers: two-thread kernels there would spin on 2 cores
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        profile.current()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(old)
