"""The layers of the toolkit, and that imports only look down (README: "Layers").

The project's own modules are read with ``ast`` (every ``import`` statement, at module level or
inside a function), so the test sees what the code can import without importing it.
"""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("hw", "pe_designs", "costmodel", "sim")

#: Layer -> the layers its modules may import (their own included).
ALLOWED = {
    "spec": {"spec"},
    "configs": {"spec", "configs"},
    "hardware": {"spec", "configs", "hardware"},
    "costmodel": {"spec", "configs", "costmodel"},
    "verification": {"spec", "configs", "verification"},
    "flows": {"spec", "configs", "hardware", "costmodel", "verification", "flows"},
}
#: Layers whose modules never import Amaranth, directly or through anything they import.
AMARANTH_FREE = ("spec", "configs", "costmodel", "verification")
#: Verification modules that drive Amaranth's own simulator (the only ones that may import it).
AMARANTH_SIM = {"mpgemm.sim.amaranth_sim"}


def layer_of(module: str) -> str:
    """The layer of a project module (see the README)."""
    parts = module.split(".")
    if module.startswith("mpgemm.sim.golden"):
        return "spec"
    if parts[1] == "pe_designs":
        return "hardware" if parts[-1] == "rtl" else "configs"
    if parts[1] == "hw" and parts[-1] in ("config", "presets"):
        return "configs"  # the arrays' configs and presets: pure Python beside the generators
    if module.startswith(("mpgemm.hw.flow", "mpgemm.sim.cocotb")) or module in (
            "mpgemm.sim.runner", "mpgemm.sim.bench", "mpgemm.sim.mutate"):
        return "flows"
    if parts[1] == "hw":
        return "hardware"
    if parts[1] == "costmodel":
        return "costmodel"
    assert parts[1] == "sim", module
    return "verification"


def _modules() -> dict[str, Path]:
    out = {}
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out["mpgemm." + ".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(module: str, path: Path) -> list[tuple[str, bool]]:
    """``(imported name, at module level)`` for every import in ``path``; relative imports are
    resolved, ``from package import submodule`` names the submodule."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    top_level = {id(n) for n in tree.body}
    # Statements inside `if TYPE_CHECKING:` at module level count as module level too.
    for n in tree.body:
        if isinstance(n, ast.If):
            top_level.update(id(c) for c in n.body)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.append((sub if sub in MODULES else target, id(node) in top_level))
    return found


def _graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for module, path in MODULES.items():
        g.add_node(module)
        for name, top in _imports(module, path):
            g.add_edge(module, name, top=top)
    return g


GRAPH = _graph()


def _ours(name: str) -> bool:
    return name in MODULES


def test_every_module_has_a_layer():
    assert {layer_of(m) for m in MODULES} == set(ALLOWED)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_only_look_down(layer):
    bad = [f"{m} ({layer}) imports {t} ({layer_of(t)})"
           for m, t in GRAPH.edges if _ours(m) and _ours(t) and layer_of(m) == layer
           and layer_of(t) not in ALLOWED[layer]]
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    ours = GRAPH.subgraph(MODULES)
    cycles = [c for c in nx.strongly_connected_components(ours) if len(c) > 1]
    assert not cycles, cycles


def test_library_layers_import_their_own_modules_at_module_level():
    # A function-level import of a project module hides a dependency (and was how cycles were
    # dodged); only the flows import lazily, to keep the command line quick to start.
    bad = [f"{m} imports {t} inside a function" for m, t, d in GRAPH.edges(data=True)
           if _ours(m) and _ours(t) and not d["top"] and layer_of(m) != "flows"]
    assert not bad, "\n".join(bad)


def _reaches_amaranth(module: str) -> list[str]:
    """A chain of imports from ``module`` to amaranth, if there is one (parent packages of every
    imported module are imported too)."""
    def deps(m: str) -> list[str]:
        out = [t for _, t in GRAPH.out_edges(m)]
        parents = [".".join(m.split(".")[:i]) for i in range(2, m.count(".") + 1)]
        return out + [p for p in parents if p in MODULES]

    seen, stack = {module: [module]}, [module]
    while stack:
        m = stack.pop()
        for t in deps(m) if m in MODULES else []:
            if t.split(".")[0] == "amaranth":
                return [*seen[m], t]
            if t not in seen:
                seen[t] = [*seen[m], t]
                stack.append(t)
    return []


@pytest.mark.parametrize("module", sorted(
    m for m in MODULES if layer_of(m) in AMARANTH_FREE and m not in AMARANTH_SIM)
    + ["mpgemm.sim.cocotb.tb_pe"])
def test_module_never_imports_amaranth(module):
    chain = _reaches_amaranth(module)
    assert not chain, " -> ".join(chain)


def test_a_cocotb_process_never_imports_amaranth():
    # What the testbench does with a design's manifest entry, short of the simulator itself.
    script = textwrap.dedent("""
        import json, sys
        import numpy as np
        from mpgemm.pe_designs.presets import PRESETS
        from mpgemm.pe_designs.registry import config_from_dict
        from mpgemm.sim.golden.contract import run_contract
        from mpgemm.sim.scoreboard import driven_inputs
        from mpgemm.sim.stimulus import corner_beats, random_beats

        for entry in PRESETS.values():
            config = config_from_dict(json.loads(json.dumps(entry.to_dict())))
            beats = random_beats(config, np.random.default_rng(1), 4)
            run_contract(config, beats)
            driven_inputs(config, beats, len(beats))
        corner_beats(PRESETS["int_mac_w8a8"])
        assert "amaranth" not in sys.modules, sorted(m for m in sys.modules if "amaranth" in m)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=False, cwd=ROOT.parent)
    assert out.stdout.strip() == "ok", out.stderr
