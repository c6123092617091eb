"""Chapters are committed clean and follow the book's conventions (Colab badge + first cell)."""
import json
from pathlib import Path

import pytest
from book_files import toc_files

from skelnb import colab

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
COLAB_CELL = colab.install_cell()   # pip-installs _config.yml's repository.url at its pinned ref


def test_there_are_chapters():
    assert CHAPTERS, "no notebooks in book/"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, \
                f"{path.name}: clear the outputs before committing"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_colab_badge_and_first_cell(path):
    nb = json.loads(path.read_text())
    first, second = nb["cells"][0], nb["cells"][1]
    rel = path.relative_to(ROOT).as_posix()
    assert first["cell_type"] == "markdown" and colab.badge_markdown(rel) in "".join(first["source"]), \
        f"{path.name}: the first cell must carry the Colab badge for {rel}"
    assert second["cell_type"] == "code" and "".join(second["source"]).strip() == COLAB_CELL, \
        f"{path.name}: the second cell must be the Colab install cell"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_is_in_the_toc(path):
    assert str(path.relative_to(ROOT).with_suffix("")) in toc_files()
