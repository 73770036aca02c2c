"""Checks on the repository's tracked files themselves (skipped outside a git checkout)."""

import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".gif", ".pdf", ".svg", ".ico",
    ".pth", ".pt", ".ckpt", ".npy", ".npz", ".pkl", ".pickle",
    ".xz", ".gz", ".zip", ".bz2", ".tar", ".whl", ".so", ".pyc",
)
# The start of an absolute path to a home, work or temporary folder. The folder names are joined
# here, so this file holds none of the paths it looks for; a path must start a token (after a
# space, quote, bracket, '=' or ':'), so URLs (https://host/tmp/...) and relative paths
# (bench/.work/..., ../tmp/...) do not count.
_FOLDERS = ("work", "tmp", "home", "root", "Users", "private" + "/var")
ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~/\\-])/(?:" + "|".join(_FOLDERS) + r")/"
    + r"|(?<![\w\\])[A-Za-z]:\\{1,2}" + "Users" + r"\\"
)


def tracked_files():
    """Tracked files, relative to the repository root; skips outside a git checkout."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=ROOT,
                             capture_output=True, text=True, check=False)
    except OSError:
        pytest.skip("git is not installed")
    if top.returncode != 0 or os.path.realpath(top.stdout.strip()) != os.path.realpath(ROOT):
        pytest.skip("not in a git checkout of this repository")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [name for name in listed.stdout.decode("utf-8").split("\0") if name]


def text_of(path):
    """The file's text, or None for a binary (by suffix or NUL byte) or a file not on disk."""
    if path.lower().endswith(BINARY_SUFFIXES):
        return None
    try:
        with open(os.path.join(ROOT, path), "rb") as f:
            data = f.read()
    except (FileNotFoundError, IsADirectoryError):
        return None  # deleted or replaced in the working tree, not yet committed
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def absolute_paths(text):
    """``(line number, line)`` of every line of ``text`` with an absolute path of a machine."""
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)
            if ABSOLUTE_PATH.search(line)]


@pytest.mark.parametrize("text, found", [
    ("see " + "/" + "tmp/run/log.txt", True),
    ("`--cache-dir=" + "/" + "work/main/bench`", True),
    ('"data_path": "' + "/" + 'home/me/data"', True),
    ("(" + "/" + "Users/me/x)", True),
    ("path: " + "/" + "private/var/folders/x", True),
    ("C:" + "\\" + "Users" + "\\" + "me", True),
    ("C:" + "\\\\" + "Users" + "\\\\" + "me", True),
    ("https://example.org/" + "tmp/file and https://host" + "/" + "home/x", False),
    ("bench/.work/ml23 and ../" + "tmp/x and results/" + "work/x", False),
    ("/config/data_path and WORK/sel/bx10.md", False),
])
def test_the_pattern(text, found):
    assert bool(ABSOLUTE_PATH.search(text)) is found


def test_tracked_files_hold_no_absolute_paths():
    """A tracked file must not name a folder of the machine that wrote it: tables and rows give
    paths relative to the repository or to their own folder."""
    offenders = []
    for path in tracked_files():
        text = text_of(path)
        for number, line in absolute_paths(text) if text else []:
            offenders.append(f"{path}:{number}: {line[:160]}")
    assert not offenders, (f"{len(offenders)} absolute path(s) in tracked files:\n"
                           + "\n".join(offenders[:50]))


# How the project was built is no part of it: a reader cannot act on the working periods or the
# particular machines it was built on. (Words split so this file holds none of them.)
PROVENANCE = re.compile(r"\b(?:" + "|".join(("ses" + "sions?", "(?:micro)?V" + "M", "gu" + "est",
                                              "le" + "nt machines?", "not " + "le" + "nt")) + r")\b",
                        re.IGNORECASE)


@pytest.mark.parametrize("text, found", [
    ("in the twenty-first " + "ses" + "sion", True),
    ("on this " + "V" + "M's slow spells", True),
    ("as the " + "gu" + "est saw it", True),
    ("ran in a Firecracker micro" + "V" + "M", True),
    ("no GPU was " + "lent", False),  # 'lent' alone is too common a word to flag
    ("a 2-core x86 CPU, torch 2.13 CPU", False),
])
def test_the_provenance_pattern(text, found):
    assert bool(PROVENANCE.search(text)) is found


def test_tracked_text_speaks_of_the_project_alone():
    offenders = []
    for path in tracked_files():
        text = text_of(path)
        for number, line in enumerate(text.splitlines() if text else [], 1):
            if PROVENANCE.search(line):
                offenders.append(f"{path}:{number}: {line.strip()[:160]}")
    assert not offenders, (f"{len(offenders)} line(s) about how the project was built:\n"
                           + "\n".join(offenders[:50]))


def _module_imports(package):
    """``{module: modules of ``package`` it imports}``, function-level imports included."""
    import ast

    modules = {}
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path[:-3], ROOT).replace(os.sep, ".")
                modules[dotted.removesuffix(".__init__")] = path
    graph = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                          else node.module for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[module] = {m for m in found if m in modules and m != module}
    return graph


def _cycle(graph):
    """One import cycle of ``graph`` as a list of modules, or None."""
    state = {}

    def visit(module, path):
        state[module] = "open"
        for dependency in sorted(graph[module]):
            if state.get(dependency) == "open":
                return path[path.index(dependency):] + [dependency]
            if dependency not in state:
                cycle = visit(dependency, path + [dependency])
                if cycle:
                    return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [module])
            if cycle:
                return cycle
    return None


@pytest.mark.parametrize("package", ["recbole_gcnprune", "bench"])
def test_no_import_cycles(package):
    assert _cycle(_module_imports(package)) is None


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
