"""Colab: install skelnb and the spconv wheel that matches Colab's Python and CUDA.

Every chapter's first code cell (:func:`install_cell`) runs only in Colab::

    import sys
    if "google.colab" in sys.modules:  # Colab only: install skelnb + matching spconv
        %pip install -q "skelnb @ git+https://github.com/skelnb/skelnb@v0.1.0"
        import skelnb.colab; skelnb.colab.setup()

The repository's address lives in one place, ``_config.yml``'s ``repository.url``, and the ref
that readers get in ``repository.branch``: a release tag, so that a badge, the notebook it
opens and the code that notebook installs are the same commit (a branch would move under a
reader). Jupyter Book's launch buttons read both; :data:`REPO` and :data:`REF` here, every
chapter's badge and install cell, chapter 14's clone and README must agree with them
(``tests/test_notebooks.py`` checks); ``python -m skelnb.colab sync`` rewrites them all after
either line of ``_config.yml`` changes.

``setup()`` keeps Colab's own torch, picks the spconv wheel with :func:`spconv_requirement`
and switches the profile to ``colab`` (minutes per chapter on a free T4) when a GPU is present.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

# Must equal _config.yml's repository.url / repository.branch (`python -m skelnb.colab sync`).
REPO = "https://github.com/skelnb/skelnb"
REF = "v0.1.0"
COLAB = "https://colab.research.google.com"

# spconv wheels on PyPI: (package, version, CUDA version it was built for, Pythons with wheels).
# None for CUDA 11.x is listed: on such a machine the reference sparse convolution runs.
SPCONV_WHEELS = (
    ("spconv-cu126", "2.3.8", (12, 6), ((3, 10), (3, 11), (3, 12), (3, 13))),
    ("spconv-cu124", "2.3.8", (12, 4), ((3, 10), (3, 11), (3, 12), (3, 13))),
    ("spconv-cu121", "2.3.8", (12, 1), ((3, 10), (3, 11), (3, 12), (3, 13))),
    ("spconv-cu120", "2.3.6", (12, 0), ((3, 8), (3, 9), (3, 10), (3, 11))),
)
SPCONV_CPU = ("spconv", "2.3.8", ((3, 10), (3, 11), (3, 12), (3, 13)))


def _version(v) -> tuple[int, ...]:
    if isinstance(v, str):
        return tuple(int(p) for p in v.split(".")[:2])
    return tuple(v)[:2]


def spconv_requirement(python, cuda) -> str:
    """The pip requirement of the spconv wheel for a Python version and torch's CUDA version.

    ``python``: ``(3, 12)`` or ``"3.12"``; ``cuda``: torch's CUDA version (``torch.version.cuda``,
    e.g. ``"12.8"``) or ``None`` for a CPU-only torch. Picks the newest wheel built for a CUDA
    version not newer than torch's (a newer driver runs older CUDA builds), among those with a
    wheel for this Python. Raises ``RuntimeError`` naming the case when no wheel exists.
    """
    py = _version(python)
    if cuda is None:
        name, ver, pys = SPCONV_CPU
        if py in pys:
            return f"{name}=={ver}"
        raise RuntimeError(f"no CPU spconv wheel for Python {py[0]}.{py[1]} ({name} {ver} has wheels "
                           f"for {_pys(pys)}); the reference sparse convolution in skelnb.spa "
                           f"works without spconv")
    cu = _version(cuda)
    for name, ver, built, pys in SPCONV_WHEELS:
        if built <= cu and py in pys:
            return f"{name}=={ver}"
    raise RuntimeError(f"no spconv wheel for Python {py[0]}.{py[1]} with CUDA {cu[0]}.{cu[1]}: "
                       f"spconv 2.3.x CUDA wheels need CUDA >= 12.0 (cu120 for Python "
                       f"{_pys(SPCONV_WHEELS[-1][3])}, cu121/cu124/cu126 for "
                       f"{_pys(SPCONV_WHEELS[0][3])}); the reference sparse convolution "
                       f"in skelnb.spa works without spconv")


def _pys(pys) -> str:
    return f"{pys[0][0]}.{pys[0][1]}-{pys[-1][0]}.{pys[-1][1]}"


def in_colab() -> bool:
    return "google.colab" in sys.modules


def setup(install: bool = True) -> str | None:
    """Install the matching spconv wheel (keeping Colab's torch) and pick the profile.

    Returns the spconv requirement installed, or ``None`` where no wheel fits (one line says
    so; the reference sparse convolution runs). The profile becomes ``colab`` (minutes per
    chapter on a free T4) when torch sees a GPU, else stays ``quick``; the paper-size,
    60-epoch ``full`` is only ever chosen explicitly (``skelnb.profile.use("full")``).
    """
    import torch

    from . import profile

    try:
        req = spconv_requirement(sys.version_info[:2], torch.version.cuda)
    except RuntimeError as e:
        req = None
        print(f"skelnb: spconv not installed: {e}")
    if install and req:
        # --no-deps would skip cumm; plain install keeps torch because spconv does not pin it
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", req])
    profile.use("colab" if torch.cuda.is_available() else "quick")
    print(f"skelnb {REF}: {'installed ' + req if req else 'no spconv'}; profile "
          f"{profile.current().name!r} (profile.use('full') for the paper-size 60-epoch runs)")
    return req


def _slug(url: str = REPO) -> str:
    """'owner/name' of a GitHub URL."""
    m = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", url)
    if not m:
        raise ValueError(f"repository.url {url!r} is not https://github.com/OWNER/NAME")
    return m.group(1)


def badge_url(notebook_path: str, repo: str = REPO, ref: str = REF) -> str:
    """The 'Open in Colab' link of a chapter (path relative to the repository root), at the
    pinned ref; the same link as Jupyter Book's Colab launch button."""
    return f"{COLAB}/github/{_slug(repo)}/blob/{ref}/{notebook_path}"


def badge_markdown(notebook_path: str, repo: str = REPO, ref: str = REF) -> str:
    """The badge line of a chapter's first (markdown) cell."""
    return f"[![Open in Colab](images/colab-badge.svg)]({badge_url(notebook_path, repo, ref)})"


def install_cell(repo: str = REPO, ref: str = REF) -> str:
    """The source of every chapter's second cell (the first code cell)."""
    return ('import sys\n'
            'if "google.colab" in sys.modules:  # Colab only: install skelnb + matching spconv\n'
            f'    %pip install -q "skelnb @ git+{repo}@{ref}"\n'
            '    import skelnb.colab; skelnb.colab.setup()')


# ---- the one address: _config.yml -> everything else -------------------------------------

ROOT = Path(__file__).resolve().parents[1]
_GH = re.compile(r"https://github\.com/([\w.-]+/[\w.-]+?)/(?:blob|tree)/([^/\s)\"'`]+)/([^\s)\"'`#?]+)")
_BADGE = re.compile(r"\[!\[Open in Colab\]\([^)]*\)\]\([^)\s]*\)")
_COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^\s)\"'`]+")
_GIT = re.compile(r"git\+(https://[^\s\"'`@]+)(?:@([^\s\"'`]+))?|git clone\b[^\n]*?(https://github\.com/[^\s\"'`),]+)")


def repo_config(root: Path = ROOT) -> tuple[str, str]:
    """(url, ref) from ``_config.yml``'s ``repository.url`` and ``repository.branch``."""
    import yaml
    repo = yaml.safe_load((Path(root) / "_config.yml").read_text()).get("repository") or {}
    url, ref = repo.get("url"), repo.get("branch")
    if not url or not ref:
        raise ValueError(f"{root}/_config.yml needs repository.url and repository.branch (the pinned ref)")
    _slug(url)
    return url.rstrip("/"), str(ref)


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The chapters of ``_toc.yml`` that are notebooks, in reading order."""
    import yaml
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text())
    entries, files = [{"file": toc["root"]}, *toc.get("chapters", []),
                      *[c for p in toc.get("parts", []) for c in p["chapters"]]], []
    while entries:
        e = entries.pop(0)
        files.append(e["file"])
        entries[:0] = e.get("sections", [])
    return [Path(root) / f"{Path(f).with_suffix('')}.ipynb" for f in files
            if (Path(root) / f"{Path(f).with_suffix('')}.ipynb").exists()]


def _ours(slug: str, url: str) -> bool:
    """Is a GitHub 'owner/name' this repository (by its address, old or new, or its name)?"""
    return slug in (_slug(url), _slug(REPO)) or slug.split("/")[1] == _slug(url).split("/")[1]


def _link_problems(where: str, text: str, root: Path, url: str, ref: str) -> list[str]:
    out = []
    for m in _GH.finditer(text):   # a link to a file of this repository must use its address and ref
        if _ours(m.group(1), url) and (m.group(1) != _slug(url) or m.group(2) != ref):
            out.append(f"{where}: {m.group(0)} should be {url}/blob/{ref}/{m.group(3)}")
    for m in _GIT.finditer(text):
        if m.group(1) and m.group(1) != url or m.group(1) and m.group(2) != ref:
            out.append(f"{where}: {m.group(0)} should be git+{url}@{ref}")
        if m.group(3) and m.group(3).rstrip("/").removesuffix(".git") != url:
            out.append(f"{where}: {m.group(0)!r} should clone {url}")
    return out


def check(root: Path = ROOT) -> list[str]:
    """Every place that disagrees with ``_config.yml``'s address and ref (empty: all agree)."""
    root = Path(root)
    url, ref = repo_config(root)
    out = []
    if (REPO, REF) != (url, ref):
        out.append(f"skelnb/colab.py: REPO, REF = {REPO!r}, {REF!r} but _config.yml says {url!r}, {ref!r}")
    for nb_path in toc_notebooks(root):
        rel = nb_path.relative_to(root).as_posix()
        cells = json.loads(nb_path.read_text())["cells"]
        first = "".join(cells[0]["source"]) if cells else ""
        if not cells or cells[0]["cell_type"] != "markdown" or badge_markdown(rel, url, ref) not in first:
            out.append(f"{rel}: cell 0 (markdown) must contain {badge_markdown(rel, url, ref)}")
        if (len(cells) < 2 or cells[1]["cell_type"] != "code"
                or "".join(cells[1]["source"]).strip() != install_cell(url, ref)):
            out.append(f"{rel}: cell 1 must be the Colab install cell (skelnb.colab.install_cell())")
        for k, c in enumerate(cells):
            text = "".join(c["source"])
            for link in _COLAB_LINK.findall(text):
                if link != badge_url(rel, url, ref):
                    out.append(f"{rel} cell {k}: Colab link {link} should be {badge_url(rel, url, ref)}")
            out += _link_problems(f"{rel} cell {k}", text, root, url, ref)
    for doc in ("README.md", "data/README.md"):
        if (root / doc).exists():
            text = (root / doc).read_text()
            out += _link_problems(doc, text, root, url, ref)
            if doc == "README.md" and url not in text:
                out.append(f"README.md does not name the repository {url}")
    return out


def sync(root: Path = ROOT) -> list[str]:
    """Rewrite skelnb/colab.py's REPO/REF, every chapter's badge and install cell (adding them
    to a chapter that has none) and links to this repository's files after ``_config.yml``'s
    repository.url or branch changed. Returns the files changed."""
    import uuid
    root = Path(root)
    url, ref = repo_config(root)
    changed = []

    def links(text: str) -> str:
        text = _GH.sub(lambda m: f"{url}/blob/{ref}/{m.group(3)}" if _ours(m.group(1), url) else m.group(0), text)
        return text.replace(f"git+{REPO}@{REF}", f"git+{url}@{ref}").replace(REPO, url)

    for nb_path in toc_notebooks(root):
        rel = nb_path.relative_to(root).as_posix()
        before = nb_path.read_text()
        nb = json.loads(before)
        cells = nb["cells"]
        for c in cells:
            c["source"] = _lines(links("".join(c["source"])))
        first = "".join(cells[0]["source"])
        if _BADGE.search(first):
            first = _BADGE.sub(lambda m: badge_markdown(rel, url, ref), first, count=1)
        else:   # under the title line
            head, _, rest = first.partition("\n")
            first = (f"{head}\n\n{badge_markdown(rel, url, ref)}\n"
                     + (f"\n{rest.lstrip(chr(10))}" if rest.strip() else ""))
        cells[0]["source"] = _lines(first)
        src1 = "".join(cells[1]["source"]) if len(cells) > 1 else ""
        if (cells[1:] and cells[1]["cell_type"] == "code" and '"google.colab" in sys.modules' in src1
                and "%pip install" in src1):
            cells[1]["source"] = _lines(install_cell(url, ref))
        else:
            cells.insert(1, {"cell_type": "code", "execution_count": None, "id": uuid.uuid4().hex[:8],
                             "metadata": {}, "outputs": [], "source": _lines(install_cell(url, ref))})
        after = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if after != before:
            nb_path.write_text(after)
            changed.append(rel)
    me = Path(__file__)
    src = me.read_text()
    new = re.sub(r'(?m)^REPO = ".*"$', f'REPO = "{url}"', src, count=1)
    new = re.sub(r'(?m)^REF = ".*"$', f'REF = "{ref}"', new, count=1)
    if new != src:
        me.write_text(new)
        changed.append(me.relative_to(root).as_posix() if me.is_relative_to(root) else str(me))
    for doc in ("README.md", "data/README.md"):
        p = root / doc
        if p.exists() and (t := p.read_text()) != (n := links(t)):
            p.write_text(n)
            changed.append(doc)
    return changed


def _lines(text: str) -> list[str]:
    """A notebook cell's ``source`` list: lines with their newline, the last without."""
    return text.splitlines(keepends=True)


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m skelnb.colab",
                                 description="Check (default) or sync every place that names the repository "
                                             "against _config.yml's repository.url and repository.branch.")
    ap.add_argument("command", nargs="?", default="check", choices=["check", "sync"])
    args = ap.parse_args(argv)
    if args.command == "sync":
        for f in sync():
            print(f"rewrote {f}")
        return 0
    problems = check()
    print("\n".join(problems) or f"every badge, install cell and link agrees with {REPO} @ {REF}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
