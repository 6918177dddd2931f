"""The generated INT8 mesh against a hand-written one: equivalence and iCE40 resources.

The issue's bar: a generated INT8 16 x 16 output-stationary array uses no more iCE40 LUT4 +
flip-flops than a careful hand-written Verilog array of the same function. The hand-written
array is ``sim/reference_rtl/mesh_int8_os_16x16.v`` (parameters ``ROWS``, ``COLS``); the
generated one is the :class:`~mpgemm.hw.array.mesh.Mesh` of :func:`mesh_config` (the systolic
array with its input skew and output row select; no buffers, no controller).

* :func:`run_equivalence` simulates both on Icarus with one seeded random stimulus and compares
  every output in every cycle (:mod:`mpgemm.sim.cocotb.tb_mesh_equiv`).
* :func:`measure` synthesises both with the iCE40 flow of :mod:`mpgemm.hw.flow.synth`
  (``synth_ice40``, the same script and cell counting as ``make synth``) and reports SB_LUT4,
  flip-flops (``SB_DFF*``) and their sum. No place and route: designs with ports this wide do
  not place on the HX8K (docs: TOOLCHAIN.md).

Command line (prints a table, writes ``<out>/mesh_reference.json``; exit status 1 when the
generated mesh uses more LUT4 + FF than the reference)::

    python -m mpgemm.hw.flow.reference [--out reports/reference] [--rows 16] [--cols 16] [-j 2]

At 16 x 16 the two Yosys runs take about 7 and 6 minutes (Debian Yosys 0.23, one core each).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fileio import atomic_write_text

if TYPE_CHECKING:
    from mpgemm.hw.array.config import ArrayConfig

    from .synth import YosysTool

__all__ = [
    "REFERENCE_VERILOG",
    "REFERENCE_TOP",
    "GENERATED_TOP",
    "EQUIV_TOP",
    "mesh_config",
    "mesh_verilog",
    "equivalence_top",
    "run_equivalence",
    "measure",
    "main",
]

_PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: The hand-written array and its module (parameters ROWS, COLS; 16 x 16 by default).
REFERENCE_VERILOG = _PROJECT_ROOT / "sim" / "reference_rtl" / "mesh_int8_os_16x16.v"
REFERENCE_TOP = "mesh_int8_os_16x16"
#: Module name of the generated mesh here (any size).
GENERATED_TOP = "mesh_gen"
#: The equivalence bench's top level, holding both.
EQUIV_TOP = "mesh_equiv_top"

_MAX_DIM = 128


def _check_size(rows: Any, cols: Any) -> None:
    for name, v in (("rows", rows), ("cols", cols)):
        if isinstance(v, bool) or not isinstance(v, int) or not 2 <= v <= _MAX_DIM:
            raise ValueError(f"{name} must be an integer in 2-{_MAX_DIM}, not {v!r}")


def mesh_config(rows: int = 16, cols: int = 16) -> ArrayConfig:
    """The generated side of the comparison: ``rows x cols`` one-lane INT8 MACs (W8A8, 32-bit
    accumulators), output-stationary."""
    from mpgemm.hw.array.config import ArrayConfig
    from mpgemm.pe_designs.presets import PRESETS

    _check_size(rows, cols)
    return ArrayConfig(pe=replace(PRESETS["int_mac_w8a8"], lanes=1), rows=rows, cols=cols,
                       dataflow="os")


def mesh_verilog(rows: int = 16, cols: int = 16, name: str = GENERATED_TOP) -> str:
    """Verilog of the generated mesh of :func:`mesh_config`, top module ``name``.

    Emitted as :func:`~mpgemm.hw.flow.generate.generate_verilog` emits an accelerator: the
    mesh instantiates one PE module (``<name>__pe``), written once after it.
    """
    from amaranth.back import verilog

    from mpgemm.hw.array.mesh import Mesh
    from mpgemm.hw.array.shared import grid_component

    from .generate import pe_module_name

    config = mesh_config(rows, cols)
    pe = pe_module_name(name)
    # As hw.flow.generate does: no source paths, so the text is deterministic.
    return (verilog.convert(Mesh(config, pe_module=pe), name=name, emit_src=False,
                            strip_internal_attrs=True)
            # The PE an accelerator's mesh instantiates: output-stationary, so without a
            # weight register (its tiles tie load_w high).
            + verilog.convert(grid_component(config), name=pe, emit_src=False,
                              strip_internal_attrs=True))


def _index_bits(rows: int) -> int:
    # Amaranth's range(rows) for o_row_index.
    return (rows - 1).bit_length()


def equivalence_top(rows: int, cols: int) -> str:
    """The equivalence bench's top: :data:`GENERATED_TOP` and :data:`REFERENCE_TOP` on the
    same inputs, both sets of outputs, and

    * ``mismatch``: some output bit of the reference is X or Z, or differs from a 0 or 1 of
      the generated mesh;
    * ``gen_unknown``: some output bit of the generated mesh is X or Z. Icarus runs an
      ``always @*`` block first when one of its inputs changes, so the generated mesh's
      ``o_row_valid`` and ``o_row_index`` read X until the first result row: an X there
      leaves the reference free, which is still checked for being 0 or 1.
    """
    _check_size(rows, cols)
    iw = _index_bits(rows)
    outs = [("o_row_valid", ""), ("o_row_index", f"[{iw - 1}:0] "),
            ("o_row", f"[{32 * cols - 1}:0] ")]
    decls = "\n".join(f"    output wire {w}{side}_{p}," for side in ("gen", "ref")
                      for p, w in outs)
    conns = {side: ", ".join(f".{p}({side}_{p})" for p, _ in outs) for side in ("gen", "ref")}
    ins = ".clk(clk), .rst(rst), .i_ctl(i_ctl), .i_a(i_a), .i_w(i_w)"
    bits = 1 + iw + 32 * cols
    return f"""\
// Equivalence bench top: generated mesh (u_gen) and hand-written mesh (u_ref), {rows} x {cols}.
module {EQUIV_TOP} (
    input  wire clk,
    input  wire rst,
    input  wire [4:0] i_ctl,
    input  wire [{8 * rows - 1}:0] i_a,
    input  wire [{8 * cols - 1}:0] i_w,
{decls}
    output wire gen_o_row_nonzero,
    output wire gen_unknown,
    output wire mismatch
);
    {GENERATED_TOP} u_gen ({ins}, {conns["gen"]});
    {REFERENCE_TOP} #(.ROWS({rows}), .COLS({cols})) u_ref ({ins}, {conns["ref"]});
    wire [{bits - 1}:0] gen_all = {{gen_o_row_valid, gen_o_row_index, gen_o_row}};
    wire [{bits - 1}:0] ref_all = {{ref_o_row_valid, ref_o_row_index, ref_o_row}};
    wire [{bits - 1}:0] differs;
    genvar b;
    generate
        for (b = 0; b < {bits}; b = b + 1) begin : g_bit
            assign differs[b] = (ref_all[b] !== 1'b0 && ref_all[b] !== 1'b1)
                                || ((gen_all[b] === 1'b0 || gen_all[b] === 1'b1)
                                    && gen_all[b] !== ref_all[b]);
        end
    endgenerate
    assign mismatch = |differs;
    assign gen_unknown = ^gen_all === 1'bx;
    assign gen_o_row_nonzero = |gen_o_row;
endmodule
"""


def run_equivalence(rows: int, cols: int, *, cycles: int, seed: int,
                    build_dir: str | os.PathLike[str],
                    reference: str | os.PathLike[str] = REFERENCE_VERILOG) -> dict[str, Any]:
    """Simulate the generated mesh and ``reference`` side by side on Icarus for ``cycles``
    cycles of the stimulus of ``seed`` (:func:`mpgemm.sim.cocotb.tb_mesh_equiv.stimulus`).

    Returns the bench's summary (``cycles``, ``mismatches``, ``row_cycles``, ``nonzero_rows``,
    ``first_mismatches``) with ``passed`` (the cocotb test passed and its summary was written)
    and ``seconds``. ``build_dir`` receives the Verilog, the simulator build and the logs.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    from .tools import require_tool

    _check_size(rows, cols)
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
        raise ValueError(f"cycles must be a positive integer, not {cycles!r}")
    reference = Path(reference).resolve()
    if not reference.is_file():
        raise FileNotFoundError(f"reference Verilog not found: {str(reference)!r}")
    require_tool("iverilog", "install Icarus Verilog (apt-get install iverilog)")
    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    generated = build / f"{GENERATED_TOP}.v"
    generated.write_text(mesh_verilog(rows, cols))
    top = build / f"{EQUIV_TOP}.v"
    top.write_text(equivalence_top(rows, cols))

    start = time.monotonic()
    runner = get_runner("icarus")
    runner.build(sources=[generated, reference, top], hdl_toplevel=EQUIV_TOP, build_dir=build,
                 timescale=("1ns", "1ps"), always=True, log_file=build / "build.log")
    stats = build / "stats.json"
    stats.unlink(missing_ok=True)
    results_xml = build / "results.xml"
    try:
        runner.test(hdl_toplevel=EQUIV_TOP, test_module="mpgemm.sim.cocotb.tb_mesh_equiv",
                    build_dir=build, test_dir=build, results_xml=str(results_xml),
                    extra_env={"MPGEMM_EQUIV_ROWS": str(rows), "MPGEMM_EQUIV_COLS": str(cols),
                               "MPGEMM_EQUIV_CYCLES": str(cycles), "MPGEMM_SEED": str(seed),
                               "MPGEMM_STATS": str(stats)},
                    log_file=build / "sim.log")
    except SystemExit:
        # Under pytest cocotb's runner exits on a failing test; the results file decides.
        pass
    try:
        tests, failed = get_results(results_xml)
    except RuntimeError:
        tests, failed = 0, 0
    summary: dict[str, Any] = json.loads(stats.read_text()) if stats.exists() else {}
    summary["passed"] = bool(summary) and tests > 0 and failed == 0
    summary["seconds"] = round(time.monotonic() - start, 2)
    summary["log"] = str(build / "sim.log")
    return summary


# --------------------------------------------------------------------------------------------
# Resources


def _reference_source(work: Path, rows: int, cols: int) -> tuple[str, str]:
    """Copy the hand-written array into ``work``; other sizes than its default get a wrapper
    that sets the parameters (flattened away by synthesis). Returns (file name, top)."""
    text = REFERENCE_VERILOG.read_text()
    if (rows, cols) == (16, 16):
        top = REFERENCE_TOP
    else:
        top = f"{REFERENCE_TOP}_{rows}x{cols}"
        iw = _index_bits(rows)
        text += f"""
module {top} (
    input wire clk, input wire rst, input wire [4:0] i_ctl,
    input wire [{8 * rows - 1}:0] i_a, input wire [{8 * cols - 1}:0] i_w,
    output wire o_row_valid, output wire [{iw - 1}:0] o_row_index,
    output wire [{32 * cols - 1}:0] o_row
);
    {REFERENCE_TOP} #(.ROWS({rows}), .COLS({cols})) u (
        .clk(clk), .rst(rst), .i_ctl(i_ctl), .i_a(i_a), .i_w(i_w),
        .o_row_valid(o_row_valid), .o_row_index(o_row_index), .o_row(o_row));
endmodule
"""
    (work / "handwritten.v").write_text(text)
    return "handwritten.v", top


def _synth_one(yosys: YosysTool, work: Path, src: str, top: str) -> dict[str, Any]:
    from . import synth

    try:
        ice40 = synth._ice40(yosys, work, src, top, pnr=False, nextpnr_timeout_s=1.0)
    finally:
        shutil.rmtree(work / "tmp", ignore_errors=True)
    return {
        "top": top,
        "lut4": ice40["lut4"],
        "ff": ice40["ff"],
        "lut4_plus_ff": ice40["lut4"] + ice40["ff"],
        "carry": ice40["carry"],
        "cells_by_type": ice40["cells_by_type"],
        "seconds": ice40["seconds"],
        "log": str(work / "ice40.log"),
    }


def measure(out_dir: str | os.PathLike[str], rows: int = 16, cols: int = 16, *,
            jobs: int = 2, yosys: YosysTool | None = None) -> dict[str, Any]:
    """Synthesise the generated and the hand-written ``rows x cols`` mesh for iCE40.

    Each design gets a folder ``<out_dir>/generated`` and ``<out_dir>/handwritten`` with its
    Verilog, Yosys script and log (``cd`` there and ``yosys -s ice40.ys`` reruns it); the
    report is also written to ``<out_dir>/mesh_reference.json``. ``jobs``: designs synthesised
    at once (1 or 2). Raises :class:`~mpgemm.hw.flow.synth.SynthError` when Yosys is missing
    or fails.
    """
    from . import synth

    _check_size(rows, cols)
    if jobs not in (1, 2):
        raise ValueError(f"jobs must be 1 or 2, not {jobs!r}")
    yosys = synth.find_yosys() if yosys is None else yosys
    out = Path(out_dir).resolve()
    sources: dict[str, tuple[Path, str, str]] = {}
    for name in ("generated", "handwritten"):
        work = out / name
        work.mkdir(parents=True, exist_ok=True)
        if name == "generated":
            (work / "generated.v").write_text(mesh_verilog(rows, cols))
            sources[name] = (work, "generated.v", GENERATED_TOP)
        else:
            sources[name] = (work, *_reference_source(work, rows, cols))

    start = time.monotonic()
    # The generated design is the slower one: start it first.
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {name: pool.submit(_synth_one, yosys, *sources[name]) for name in sources}
        designs = {name: fut.result() for name, fut in futures.items()}
    gen, ref = designs["generated"], designs["handwritten"]
    report = {
        "rows": rows,
        "cols": cols,
        "pe": mesh_config(rows, cols).pe.to_dict(),
        "flow": "yosys synth_ice40 (hw.flow.synth's iCE40 script), no place and route",
        "yosys": yosys.version,
        "yosys_backend": yosys.backend,
        "designs": designs,
        "difference": {k: gen[k] - ref[k] for k in ("lut4", "ff", "lut4_plus_ff", "carry")},
        "generated_within_reference": gen["lut4_plus_ff"] <= ref["lut4_plus_ff"],
        "wall_seconds": round(time.monotonic() - start, 2),
    }
    atomic_write_text(out / "mesh_reference.json", json.dumps(report, indent=2) + "\n")
    return report


def _table(report: dict[str, Any]) -> str:
    d = report["designs"]
    rows = [("design", "SB_LUT4", "SB_DFF*", "LUT4+FF", "SB_CARRY", "Yosys s")]
    for name in ("generated", "handwritten"):
        x = d[name]
        rows.append((name, f"{x['lut4']:,}", f"{x['ff']:,}", f"{x['lut4_plus_ff']:,}",
                     f"{x['carry']:,}", f"{x['seconds']:.0f}"))
    diff = report["difference"]
    rows.append(("difference", f"{diff['lut4']:+,}", f"{diff['ff']:+,}",
                 f"{diff['lut4_plus_ff']:+,}", f"{diff['carry']:+,}", ""))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if k == 0 else c.rjust(w)
                       for k, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    verdict = ("within" if report["generated_within_reference"] else "ABOVE")
    title = (f"INT8 {report['rows']}x{report['cols']} output-stationary mesh, iCE40 "
             f"({report['yosys']}, {report['yosys_backend']})")
    return "\n".join([title, *lines,
                      f"generated LUT4+FF is {verdict} the hand-written reference's"])


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mpgemm.hw.flow.reference",
        description="Synthesise the generated INT8 output-stationary mesh and the hand-written "
        "reference (sim/reference_rtl/) for iCE40 and compare LUT4 and flip-flop counts.")
    p.add_argument("--out", type=Path, default=_PROJECT_ROOT / "reports" / "reference",
                   help="output folder (default: the project's reports/reference/)")
    p.add_argument("--rows", type=int, default=16, help="array rows (default 16)")
    p.add_argument("--cols", type=int, default=16, help="array columns (default 16)")
    p.add_argument("-j", "--jobs", type=int, choices=(1, 2), default=2,
                   help="designs synthesised at once (default 2)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; 0 when the generated mesh is within the reference, 1 when
    it uses more LUT4 + FF or a tool failed, 2 for bad arguments."""
    from .synth import SynthError

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        _check_size(args.rows, args.cols)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        report = measure(args.out, args.rows, args.cols, jobs=args.jobs)
    except SynthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(_table(report))
    print(f"report: {Path(args.out).resolve() / 'mesh_reference.json'} "
          f"({report['wall_seconds']:.0f} s)")
    return 0 if report["generated_within_reference"] else 1


if __name__ == "__main__":
    sys.exit(main())
