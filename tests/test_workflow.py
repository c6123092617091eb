"""The Pages workflow runs on current (Node 24) action majors and publishes only a tested book."""
from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "book.yml"
CURRENT = {"actions/checkout": 6, "actions/setup-python": 6, "actions/cache": 5,
           "actions/upload-pages-artifact": 5, "actions/deploy-pages": 5}


def _jobs():
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]


def test_actions_on_current_majors():
    uses = [s["uses"] for job in _jobs().values() for s in job["steps"] if "uses" in s]
    assert uses, "no actions in the workflow"
    for u in uses:
        name, _, ref = u.partition("@")
        assert name in CURRENT, f"{u}: not one of the known actions {sorted(CURRENT)}"
        assert ref == f"v{CURRENT[name]}", f"{u}: pin the current major v{CURRENT[name]} (Node 20 actions are gone)"


def test_tests_run_before_publishing():
    jobs = _jobs()
    steps = jobs["build"]["steps"]
    runs = [i for i, s in enumerate(steps) if s.get("run", "").strip() == "make test"]
    upload = [i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert runs and upload and runs[0] < upload[0], "make test must run before the Pages artifact is uploaded"
    assert jobs["deploy"]["needs"] == "build"
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache"))
    assert "_build/.jupyter_cache" in cache["with"]["path"]
