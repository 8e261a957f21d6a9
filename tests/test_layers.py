"""The import graph between app's first-level packages and config's two modules has no cycle.

Every import counts, also those inside functions (read with `ast`, nothing is imported). Nodes are
``app.<first level>`` (a package or a module such as app.errors) and ``config.settings`` /
``config.celery_config``. The store sits at the bottom: it imports nothing else from app.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The domain packages: the work itself, no Streamlit, no Celery app.
DOMAINS = ("app.mail", "app.documents", "app.llm", "app.reports", "app.files", "app.schedules",
           "app.maintenance")


def _node(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "app" and len(parts) >= 2:
        return ".".join(parts[:2])
    if parts[0] == "config" and len(parts) >= 2:
        return ".".join(parts[:2])
    return None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)  # from app import errors
    return out


def import_graph() -> dict[str, set[str]]:
    """First-level node -> first-level nodes it imports (self-edges left out)."""
    graph: dict[str, set[str]] = {}
    for top in ("app", "config"):
        for path in sorted((ROOT / top).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            src = _node(module)
            if src is None:
                continue
            targets = {_node(m) for m in _imports(path)} - {None, src}
            graph.setdefault(src, set()).update(t for t in targets if (ROOT / Path(*t.split("."))).exists()
                                                or (ROOT / (Path(*t.split(".")).as_posix() + ".py")).exists())
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if not state.get(m) and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if not state.get(n) and (found := visit(n)):
            return found
    return None


def test_the_checker_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_between_first_level_packages():
    graph = import_graph()
    assert "app.store" in graph and "app.monitor" in graph and "config.celery_config" in graph
    assert _cycle(graph) is None


def test_store_and_settings_sit_at_the_bottom():
    graph = import_graph()
    assert graph.get("app.store", set()) <= {"config.settings"}, graph["app.store"]
    assert graph.get("config.settings", set()) == set()
    assert "app.monitor" not in graph["app.telemetry"]
    domains = set().union(*(graph.get(d, set()) for d in DOMAINS))
    assert "config.celery_config" not in domains | graph["app.telemetry"]


def test_domains_reach_redis_through_store_functions_not_key_names():
    offenders = []
    for path in (p for d in DOMAINS for p in (ROOT / Path(*d.split("."))).rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in ("app.store", "app.store.keys"):
                if node.module == "app.store.keys" or any(a.name == "keys" for a in node.names):
                    offenders.append(str(path.relative_to(ROOT)))
            if isinstance(node, ast.ImportFrom) and node.module == "app.monitor":
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


#: Longest page script: a page sets up state, guards, calls app/ui and renders (the logic lives there).
PAGE_MAX_LINES = 65


def test_pages_are_short_scripts_that_import_neither_redis_nor_the_celery_entry_point():
    too_long, offenders = {}, []
    for path in sorted((ROOT / "pages").glob("*.py")):
        lines = len(path.read_text().splitlines())
        if lines > PAGE_MAX_LINES:
            too_long[path.name] = lines
        offenders += [f"{path.name}: {m}" for m in _imports(path)
                      if m == "redis" or m.startswith("redis.") or m == "config.celery_config"
                      or m.startswith("config.celery_config.")]
    assert too_long == {}, f"pages over {PAGE_MAX_LINES} lines: {too_long}"
    assert offenders == []
