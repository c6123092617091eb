"""A chapter mentioned by number in the book's prose is a link to that chapter's file, listed in _toc.yml.

Checked: the markdown cells of book/*.ipynb and book/00_intro.md. A link to a chapter file
(`[chapter 10](10_sparse_conv.ipynb)`, or a bare number as in `chapters [3](03_...)-[8](08_...)`)
must point to a file that _toc.yml lists and whose number prefix is the number in its text;
"chapter N" / "chapters N and M" / "ch. N" outside a link fails. Code cells, fenced code blocks
and inline code are not prose and are not checked.
"""
import json
import re
from pathlib import Path

import pytest
from book_files import toc_files

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
PAGES = sorted(BOOK.glob("*.ipynb")) + [BOOK / "00_intro.md"]

LINK = re.compile(r"\[([^\[\]]*)\]\(([^()\s]+)\)")                     # [text](target), not images' outer links
CHAPTER_FILE = re.compile(r"^(?:\./)?((\d\d)_[\w-]+)\.(?:ipynb|md)(?:#[\w-]*)?$")
NUMBER_TEXT = re.compile(r"^\s*(?:ch\.|chapters?)?\s*(\d+)\s*$", re.I)  # "3", "chapter 10", "Ch. 9"
CHAPTER_IN_TEXT = re.compile(r"\b(?:ch\.|chapters?)\s*(\d+)", re.I)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def prose(path):
    """(cell index, markdown text) of a page: every markdown cell of a notebook; the whole .md file as cell 0."""
    if path.suffix == ".md":
        return [(0, path.read_text())]
    nb = json.loads(path.read_text())
    return [(i, "".join(c["source"])) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown"]


def problems(path, toc):
    """Every wrong link and every bare chapter number of one page, as 'file, cell i: ...' lines."""
    out = []
    for i, text in prose(path):
        text = INLINE_CODE.sub("``", FENCE.sub("", text))
        where = f"{path.name}, cell {i}"
        for m in LINK.finditer(text):
            label, target = m.group(1), m.group(2)
            file = CHAPTER_FILE.match(target)
            wanted = NUMBER_TEXT.match(label) or CHAPTER_IN_TEXT.search(label)
            if file is None:
                if wanted and not target.startswith(("http://", "https://")):
                    out.append(f"{where}: {m.group(0)!r} names a chapter but links to no chapter file")
                continue
            stem, number = file.group(1), int(file.group(2))
            if f"book/{stem}" not in toc:
                out.append(f"{where}: {m.group(0)!r} links to {target}, which _toc.yml does not list")
            elif not (BOOK / target.split("#")[0]).exists():
                out.append(f"{where}: {m.group(0)!r} links to {target}, which does not exist")
            if wanted and int(wanted.group(1)) != number:
                out.append(f"{where}: {m.group(0)!r} says chapter {wanted.group(1)} but links to chapter {number}")
        bare = LINK.sub("[link]", text)
        for m in CHAPTER_IN_TEXT.finditer(bare):
            line = bare[bare.rfind("\n", 0, m.start()) + 1: bare.find("\n", m.end()) % (len(bare) + 1)]
            out.append(f"{where}: bare {m.group(0)!r} (make it a link to the chapter's file): {line.strip()!r}")
    return out


def test_the_toc_lists_the_intro_and_the_chapters():
    toc = toc_files()
    assert "book/00_intro" in toc and all(f"book/{p.stem}" in toc for p in PAGES)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_chapter_references_are_links_to_the_right_chapter(path):
    found = problems(path, toc_files())
    assert not found, "\n".join(found)


def test_the_checker_catches_bare_and_wrong_references(tmp_path):
    """The checker itself: a bare mention, a wrong number, a file not in the toc; a right link passes."""
    toc = toc_files()
    page = tmp_path / "99_probe.md"
    page.write_text("As chapters 6 and 8 show; [chapter 4](10_sparse_conv.ipynb) builds it;\n"
                    "[chapter 99](99_nowhere.ipynb); fine: [chapter 10](10_sparse_conv.ipynb),\n"
                    "chapters [3](03_cross_frame_attention.ipynb)-[8](08_bone_stream.ipynb), `chapter 5` in code.\n")
    found = problems(page, toc)
    assert any("bare 'chapters 6'" in p for p in found)
    assert any("says chapter 4 but links to chapter 10" in p for p in found)
    assert any("_toc.yml does not list" in p for p in found)
    assert len(found) == 3, found
