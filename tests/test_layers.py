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
           "app.maintenance", "app.workflows")


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


# ---- Redis stays in the store -----------------------------------------------------------------
#: Only these speak Redis: the store (the console's own keys) and the broker adapters (a broker's
#: own keys: Celery's lists, kombu's unacked hash).
REDIS_SPEAKERS = ("app/store/", "app/monitor/brokers/")
#: Modules that still import redis, left to the refactors of their own packages (the names to
#: use instead are in app.store.clients). Delete an entry once its modules no longer import redis:
#: the tests below fail on an entry nothing needs any more, so the list only shrinks.
REDIS_IMPORT_ALLOWED: dict[str, str] = {}
#: Modules that still name keys (`app.store.keys`), left to the refactors of their own packages.
KEYS_IMPORT_ALLOWED: dict[str, str] = {}


def _source_files() -> list[Path]:
    tops = [p for top in ("app", "pages", "config") for p in sorted((ROOT / top).rglob("*.py"))]
    return tops + [ROOT / "streamlit_app.py"]


def _imports_redis(names: set[str]) -> bool:
    """`names` (as `_imports` returns them) include redis or one of its modules."""
    return any(name == "redis" or name.startswith("redis.") for name in names)


def _imports_keys(names: set[str]) -> bool:
    return "app.store.keys" in names


def _offenders(check, allowed: dict[str, str]) -> tuple[list[str], set[str]]:
    """(modules outside REDIS_SPEAKERS failing `check` and not allowed, allow-list entries used)."""
    offenders, used = [], set()
    for path in _source_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(REDIS_SPEAKERS) or not check(_imports(path)):
            continue
        entry = next((a for a in allowed if rel.startswith(a)), None)
        if entry is None:
            offenders.append(rel)
        else:
            used.add(entry)
    return offenders, used


def test_the_redis_import_checks_see_every_form(tmp_path):
    def names(src: str) -> set[str]:
        (tmp_path / "m.py").write_text(src)
        return _imports(tmp_path / "m.py")

    for src in ("import redis", "import redis.exceptions", "from redis import Redis",
                "from redis.exceptions import LockError", "def f():\n    import redis\n"):
        assert _imports_redis(names(src)), src
    assert not _imports_redis(names("from app.store.clients import STORE_DOWN\nimport redbeat"))
    for src in ("from app.store import keys", "from app.store.keys import task", "import app.store.keys"):
        assert _imports_keys(names(src)), src
    assert not _imports_keys(names("from app.store import history, workers"))


def test_only_the_store_and_broker_adapters_import_redis():
    offenders, used = _offenders(_imports_redis, REDIS_IMPORT_ALLOWED)
    assert offenders == [], "use app.store functions and app.store.clients names (StoreError, STORE_DOWN, Client)"
    assert used == set(REDIS_IMPORT_ALLOWED), f"stale allow-list entries: {set(REDIS_IMPORT_ALLOWED) - used}"


def test_key_names_stay_in_the_store():
    offenders, used = _offenders(_imports_keys, KEYS_IMPORT_ALLOWED)
    assert offenders == [], "call a named app.store module instead of naming keys"
    assert used == set(KEYS_IMPORT_ALLOWED), f"stale allow-list entries: {set(KEYS_IMPORT_ALLOWED) - used}"


def test_refreshing_fragments_check_the_session():
    """A fragment that refreshes by itself runs without the entry script's sign-in check, so every
    one goes through `app.ui.auth.fragment` (which checks the session on each of its runs). Only
    the Redis-down banner's own retry fragment, which shows nothing but reruns the app, and the
    decorator itself use ``st.fragment`` directly."""
    allowed = {"app/ui/auth.py", "app/ui/resources.py"}
    offenders = []
    for path in _source_files():
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "fragment" and \
                    isinstance(node.value, ast.Name) and node.value.id == "st" and rel not in allowed:
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


# --- the composition root -------------------------------------------------------------------------

def _module_imports(paths) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): _imports(p) for p in paths}


def test_settings_and_celery_configuration_are_data_that_import_nothing_from_app():
    for name in ("config/settings.py", "config/celery_settings.py"):
        imported = _imports(ROOT / name)
        assert not {m for m in imported if m == "app" or m.startswith("app.")}, (name, imported)
        assert "config.celery_config" not in imported, name


def test_nothing_in_app_or_pages_imports_the_workers_entry_point():
    paths = [*(ROOT / "app").rglob("*.py"), *(ROOT / "pages").rglob("*.py"), ROOT / "streamlit_app.py"]
    offenders = [name for name, mods in _module_imports(paths).items()
                 if any(m == "config.celery_config" or m.startswith("config.celery_config.") for m in mods)]
    assert offenders == []


#: Calls whose result is a mutable container (or per-thread state) when bound at module level.
_MUTABLE_CALLS = {"dict", "list", "set", "bytearray", "defaultdict", "OrderedDict", "deque", "Counter",
                  "local", "WeakValueDictionary", "WeakKeyDictionary", "WeakSet", "ChainMap"}
#: The one place allowed to hold process-wide state: the runtime (it owns everything else).
_STATE_HOLDERS = ("app/runtime/",)

def _is_mutable(value: ast.expr) -> bool:
    if isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        return name in _MUTABLE_CALLS
    return False


def module_state(paths) -> list[tuple[str, str, int]]:
    """(file, name, line) of every module-level binding of a mutable container: a list/dict/set
    display or comprehension, or a call of `_MUTABLE_CALLS` (dict(), defaultdict(...),
    threading.local(), ...). Dunder names (``__all__``) are declarations, left out."""
    found = []
    for path in paths:
        rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
        for node in ast.parse(path.read_text(), filename=str(path)).body:
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                continue
            for target in targets:
                if isinstance(target, ast.Name) and not target.id.startswith("__") and _is_mutable(value):
                    found.append((rel, target.id, node.lineno))
    return found


def _is_constant_name(name: str) -> bool:
    return name.lstrip("_").isupper()


def test_the_state_checker_finds_mutable_globals(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import threading\nfrom collections import defaultdict\n__all__ = ['x']\n"
                      "_cache = {}\nseen: set[str] = set()\nLOCAL = threading.local()\n"
                      "BY_NAME = defaultdict(list)\nNAMES = ('a', 'b')\nLIMIT = 3\n")
    assert [(n, line) for _, n, line in module_state([sample])] == [
        ("_cache", 4), ("seen", 5), ("LOCAL", 6), ("BY_NAME", 7)]


def test_no_module_level_mutable_state_outside_the_runtime():
    paths = [p for p in sorted((ROOT / "app").rglob("*.py"))
             if not p.relative_to(ROOT).as_posix().startswith(_STATE_HOLDERS)]
    state, tables = [], []
    for rel, name, line in module_state(paths):
        if not _is_constant_name(name):
            state.append(f"{rel}:{line} {name}")
        else:
            tables.append(f"{rel}:{line} {name} (make it a tuple, frozenset or MappingProxyType)")
    assert state == [], "module-level mutable state: move it into the runtime or an object"
    assert tables == []


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


def test_lua_lives_in_lua_files():
    """Server-side scripts sit in ``.lua`` files beside the module that runs them (read once, at
    import), not in Python strings: a reader finds every script by its extension."""
    offenders = [path.relative_to(ROOT).as_posix() for path in _source_files() if "redis.call(" in path.read_text()]
    assert offenders == []
    assert sorted(p.name for p in (ROOT / "app").rglob("*.lua"))  # the scripts are there
