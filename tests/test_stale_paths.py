"""Nothing stale: every repository path and every `FILE.md#section` link named in README.md, docs/*.md
(every markdown page), and the comments and docstrings of the code and the tests exists (anchors as
GitHub makes them from the headings).

A path counts when it starts at a folder of the repository (`pix2pix/models/losses.py`,
`docs/reference.md`) or at one of pix2pix's packages (`models/losses.py`, `options/record.py`); a
bare source or page name (`generators.py`, `reference.md`) must be the name of some file of the
repository, unless it is one of the few named here that live elsewhere (FOREIGN_FILES); the files a
run writes (`options.json`, `index.html`) are not repository paths. Markdown links (outside code) are
resolved from the page that holds them.
"""

import ast
import functools
import io
import os
import re
import subprocess
import tokenize

import pytest

from helpers import REPO

# Files named in the text that are not files of this repository: the TF1 original's script, what
# pix2pix-reproduce writes into its output folder, and scripts tests write into a temporary folder.
FOREIGN_FILES = {"pix2pix.py", "table.md", "results.md", "like_the_original.py", "without_onnx.py"}
EXTENSIONS = r"py|md|json|txt|ini|cfg|toml|yml|yaml|html|sh|ipynb|csv|png"
# a path (folders/name.ext) or a bare name, optionally with #anchor; not inside a longer word or URL
PATH = re.compile(r"(?<![\w/.:-])((?:[\w.-]+/)*[\w-]+\.(?:" + EXTENSIONS + r"))(?![\w/])(?:#([\w-]+))?")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]*?)(?:#([\w-]+))?\)")
PLACEHOLDER = re.compile(r"(^|/)[A-Z][A-Z_]+(/|\.)")  # benchmarks/NAME.py, FILE.md: a pattern, not a file


def _tracked():
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    return sorted(f for f in listed if os.path.exists(os.path.join(REPO, f)))


FILES = _tracked()
NAMES = {os.path.basename(f) for f in FILES} | {f.split("/")[0] for f in FILES}
TOP = {f.split("/")[0] for f in FILES if "/" in f}
PACKAGES = {f.split("/")[1] for f in FILES if f.startswith("pix2pix/") and f.count("/") >= 2}


def _python_prose(path):
    """The comments and docstrings of a Python file, as one text (code and other strings left out)."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    parts = [token.string for token in tokenize.generate_tokens(io.StringIO(source).readline)
             if token.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            parts.append(ast.get_docstring(node, clean=False) or "")
    return "\n".join(parts)


def _markdown_prose(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _prose(source):
    """SOURCE's prose: a markdown page whole, a Python file's comments and docstrings."""
    path = os.path.join(REPO, source)
    return _markdown_prose(path) if source.endswith(".md") else _python_prose(path)


# Read in the test, not here: every test worker collects this module, and parsing ~200 files took
# it 2 CPU s per worker.
SOURCES = [name for name in FILES if name.endswith((".md", ".py"))]


def slug(heading):
    """GitHub's anchor for a markdown heading: lower case, punctuation dropped, spaces -> hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@functools.lru_cache(maxsize=None)
def anchors(markdown_path):
    """The anchors of a markdown file's headings (outside code blocks), repeats numbered as GitHub does."""
    found, seen, fenced = set(), {}, False
    with open(markdown_path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                fenced = not fenced
            match = None if fenced else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
            if match:
                base = slug(match.group(1))
                found.add(base if base not in seen else f"{base}-{seen[base]}")
                seen[base] = seen.get(base, 0) + 1
    return found


def _resolve(name, source):
    """The repository file (or folder) NAME means in SOURCE, None when it names no repository path."""
    first = name.split("/")[0]
    candidates = [os.path.join(os.path.dirname(source), name)]  # relative to the page or module itself
    if "/" in name and first in TOP:
        candidates.append(name)
    if "/" in name and first in PACKAGES:
        candidates.append(os.path.join("pix2pix", name))
    for candidate in candidates:
        if os.path.exists(os.path.join(REPO, candidate)):
            return os.path.normpath(candidate)
    return None


def _problems(source, text):
    """The stale paths and anchors of TEXT, which is SOURCE's prose."""
    problems = []
    prose = re.sub(r"```.*?```|`[^`\n]*`", "", text, flags=re.S)  # links are outside code
    links = [(m.group(1), m.group(2)) for m in MARKDOWN_LINK.finditer(prose)] if source.endswith(".md") else []
    named = [(m.group(1), m.group(2)) for m in PATH.finditer(text)]
    for name, anchor in dict.fromkeys(links + named):  # a link is also a path named: once
        if not name and anchor:  # (#section): this page's own heading
            name = source
        if not name or "://" in name or name.startswith("mailto:") or PLACEHOLDER.search(name):
            continue
        resolved = _resolve(name, source)
        if resolved is None:
            if "/" not in name and (name in NAMES or name in FOREIGN_FILES or not name.endswith((".py", ".md"))):
                continue  # a bare file name of the repository (or of elsewhere, named on purpose), or an output
            if "/" in name and name.split("/")[0] not in TOP | PACKAGES and (name, anchor) not in links:
                continue  # a path of another project (the PyTorch pix2pix's models/..., say)
            problems.append(f"{source}: {name} does not exist")
        elif anchor and resolved.endswith(".md") and anchor not in anchors(os.path.join(REPO, resolved)):
            problems.append(f"{source}: {name}#{anchor}: no such heading in {resolved}")
    return problems


@pytest.mark.parametrize("source", SOURCES)
def test_every_path_and_section_named_exists(source):
    problems = _problems(source, _prose(source))
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_missing_file_a_missing_heading_and_knows_github_slugs():
    assert slug("Deliberate differences") == "deliberate-differences"
    assert slug("`--mode serve`: the page & the API") == "--mode-serve-the-page--the-api"
    assert "deliberate-differences" in anchors(os.path.join(REPO, "docs", "reference.md"))
    assert _problems("docs/x.md", "see `pix2pix/registry.py`") == ["docs/x.md: pix2pix/registry.py does not exist"]
    assert _problems("README.md", "[a](docs/reference.md#no-such-part)") == [
        "README.md: docs/reference.md#no-such-part: no such heading in docs/reference.md"]
    assert _problems("README.md", "[a](docs/reference.md#deliberate-differences) `models/losses.py`") == []
    assert _problems("pix2pix/models/x.py", "# the tables in generators.py, removed_long_ago.py") == [
        "pix2pix/models/x.py: removed_long_ago.py does not exist"]
