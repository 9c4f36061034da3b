"""The package top: a lazy API without import cycles or name workarounds."""

import subprocess
import sys

import latentedit


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_import_latentedit_loads_only_the_version():
    out = _python("import sys, latentedit; print(latentedit.__version__, "
                  "sorted(m for m in sys.modules if m.startswith('latentedit')))")
    assert out.strip() == "0.1.0 ['latentedit', 'latentedit._version']"


def test_every_public_name_resolves_and_stays_a_function():
    for name in latentedit.__all__:
        assert getattr(latentedit, name) is not None, name
    assert set(dir(latentedit)) == set(latentedit.__all__)
    # importing the modules that define them (and the reporting package) shadows nothing
    from latentedit.pipeline import report as report_module, sample as sample_module
    from latentedit.reporting import html  # noqa: F401

    for name in ("sample", "report", "edit"):
        assert callable(getattr(latentedit, name)) and not isinstance(getattr(latentedit, name), type(sys)), name
    assert latentedit.sample is sample_module.sample
    assert latentedit.report is report_module.report


def test_unknown_name_is_an_attribute_error():
    try:
        latentedit.nonexistent
    except AttributeError as e:
        assert str(e) == "module 'latentedit' has no attribute 'nonexistent'"
    else:
        raise AssertionError("no AttributeError")


REPO = __import__("pathlib").Path(__file__).parents[1]


def test_import_layering_contracts_are_kept():
    """The contracts of pyproject.toml [tool.importlinter] (what scripts/bootstrap.sh test runs first)."""
    lint = __import__("pathlib").Path(sys.executable).parent / "lint-imports"
    r = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    n = len(__import__("tomllib").loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"])
    assert n >= 3 and f"Contracts: {n} kept, 0 broken." in r.stdout


def _cycles(edges: dict) -> list:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in sorted(edges):
        if m not in index:
            visit(m)
    return sorted(out)


def test_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_runtime_modules():
    """Counting imports inside functions too (grimp reads them all)."""
    import grimp

    sys.path.insert(0, str(REPO))  # `cli` is checked as a top-level package, as lint-imports does
    try:
        graph = grimp.build_graph("latentedit", "cli", cache_dir=None)
    finally:
        sys.path.remove(str(REPO))
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(edges) == []
