"""The paper's numbers (skelnb.paper) against the paper: every cell against its table in the paper's text, and the
differences and repeats the text states (these need no text)."""
import ast
import os
import re
from pathlib import Path

import pytest

import skelnb.paper
from skelnb.paper import PAPER_RESULTS, PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE4, PAPER_TABLE5

TEXT = Path(os.environ.get("SKELNB_PAPER_TEXT", "/work/shared/paper/what-and-where.txt"))
HEADERS = {"cs": "CS", "cv": "CV", "gflops": "GFLOPs", "mparams": "Params"}   # the NTU-60 views' keys


@pytest.fixture(scope="module")
def text() -> str:
    if not TEXT.is_file():
        pytest.skip(f"the paper's text is not at {TEXT} (set SKELNB_PAPER_TEXT to its path)")
    return TEXT.read_text()


def paper_tables(text: str) -> dict[str, tuple[str, dict[str, dict[str, float]]]]:
    """Table number -> (its dataset, {setting: {column header: value}}), parsed from the text's tab-separated
    tables (the dataset from the caption; "%" and "M" dropped)."""
    lines, out = text.splitlines(), {}
    for i, line in enumerate(lines):
        m = re.match(r"Table (\d)\. (.*)", line)
        if not m:
            continue
        j = next(j for j in range(i + 1, len(lines)) if "\t" in lines[j])
        header = [h.removesuffix(" (%)") for h in lines[j].split("\t")]
        rows = {}
        for row in lines[j + 1:]:
            if "\t" not in row:
                break
            cells = row.split("\t")
            rows[cells[0]] = {h: float(c.removesuffix("M").strip()) for h, c in zip(header[1:], cells[1:])
                              if h != "Year"}
        caption = m.group(2)
        dataset = "NTU-120" if "NTU-120" in caption else "SHREC'17" if "SHREC" in caption else "NTU-60"
        out[m.group(1)] = (dataset, rows)
    return out


def paper_cells():
    """(table, setting as printed, dataset, column header, value) of every number skelnb.paper's views hold."""
    for r in PAPER_RESULTS:
        yield r.table, r.setting, r.dataset, r.column, r.top1
    views = {"1": (PAPER_TABLE1, str), "2": (PAPER_TABLE2, str), "4": (PAPER_TABLE4, lambda k: "SPA-" + k.upper()),
             "5": (PAPER_TABLE5, lambda k: f"s={k[0]}, k={k[1]}")}
    for table, (view, setting) in views.items():
        for key, cols in view.items():
            for c, v in cols.items():
                yield table, setting(key), "NTU-60", HEADERS[c], v


def test_every_number_is_the_one_in_the_papers_table(text):
    tables = paper_tables(text)
    assert sorted(tables) == [str(t) for t in range(1, 10)]
    seen = set()
    for table, setting, dataset, column, value in paper_cells():
        ds, rows = tables[table]
        printed = setting if setting in rows else setting + " (ours)"     # Tables 8-9 print "SEM (ours)"
        assert printed in rows, f"Table {table}: no row {setting!r} in the paper ({list(rows)})"
        assert ds == dataset, f"Table {table} is on {ds}, not {dataset}"
        assert rows[printed][column] == value, f"Table {table} {setting} {column}: paper {rows[printed][column]}"
        seen.add((table, printed))
    # every row of the ablation and fusion tables, and every "(ours)" row of Tables 7-9, is here
    want = {(t, s) for t, (_, rows) in tables.items() for s in rows if t <= "6" or "(ours)" in s}
    assert seen == want


def test_every_number_literal_in_the_module_is_in_the_papers_text(text):
    tree = ast.parse(Path(skelnb.paper.__file__).read_text())
    numbers = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)}
    assert len(numbers) > 40
    missing = [v for v in sorted(numbers) if not re.search(rf"(?<![\d.]){re.escape(str(v))}(?!\d)", text)]
    assert not missing, f"not in the paper's text: {missing}"


def test_the_differences_and_repeats_the_text_states():
    top1 = {(r.table, r.setting, r.benchmark): r.top1 for r in PAPER_RESULTS}

    def gain(a: str, b: str, table: str = "6") -> tuple[float, float]:
        return tuple(round(top1[table, a, bench] - top1[table, b, bench], 1) for bench in ("ntu60-xsub", "ntu60-xview"))

    # Sec. 4.2, Fusion: "0.8%/0.8% compared with SEM-Net and 3.0%/1.6% compared with SPA-Net"; "SEM-joint+SPA
    # brings more improvements (1.5%/1.3%) compared with SEM-joint"
    assert gain("SEM+SPA", "SEM-Net") == (0.8, 0.8) and gain("SEM+SPA", "SPA-Net") == (3.0, 1.6)
    assert gain("SEM-joint+SPA", "SEM-joint") == (1.5, 1.3)
    # Table 3 "brings about 1% improvement"; single-frame "needs only one fifth" of unified's cost
    assert all(0.5 <= v <= 1.5 for v in gain("SEM-fuse", "SEM-joint", "3"))
    assert PAPER_TABLE1["single-frame"]["gflops"] / PAPER_TABLE1["unified"]["gflops"] == pytest.approx(1 / 5, abs=0.02)
    # the repeats: the default SEM-Net of Tables 1-3 and 6, SPA-4D of Tables 4-6, SEM+SPA of Tables 6-7
    for view, key in ((PAPER_TABLE1, "cross-frame+GR"), (PAPER_TABLE2, "d=(1,3,5,7)")):
        assert (view[key]["cs"], view[key]["cv"]) == (top1["3", "SEM-joint", "ntu60-xsub"],
                                                      top1["3", "SEM-joint", "ntu60-xview"])
    assert PAPER_TABLE5[64, 5] == PAPER_TABLE4["4d"] == dict(cs=top1["6", "SPA-Net", "ntu60-xsub"],
                                                             cv=top1["6", "SPA-Net", "ntu60-xview"])
    for bench in ("ntu60-xsub", "ntu60-xview"):
        assert top1["6", "SEM-Net", bench] == top1["3", "SEM-fuse", bench]
        assert top1["7", "SEM+SPA (ours)", bench] == top1["6", "SEM+SPA", bench]
