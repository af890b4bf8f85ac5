"""The README and docs/ name only paths that exist, the README stays short, and no page cites
what a reader of the repository does not have (issue numbers, work rounds, internal notes)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200
EXTENSIONS = (".py", ".md", ".h5", ".pt", ".png", ".sh", ".json", ".cfg", ".toml")
# Paths the pages name that a user or a run makes, not the repository.
IGNORED_PREFIXES = ("runs/", "data/", "/tmp", "my_run", "run2/")
IGNORED_NAMES = {"OUTCAR", "vasprun.xml", "XDATCAR"}
INTERNAL = re.compile(r"issue \d|round \d|NOTES §", re.IGNORECASE)
SHELL_FENCES = {"bash", "sh", "shell", "console"}
SKIPPED_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis"}
PATH_TOKEN = re.compile(r"[\w.\-/]+")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#+\s+(.*)$", re.MULTILINE)


def _repo_names() -> set[str]:
    """Every file and folder name in the repository's tree (not in the virtual environment,
    caches, or the ignored run and data folders)."""
    names = set()
    for folder, dirs, files in os.walk(ROOT):
        skip = SKIPPED_DIRS | ({"runs", "data"} if Path(folder) == ROOT else set())
        dirs[:] = [d for d in dirs if d not in skip]
        names.update(dirs)
        names.update(files)
    return names


def _candidate(token: str, bare: bool) -> str | None:
    """`token` as a repository path to check, or None when it is not one: an option, a URL, a
    glob or placeholder, a user's file, a bare extension (`.h5`), or (unless `bare`) a name
    without a folder."""
    if any(c in token for c in "*{}<>") or "://" in token:
        return None
    token = token.lstrip("([").rstrip(")],;:.")
    if not token or token.startswith("-") or not PATH_TOKEN.fullmatch(token):
        return None
    if token.startswith(IGNORED_PREFIXES) or token in IGNORED_NAMES:
        return None
    if "/" in token or (bare and token.endswith(EXTENSIONS) and not token.startswith(".")):
        return token
    return None


def named_paths(text: str) -> list[str]:
    """Repository paths named in Markdown `text`: in inline code (a one-word span may be a bare
    file name, found anywhere in the tree; in a longer span only words with a folder count) and
    in shell code blocks (words with a folder)."""
    found = []
    for lang, body in FENCE.findall(text):
        if lang in SHELL_FENCES:
            found += [p for w in body.split() if (p := _candidate(w, bare=False))]
    prose = FENCE.sub("", text)
    for span in INLINE.findall(prose):
        words = span.split()
        found += [p for w in words if (p := _candidate(w, bare=len(words) == 1))]
    return found


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def missing_paths(page: Path, text: str, names: set[str]) -> list[str]:
    """The paths and links of `page` (with `text`) that do not resolve, each with its page."""
    missing = []
    for path in named_paths(text):
        exists = (ROOT / path.rstrip("/")).exists() if "/" in path else path in names
        if not exists:
            missing.append(f"{page.name}: `{path}`")
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            missing.append(f"{page.name}: link {target}")
        elif anchor and dest.suffix == ".md":
            anchors = {_slug(h) for h in HEADING.findall(dest.read_text(encoding="utf-8"))}
            if anchor not in anchors:
                missing.append(f"{page.name}: link {target} (no such heading)")
    return missing


@pytest.fixture(scope="module")
def names() -> set[str]:
    return _repo_names()


def test_pages_exist() -> None:
    assert (ROOT / "docs" / "README.md").is_file() and len(PAGES) > 2


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_paths_exist(page: Path, names: set[str]) -> None:
    missing = missing_paths(page, page.read_text(encoding="utf-8"), names)
    assert not missing, "paths named but not in the repository:\n" + "\n".join(missing)


def test_checker_reports_a_missing_path(names: set[str]) -> None:
    text = ("See `ase_cnnas/no_such_module.py` and `no_such_file.h5`, run\n"
            "```bash\npython benchmarks/no_such_script.py --out runs/x\n```\n"
            "and [this](no_such_page.md); `OUTCAR`, `runs/x/best.pt` and `results/*.md` are fine.")
    missing = missing_paths(ROOT / "docs" / "README.md", text, names)
    assert missing == ["README.md: `benchmarks/no_such_script.py`",
                       "README.md: `ase_cnnas/no_such_module.py`", "README.md: `no_such_file.h5`",
                       "README.md: link no_such_page.md"]


def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, (f"README.md has {lines} lines, at most {README_MAX_LINES}: "
                                       "move detail into docs/")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_internal_references(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    hits = [f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group()!r}"
            for m in INTERNAL.finditer(text)]
    assert not hits, (f"{page.name} cites what a reader does not have (issue numbers, rounds, "
                      "internal notes); describe what was done instead:\n" + "\n".join(hits))
