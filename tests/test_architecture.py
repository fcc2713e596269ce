"""The import rules of docs/architecture.md, read from the code itself: imports go down only.

Floors, lowest first: the ground (sitload's errors, vocabularies, shared records), the four stages
(sitload.analytics, sitload.sensor_ingest, sitload.firmware_sim, sitload.alerts: each uses the
ground and none of the others), then the use cases (sitload.services, the report, settings,
progress), then the command line, which parses, calls a use case and prints. No import circle
anywhere. Lazy imports inside functions count too.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"sitload": "sitload", "analytics": "sitload.analytics", "alerts": "sitload.alerts",
           "sensor_ingest": "sitload.sensor_ingest", "firmware_sim": "sitload.firmware_sim"}
GROUND = {"sitload", "sitload.errors", "sitload.vocab", "sitload.samples", "sitload.events",
          "sitload.timestamps", "sitload.private_files"}
STAGES = ("sitload.analytics", "sitload.sensor_ingest", "sitload.firmware_sim", "sitload.alerts")
COMMAND_LINE = {"sitload.cli", "sitload.arguments", "sitload.commands", "sitload.ble_commands",
                "sitload.flare_commands", "sitload.report_commands", "sitload.cohort_commands",
                "sitload.clinic_commands",
                "sitload.demo"}


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts))
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (a package's name stands for its __init__)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join(name.split(".")[:-node.level] + [node.module])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in known}
    return out - {name}


def floor(module: str) -> int:
    if module in GROUND:
        return 0
    if module.startswith(STAGES):
        return 1
    return 3 if module in COMMAND_LINE else 2


def stage(module: str) -> str | None:
    return next((s for s in STAGES if module == s or module.startswith(s + ".")), None)


GRAPH = {name: imports(path, name, set(modules())) for name, path in modules().items()}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_down_only(module):
    up = [m for m in GRAPH[module] if floor(m) > floor(module)]
    across = [m for m in GRAPH[module] if floor(m) == floor(module) == 1
              and stage(m) != stage(module)]
    assert not up, f"{module} imports a higher floor: {up}"
    assert not across, f"{module} imports another stage: {across}"


def test_no_import_circles():
    seen, stack, circles = set(), [], []

    def visit(node):
        if node in stack:
            circles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            visit(nxt)
        stack.pop()

    for node in sorted(GRAPH):
        visit(node)
    assert not circles, f"import circles: {circles}"


def test_the_rules_see_the_whole_house():
    assert {"sitload.vocab", "sitload.analytics.engine", "sitload.alerts.policy",
            "sitload.sensor_ingest.stream_decoder", "sitload.firmware_sim.device",
            "sitload.cli"} <= set(GRAPH)
    assert "sitload.vocab" in GRAPH["sitload.analytics.bouts"]
