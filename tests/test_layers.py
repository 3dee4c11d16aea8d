"""The package's layers, read from every import statement (those inside functions too).

- ``core`` (arrays in, arrays out) imports nothing of the package but ``core`` and ``errors``;
- ``io`` (bytes and files at the edges) imports ``core``, ``io`` and ``errors``;
- the use cases and ``training`` never import ``cli`` or ``server``;
- nothing imports ``cli`` but ``cli`` itself and ``__main__``; ``server`` only from ``server`` and ``cli``;
- no two modules import each other, directly or round a longer cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import ROOT

PACKAGE = ROOT / "src" / "voxgender"
BASE = {"voxgender.errors", "voxgender.runtime"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The package modules a file imports (``from voxgender.x import y`` names x.y when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("voxgender"):
            assert node.level == 0, f"{path}: relative import (the package imports absolutely)"
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("voxgender"))
    return found & MODULES.keys() - {module_name(path)}


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in {"core", "io", "cli", "server", "training", "batch"} else "usecase"


def wrong_way(name: str, target: str) -> bool:
    source, goal = layer(name), layer(target)
    if target in BASE or target == "voxgender" or name == "voxgender.__main__":
        return False
    allowed = {
        "core": {"core"},
        "io": {"core", "io"},
        "usecase": {"core", "io", "usecase", "training", "batch"},
        "training": {"core", "io", "usecase", "training"},
        "batch": {"core", "io", "usecase", "batch"},
        "server": {"core", "io", "usecase", "server"},
        "cli": {"core", "io", "usecase", "training", "batch", "server", "cli"},
    }[source]
    return goal not in allowed


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_those_below(name):
    wrong = sorted(t for t in GRAPH[name] if wrong_way(name, t))
    assert not wrong, f"{name} ({layer(name)}) imports {wrong}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module -> modules it imports), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target, path + [target])):
                return cycle
        state[node] = 2
        return None

    return next((c for name in sorted(graph) if name not in state and (c := visit(name, [name]))), None)


def test_the_layers_have_no_import_cycles():
    graph = {name: targets - {"voxgender"} for name, targets in GRAPH.items() if name != "voxgender"}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_rule_catches_a_wrong_way_arrow():
    assert wrong_way("voxgender.core.features", "voxgender.io.audio")
    assert wrong_way("voxgender.model", "voxgender.cli.main")
    assert wrong_way("voxgender.training.trainer", "voxgender.server.app")
    assert not wrong_way("voxgender.io.audio", "voxgender.core.labels")
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


TRAINING_PACKAGES = {"torch", "safetensors", "sklearn", "optuna", "silero_vad", "onnx"}


def third_party_imports(path: Path) -> set[str]:
    """The top-level names of the outside packages a file imports (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) != "training"))
def test_only_training_imports_torch_and_the_other_training_packages(name):
    """Inference runs on onnxruntime: torch and its neighbours belong to ``voxgender.training`` (the
    calibration fit alone borrows scikit-learn's logistic regression, inside its function)."""
    allowed = {"sklearn"} if name == "voxgender.core.calibration" else set()
    assert third_party_imports(MODULES[name]) & TRAINING_PACKAGES <= allowed


def test_the_tests_mirror_the_packages():
    """Each folder of tests/ is named after a package of voxgender; the use cases' modules at the
    package's top are tested at the top of tests/."""
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    folders = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and any(p.glob("test_*.py"))}
    assert folders and folders <= packages, sorted(folders - packages)
