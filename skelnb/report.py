"""``skelnb report RUN_DIR ...``: one self-contained, offline HTML file per call with the
training curves (from ``metrics.jsonl``, else ``run.json``), the per-class test accuracy and the
confusion matrix of each run (plotly; plotly.js is inlined once, no CDN)."""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from .data.ntu_actions import describe_class
from .fuse import FusionError, load_run
from .train import read_metrics


class ReportError(ValueError):
    """A folder that is not a run, or a run without what the report draws."""


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}


def load_run_info(run_dir: str | os.PathLike, which: str = "last") -> dict:
    """What the report needs of one run: its name, per-epoch rows, scores, class names, result."""
    d = Path(run_dir)
    if not d.is_dir():
        raise ReportError(f"report: {d}: no such run folder")
    rows = read_metrics(d) or _json(d / "run.json").get("history", [])
    try:
        scores = load_run(d, which)
    except FusionError as e:
        raise ReportError(str(e).replace("fuse: ", "report: ", 1)) from None
    result = _json(d / "result.json")
    names = result.get("class_names") or [f"class {k}" for k in range(scores.num_classes)]
    if len(names) != scores.num_classes:
        names = [f"class {k}" for k in range(scores.num_classes)]
    names = [describe_class(n) for n in names]                 # NTU codes get their official names
    return dict(name=str(d), rows=rows, scores=scores, class_names=list(names), result=result)


def curves_figure(runs: list[dict]) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "accuracy (%)"))
    for i, r in enumerate(runs):
        color = pio.templates["plotly"].layout.colorway[i % 10]
        ep = [x["epoch"] for x in r["rows"]]
        fig.add_trace(go.Scatter(x=ep, y=[x["loss"] for x in r["rows"]], name=f"{r['name']} loss",
                                 line=dict(color=color), legendgroup=r["name"]), 1, 1)
        fig.add_trace(go.Scatter(x=ep, y=[100 * x["acc"] for x in r["rows"]], name=f"{r['name']} train",
                                 line=dict(color=color, dash="dot"), legendgroup=r["name"]), 1, 2)
        test = [x for x in r["rows"] if "test_top1" in x]
        if test:
            fig.add_trace(go.Scatter(x=[x["epoch"] for x in test], y=[100 * x["test_top1"] for x in test],
                                     name=f"{r['name']} test top-1", mode="lines+markers",
                                     line=dict(color=color), legendgroup=r["name"]), 1, 2)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=420, legend=dict(orientation="h", y=-0.25))
    return fig


def per_class_figure(runs: list[dict], which: str) -> go.Figure:
    fig = go.Figure()
    for r in runs:
        pc = r["scores"].per_class()
        fig.add_trace(go.Bar(x=r["class_names"], y=[None if np.isnan(a) else 100 * a for a in pc], name=r["name"]))
    fig.update_layout(title=f"per-class test accuracy (%), {which} epoch", barmode="group", height=420,
                      yaxis=dict(range=[0, 100]), xaxis=dict(tickangle=-60))
    return fig


def confusion_figure(r: dict, which: str) -> go.Figure:
    cm = r["scores"].confusion()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = 100 * cm / cm.sum(1, keepdims=True)
    names = r["class_names"]
    fig = go.Figure(go.Heatmap(z=share, x=names, y=names, customdata=cm, colorscale="Blues", zmin=0, zmax=100,
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z:.1f} % of the row"
                                             "<br>%{customdata} samples<extra></extra>",
                               colorbar=dict(title="% of row")))
    side = min(900, 260 + 12 * len(names))
    fig.update_layout(title=f"confusion matrix of {r['name']} ({which} epoch; rows: true class)",
                      height=side, width=side + 120, yaxis=dict(autorange="reversed", title="true"),
                      xaxis=dict(title="predicted"))
    return fig


def _fmt(v) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{100 * v:.2f}"


def summary_table(runs: list[dict]) -> str:
    head = ("<tr><th>run</th><th>epochs</th><th>top-1 % (last)</th><th>top-5 % (last)</th>"
            "<th>mean-class % (last)</th><th>top-1 % (best epoch*)</th><th>best epoch*</th></tr>")
    body = []
    for r in runs:
        res, best = r["result"], r["result"].get("best") or {}
        if "mean_class" not in res:            # a run from before result.json had it: from its scores
            last = load_run(r["name"], "last")
            res = dict(top1=last.top1, top5=last.top5, mean_class=last.mean_class)
        top1, top5, mc = res["top1"], res["top5"], res["mean_class"]
        body.append(f"<tr><td>{html.escape(r['name'])}</td><td>{len(r['rows'])}</td><td>{_fmt(top1)}</td>"
                    f"<td>{_fmt(top5)}</td><td>{_fmt(mc)}</td><td>{_fmt(best.get('top1'))}</td>"
                    f"<td>{best.get('epoch', '–')}</td></tr>")
    note = ("<p>* the evaluated epoch of highest test top-1, as the authors' code keeps it: selected on "
            "the test set, hence optimistic. The last epoch's numbers are the honest ones.</p>")
    return f"<table border='1' cellpadding='4' style='border-collapse:collapse'>{head}{''.join(body)}</table>{note}"


def write_report(run_dirs, out: str | os.PathLike = "report.html", which: str = "last") -> Path:
    """Write the report of ``run_dirs`` to ``out`` (atomically) and return its path."""
    if not run_dirs:
        raise ReportError("report: name at least one run folder")
    runs = [load_run_info(d, which) for d in run_dirs]
    figs = [curves_figure(runs), per_class_figure(runs, which)] + [confusion_figure(r, which) for r in runs]
    parts = [pio.to_html(f, include_plotlyjs=(i == 0), full_html=False, include_mathjax=False,
                         div_id=f"skelnb-report-{i}") for i, f in enumerate(figs)]
    doc = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>skelnb report</title></head><body>"
           "<h1>skelnb report</h1>" + summary_table(runs) + "".join(parts) + "</body></html>")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(doc, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out
