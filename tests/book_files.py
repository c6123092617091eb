"""The book's pages as _toc.yml lists them (shared by the tests that check chapters)."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> set[str]:
    """The pages _toc.yml lists, as paths relative to the repository root without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    stack = list(toc.get("chapters", [])) + [c for p in toc.get("parts", []) for c in p["chapters"]]
    while stack:
        entry = stack.pop()
        files.append(entry["file"])
        stack += entry.get("sections", [])
    return {str(Path(f).with_suffix("")) for f in files}
