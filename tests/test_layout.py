"""The layout rules of docs/architecture.md, checked on the source:

- layers: `portal.lib` imports no app; `portal.accounts` (people) imports nothing from `orgs` (Salesforce side); the
  project wiring (`portal.settings`, `portal.urls`, `portal.views`, …) sits on top; no import cycle anywhere in
  `portal` and `orgs`, counting imports inside functions too;
- the Salesforce client package (`orgs.salesforce`) imports no Django and nothing else of the portal;
- permission decisions live only in the two funnels: no view, API view, task, selector or template compares roles
  or levels itself;
- the tables the access-version triggers watch are the tables `orgs.access` declares as its inputs.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("portal", "orgs")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that `name` (a module or module.attribute) is, or is inside."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(known: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """{module: modules of portal/orgs it imports}, module-level and function-level imports alike."""
    known = known or _modules()
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        edges = set()
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module if is_package else module.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
            for target in targets:
                resolved = _resolve(target, known)
                if resolved and resolved != module and not module.startswith(resolved + "."):
                    edges.add(resolved)
        graph[module] = edges
    return graph


WIRING = {"portal", "portal.settings", "portal.urls", "portal.views", "portal.celery", "portal.wsgi",
          "portal.devserver", "portal.health", "portal.gunicorn_conf", "portal.clidist"}


def layer(module: str) -> int:
    if module in WIRING:
        return 3
    if module == "orgs" or module.startswith("orgs."):
        return 2
    if module.startswith("portal.accounts"):
        return 1
    if module.startswith("portal.lib"):
        return 0
    raise AssertionError(f"{module} belongs to no layer: add it to tests/test_layout.py and docs/architecture.md")


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} → {b}" for a, targets in graph.items() for b in targets if layer(b) > layer(a))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def test_layers_point_down_only():
    assert layer_violations(import_graph()) == []


def test_there_is_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_checks_see_a_new_cycle_and_an_upward_import():
    graph = import_graph()
    graph["portal.accounts.models"] = graph["portal.accounts.models"] | {"orgs.access"}
    assert "portal.accounts.models → orgs.access" in layer_violations(graph)
    assert any({"portal.accounts.models", "orgs.access"} <= set(c) for c in cycles(graph))


def test_the_salesforce_client_imports_no_django():
    code = ("import sys, orgs.salesforce, orgs.salesforce.client, orgs.salesforce.hosts, orgs.salesforce.egress, "
            "orgs.salesforce.errors; bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('django', 'celery', 'portal') or m in ('orgs.models', 'orgs.services')); print(bad); "
            "sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# -- permission decisions only in the funnels ----------------------------------------------------------------------

FUNNELS = {"orgs/access.py", "portal/accounts/access.py"}
# Where a permission decision must never be made: views, API views, tasks, selectors, context processors, templates.
DECIDERS = ["orgs/views/*.py", "orgs/api/*.py", "orgs/tasks.py", "orgs/selectors.py", "portal/views.py",
            "portal/accounts/views/*.py", "portal/accounts/tasks.py", "portal/accounts/context_processors.py",
            "templates/**/*.html"]
DECISION = re.compile(
    r"\.role\s*(?:==|!=|\bin\b)|\bis_admin\b|\bis_owner\b|\.rank\b|RANK\["          # roles compared by hand
    r"|\blevel\s*(?:<=|>=|==|!=|<|>)|(?:<=|>=|==|!=|<|>)\s*[\w.]*\.?level\b"         # levels compared by hand
    r"|Level\.(?:VIEW|TARGET|MANAGE)\s*(?:<=|>=|==|!=|<|>)")


def decisions_in(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if DECISION.search(line) and "access-level-ok" not in line]


def test_no_view_task_or_template_decides_a_permission_itself():
    found = []
    for pattern in DECIDERS:
        for path in sorted(ROOT.glob(pattern)):
            relative = str(path.relative_to(ROOT))
            assert relative not in FUNNELS
            found += [f"{relative}: {line}" for line in decisions_in(path.read_text())]
    assert found == []


@pytest.mark.parametrize("snippet", [
    '{% if membership.role == "owner" %}', "{% if acc.level >= 2 %}", "if membership.is_admin:",
    "if hub_access.level < access.Level.MANAGE:", "ok = Level.TARGET <= found.level", "if actor.rank > 1:",
])
def test_the_decision_check_catches(snippet):
    assert decisions_in(snippet)


# -- the access-version triggers watch what the funnel reads -------------------------------------------------------

def test_the_triggers_watch_exactly_the_access_inputs():
    from orgs.access import ACCESS_INPUTS

    watched = {}
    for name in ("0004_access_version_triggers", "0012_hi_access_request_triggers"):
        migration = importlib.import_module(f"orgs.migrations.{name}")
        for table, _team, update_when in migration.TEAM_TABLES:
            columns = None
            if update_when:
                columns = tuple(sorted(set(re.findall(r"OLD\.(\w+) IS DISTINCT FROM NEW\.\1", update_when))))
            if columns and watched.get(table):
                columns = tuple(sorted(set(columns) | set(watched[table])))
            watched[table] = columns
    declared = {table: (tuple(sorted(columns)) if columns else None) for table, columns in ACCESS_INPUTS.items()}
    assert watched == declared


# -- docs/architecture.md is the map of the tree ------------------------------------------------------------------

def test_the_architecture_map_names_every_module_and_only_real_ones():
    text = (ROOT / "docs" / "architecture.md").read_text()
    missing = []
    for _module, path in sorted(_modules().items()):
        relative = str(path.relative_to(ROOT))
        folder = str(path.parent.relative_to(ROOT)) + "/"
        if path.name == "__init__.py" or relative in text or (path.parent.name == "commands" and folder in text):
            continue
        missing.append(relative)
    assert missing == [], "add these to docs/architecture.md"
    named = set(re.findall(r"^((?:portal|orgs)/[\w/]+\.py)", text, flags=re.M))
    assert sorted(p for p in named if not (ROOT / p).exists()) == [], "docs/architecture.md names modules that are gone"
