"""Verilog generation of the preset designs into rtl_out/, with a parsed manifest.

``make rtl`` calls :func:`write_rtl`. Output is deterministic (no source locations, stable names,
sorted JSON) and all-or-nothing: the whole folder is staged beside its target and exchanged with
it in one step (:func:`mpgemm.hw.flow.fileio.replace_folder`), so a failed or killed run leaves
the previous folder as it was. The manifest's ports and module hierarchy are read back from the
generated text with pyverilog, so they describe what was generated rather than what we meant to
generate.
"""

import functools
import hashlib
import json
import re
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from mpgemm.hw.array.config import AccelConfig
from mpgemm.pe_designs.registry import build_component
from mpgemm.sim.golden.contract import PEConfig

from .fileio import OutputFolderError, check_output_folder, link_or_write, replace_folder
from .manifest import MANIFEST, check_module_name
from .manifest import load_manifest as _load_manifest

__all__ = [
    "generate_verilog", "default_designs", "parse_verilog", "ParsedVerilog", "write_rtl",
    "load_manifest", "module_units", "pe_module_name",
    "hierarchy_graph", "RTL_DIR", "MANIFEST",
]

RTL_DIR = Path(__file__).resolve().parents[2] / "rtl_out"


#: A design of rtl_out/: a PE or an accelerator.
Design = PEConfig | AccelConfig


def _component(config: Design):
    """The Amaranth component of a PE config or an accelerator config."""
    if isinstance(config, AccelConfig):
        from mpgemm.hw.array.accel import Accelerator

        return Accelerator(config)
    return build_component(config)


def default_designs() -> dict[str, Design]:
    """Every preset: the PEs, then the accelerators."""
    from mpgemm.hw.array.presets import ARRAY_PRESETS
    from mpgemm.pe_designs.presets import PRESETS

    return {**PRESETS, **ARRAY_PRESETS}


def check_design(config: object, parameter: str = "config") -> Design:
    """``config`` if it is a PE config or an accelerator config, else TypeError naming
    ``parameter``."""
    from mpgemm.pe_designs.common import PEConfigBase

    if not isinstance(config, (PEConfigBase, AccelConfig)):
        raise TypeError(f"{parameter} must be a PE config (e.g. a preset of "
                        "mpgemm.pe_designs.presets) or an AccelConfig, not "
                        f"{type(config).__name__}")
    return config


def generate_verilog(config: Design, name: str) -> str:
    """Verilog text of ``config``'s component with top module ``name``."""
    from amaranth.back import verilog

    check_design(config)
    check_module_name(name)
    # emit_src=False: `(* src = "path:line" *)` attributes would make the bytes depend on where
    # the package is installed, and pyverilog cannot parse them.
    if isinstance(config, AccelConfig):
        # The array instantiates one PE module, emitted once after it (hw.array.tile).
        from mpgemm.hw.array.accel import Accelerator
        from mpgemm.hw.array.shared import grid_component

        pe = pe_module_name(name)
        top = verilog.convert(Accelerator(config, pe_module=pe), name=name, emit_src=False,
                              strip_internal_attrs=True)
        return top + verilog.convert(grid_component(config.array), name=pe, emit_src=False,
                                     strip_internal_attrs=True)
    return verilog.convert(_component(config), name=name, emit_src=False,
                           strip_internal_attrs=True)


def pe_module_name(name: str) -> str:
    """The Verilog module name of the PE inside accelerator ``name``."""
    return f"{name}__pe"


@dataclass
class ParsedVerilog:
    """What pyverilog finds in a Verilog file."""

    modules: dict[str, list[dict]] = field(default_factory=dict)
    """module name -> ports as ``{"name", "direction", "width"}`` in header order."""
    hierarchy: nx.DiGraph = field(default_factory=nx.DiGraph)
    """Edge parent -> child with attribute ``instances``: how many times parent instantiates it."""


def _width(decl) -> int:
    w = getattr(decl, "width", None)
    if w is None:
        return 1
    return abs(int(w.msb.value) - int(w.lsb.value)) + 1


def _pyverilog():
    """Import pyverilog's AST module; its package __init__ leaves its VERSION file open.

    The leaked handle is collected here, with ResourceWarning ignored, so it cannot surface later
    as an unraisable-exception warning in whatever code happens to run the garbage collector.
    """
    import gc
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        from pyverilog.vparser import ast as vast

        gc.collect()
    return vast


@functools.cache
def _parser():
    """One pyverilog parser per process: building PLY's tables takes about a second, longer
    than parsing a design's structure. They are built in a temporary folder, so none land in
    the working directory."""
    _pyverilog()
    from pyverilog.vparser.parser import VerilogParser

    with tempfile.TemporaryDirectory(prefix="mpgemm-pyverilog-") as tmp:
        return VerilogParser(outputdir=tmp, debug=False)


#: Module items that declare no port and instantiate nothing, as Yosys' Verilog writer starts
#: them (two spaces in, continuation lines deeper, an ``always``/``initial`` block closed by
#: ``  end``).
_BEHAVIOUR = re.compile(r"  (always|initial|assign|wire|reg)\b")


def _structure(text: str) -> str:
    """``text`` without the module items :func:`parse_verilog` does not read: continuous
    assignments, processes and net declarations, nine tenths of a generated file and of the
    parser's time. Anything else, including Verilog not laid out as Yosys writes it, passes
    through whole."""
    kept: list[str] = []
    dropping = False
    for line in text.split("\n"):
        if line.startswith("    "):
            if not dropping:
                kept.append(line)
        elif _BEHAVIOUR.match(line):
            dropping = True
        elif not (dropping and line == "  end"):
            dropping = False
            kept.append(line)
    return "\n".join(kept)


def parse_verilog(text: str) -> ParsedVerilog:
    """Parse generated Verilog with pyverilog: every module's ports and the instance hierarchy."""
    vast, parser = _pyverilog(), _parser()

    # pyverilog's grammar has no `(* ... *)` attributes; they only carry synthesis hints
    # (full_case), so the parser reads the text without them.
    stripped = re.sub(r"\(\*.*?\*\)", "", _structure(text))
    result = ParsedVerilog()
    # Generated Verilog has no preprocessor directives, so the parser reads the text directly
    # (pyverilog's iverilog-based preprocessing writes into the working directory and leaks a
    # file handle).
    parser.lexer.reset_lineno()
    ast = parser.parse(stripped, debug=False)
    for mod in ast.description.definitions:
        if not isinstance(mod, vast.ModuleDef):
            continue
        name = mod.name.lstrip("\\")
        decls: dict[str, tuple[str, int]] = {}
        instances: Counter[str] = Counter()

        def walk(node, decls=decls, instances=instances):
            if isinstance(node, (vast.Input, vast.Output, vast.Inout)):
                decls[node.name] = (type(node).__name__.lower(), _width(node))
            if isinstance(node, vast.InstanceList):
                for _ in node.instances:
                    instances[node.module.lstrip("\\")] += 1
            for child in node.children():
                walk(child)

        walk(mod)
        ports = []
        for p in mod.portlist.ports:
            # Non-ANSI headers list Port nodes; ANSI headers list Ioport nodes (declaration first).
            pname = p.name if isinstance(p, vast.Port) else p.first.name
            direction, width = decls.get(pname, ("unknown", 0))
            ports.append({"name": pname, "direction": direction, "width": width})
        result.modules[name] = ports
        result.hierarchy.add_node(name)
        for child, count in instances.items():
            result.hierarchy.add_edge(name, child, instances=count)
    return result


def hierarchy_graph(entry: dict) -> nx.DiGraph:
    """The module hierarchy of one manifest entry as a networkx DiGraph."""
    g: nx.DiGraph[str] = nx.DiGraph()
    g.add_nodes_from(entry["modules"])
    for parent, child, count in entry["hierarchy"]:
        g.add_edge(parent, child, instances=count)
    return g


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def module_units(config: Design, name: str) -> dict[str, dict]:
    """Verilog module name -> what generated it, from the elaborated Amaranth hierarchy.

    Arithmetic units describe themselves (``describe()``: class and widths); PE components give
    their config. Amaranth names each submodule's Verilog module ``<top>.<path>``, so the keys
    are the manifest's module names.
    """
    from amaranth.hdl import Fragment

    units: dict[str, dict] = {}

    def walk(fragment, path: str) -> None:
        for origin in fragment.origins or ():
            if hasattr(origin, "describe"):
                units[path] = origin.describe()
                break
            if hasattr(origin, "config") and hasattr(origin.config, "to_dict"):
                units[path] = {"unit": type(origin).__name__, "config": origin.config.to_dict()}
                break
        for sub, sub_name, _ in fragment.subfragments:
            walk(sub, f"{path}.{sub_name}")

    if isinstance(config, AccelConfig):
        from mpgemm.hw.array.accel import Accelerator
        from mpgemm.hw.array.shared import grid_component

        pe = pe_module_name(name)
        walk(Fragment.get(Accelerator(config, pe_module=pe), None), name)
        walk(Fragment.get(grid_component(config.array), None), pe)
    else:
        walk(Fragment.get(_component(config), None), name)
    return units


def _timing(config: Design) -> dict:
    if isinstance(config, AccelConfig):
        arr = config.array
        return {"rows": arr.rows, "cols": arr.cols, "dataflow": arr.dataflow,
                "pe_latency_cycles": arr.pe_latency, "macs_per_beat": arr.lanes}
    return {
        "latency_cycles": config.timing().latency,
        "cycles_per_beat": config.timing().cycles,
        "macs_per_beat": config.macs_per_beat,
    }


def _simulator(name: str, config: Design) -> dict:
    """The simulator `make sim` uses for an accelerator (PEs: the one asked for)."""
    if not isinstance(config, AccelConfig):
        return {}
    from mpgemm.hw.array.presets import SIMULATOR

    return {"simulator": SIMULATOR.get(name, "verilator")}


def manifest_entry(name: str, config: Design, text: str) -> dict:
    """Design ``name``'s manifest entry, from its config and generated Verilog ``text``."""
    parsed = parse_verilog(text)
    if name not in parsed.modules:
        raise RuntimeError(f"generated Verilog for {name!r} has no top module {name!r}")
    return {
        "file": f"{name}.v",
        "top": name,
        "config": config.to_dict(),
        "timing": _timing(config),
        **_simulator(name, config),
        "ports": parsed.modules[name],
        "modules": sorted(parsed.modules),
        "units": module_units(config, name),
        "hierarchy": sorted(
            [u, v, d["instances"]] for u, v, d in parsed.hierarchy.edges(data=True)
        ),
        "sha256": _sha256(text),
    }


def _rtl_file(path: Path) -> bool:
    """Whether ``path`` is a file :func:`write_rtl` writes (so replacing its folder loses
    nothing a user wrote)."""
    return path.is_file() and (path.name == MANIFEST or path.suffix == ".v"
                               or (path.name.startswith(".") and path.suffix == ".tmp"))


def check_designs(designs: object) -> Mapping[str, Design]:
    """``designs`` if it maps at least one valid module name to a design config, else
    TypeError or ValueError naming the parameter and the entry."""
    if not isinstance(designs, Mapping):
        raise TypeError(f"designs must be a mapping of name -> config, not "
                        f"{type(designs).__name__}")
    if not designs:
        raise ValueError("designs is empty: give at least one design to generate")
    for name, config in designs.items():
        check_module_name(name, "design name")
        check_design(config, f"designs[{name!r}]")
    return designs


def write_rtl(out_dir: str | Path = RTL_DIR,
              designs: Mapping[str, Design] | None = None) -> dict:
    """Generate every design (default: all presets) into ``out_dir`` with ``manifest.json``.

    All or nothing: the folder is staged beside ``out_dir`` and replaces it in one step when
    every design has been generated, so a failure or a kill part way leaves the previous folder
    untouched; files whose bytes did not change keep their time stamps. ``out_dir`` then holds
    exactly these designs. An existing ``out_dir`` holding anything else than Verilog files and
    a manifest is refused (:class:`~mpgemm.hw.flow.fileio.OutputFolderError`), so nothing a
    user put there is lost. Returns the manifest.
    """
    import amaranth

    designs = check_designs(default_designs() if designs is None else designs)
    out_dir = check_output_folder(out_dir, "rtl folder", allowed=_rtl_file)
    entries = {}
    with replace_folder(out_dir) as staging:
        for name, config in designs.items():
            text = generate_verilog(config, name)
            entries[name] = manifest_entry(name, config, text)
            link_or_write(staging / f"{name}.v", text, out_dir / f"{name}.v")
        manifest = {
            "generator": {"amaranth": amaranth.__version__},
            "designs": entries,
        }
        link_or_write(staging / MANIFEST, manifest_text(manifest), out_dir / MANIFEST)
    return manifest


def manifest_text(manifest: dict) -> str:
    """``manifest.json`` as :func:`write_rtl` writes it: sorted keys, so that it only changes
    where a design did."""
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def load_manifest(rtl_dir: str | Path = RTL_DIR, *, check_files: bool = True) -> dict:
    """Read and check ``manifest.json`` (:func:`mpgemm.hw.flow.manifest.load_manifest`)."""
    return _load_manifest(rtl_dir, check_files=check_files)


def main(argv: list[str] | None = None) -> int:
    import time

    from .cliutil import OneLineParser, report_user_errors

    ap = OneLineParser(prog="mpgemm rtl", description="Generate the preset designs' Verilog.")
    ap.add_argument("--out", default=str(RTL_DIR), help="output folder (default: rtl_out/)")
    args = ap.parse_args(argv)

    def run() -> int:
        t0 = time.perf_counter()
        check_output_folder(args.out, "--out", allowed=_rtl_file)
        try:
            manifest = write_rtl(args.out)
        except OSError as e:    # e.g. the disk filled up: nothing was replaced
            raise OutputFolderError(f"--out {args.out!r}: {e.strerror or e}; the folder was "
                                    "left as it was") from None
        for name, entry in manifest["designs"].items():
            print(f"{name:24s} {entry['sha256'][:12]}  {len(entry['modules'])} modules")
        print(f"wrote {len(manifest['designs'])} designs to {args.out} "
              f"in {time.perf_counter() - t0:.1f} s")
        return 0

    return report_user_errors(ap.prog, run)


if __name__ == "__main__":
    raise SystemExit(main())
