"""The ``mpgemm`` command line: presets, Verilog, simulation, synthesis and cost queries.

Examples
--------
::

    mpgemm presets
    mpgemm cost --preset int_mac_w8a8 --M 16 --N 4096 --K 4096
    mpgemm cost --config my_pe.json --M 1 --N 11008 --K 4096 --act-format fp16 \\
        --weight-format uint4 --group-size 128
    mpgemm cost --preset dequant_mac_w4a16 --llm 4096,11008,32 --tokens 512 --phase prefill
    mpgemm rtl
    mpgemm sim --sim verilator --seed 1
    mpgemm synth --designs int_mac_w8a8
    mpgemm lint
    mpgemm compare-arrays --M 16 --N 16 --K 128 --mode area \\
        --presets array_int_mac_os_16x16,array_fp16_mac_os_8x8,array_dequant_mac_ws_8x8
"""

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mpgemm.pe_designs.common import PEConfigBase

__all__ = ["main"]


class CliError(ValueError):
    """A bad argument or input file; printed as ``error: ...`` with exit status 2."""


def _load_config(args: argparse.Namespace) -> "PEConfigBase":
    from mpgemm.pe_designs.presets import get_preset

    if (args.preset is None) == (args.config is None):
        raise CliError("give exactly one of --preset NAME or --config FILE.json")
    if args.preset is not None:
        return get_preset(args.preset)
    return load_config_file(args.config, "--config")


def load_config_file(path: str | Path, option: str = "config file") -> "PEConfigBase":
    """The PE config in JSON file ``path``; every problem is a ValueError or TypeError naming
    ``option`` and the file (:func:`mpgemm.hw.flow.fileio.read_json_file`'s checks, then the
    config's own)."""
    from mpgemm.pe_designs.registry import config_from_dict

    from .fileio import InputFileError, read_json_file

    what = f"{option} {str(path)!r}"
    data = read_json_file(path, what)
    try:
        return config_from_dict(data)
    except (ValueError, TypeError) as e:
        raise InputFileError(f"{what}: {e}") from None


def _positive(name: str):
    def parse(text: str) -> int:
        from mpgemm.costmodel.workload import check_size

        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a positive integer, not {text[:40]!r}") from None
        try:
            return check_size(name, value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


def _cmd_presets(args) -> int:
    from mpgemm.costmodel import pe_cost
    from mpgemm.pe_designs.presets import PRESETS

    print(f"{'preset':24s} {'kind':12s} {'latency':>7s} {'cyc/MAC':>8s} {'area_um2':>10s} "
          f"{'pJ/MAC':>7s}")
    for name, c in PRESETS.items():
        pc = pe_cost(c)
        print(f"{name:24s} {c.kind:12s} {c.timing().latency:7d} {c.cycles_per_mac:8.3f} "
              f"{pc.area_um2:10.1f} {pc.energy_per_mac_pj:7.3f}")
    return 0


def _cmd_cost(args) -> int:
    from mpgemm.costmodel import (
        TECH_28NM,
        TECH_45NM,
        CostReport,
        GemmWorkload,
        evaluate,
        llm_linear_layers,
    )

    config = _load_config(args)
    # The operand formats and group size the design natively computes, unless the query says
    # otherwise (the first of a per-group mixture of data types; --weight-format picks another).
    for option, value in (("--act-format", args.act_format),
                          ("--weight-format", args.weight_format)):
        if value is not None and not value.strip():
            raise CliError(f"{option} is empty; give a format name or leave the option out "
                           "for the PE's own")
    act = config.act_format if args.act_format is None else args.act_format
    wgt = config.weight_formats[0] if args.weight_format is None else args.weight_format
    group = config.group_size if args.group_size is None else args.group_size
    tech = {"28": TECH_28NM, "45": TECH_45NM}[args.tech]
    dims = [d for d in ("M", "N", "K") if getattr(args, d) is not None]
    if args.llm and dims:
        raise CliError(f"give either --M/--N/--K or --llm, not both (got --llm and "
                       f"{', '.join('--' + d for d in dims)})")
    if not args.llm and (args.tokens is not None or args.phase is not None):
        raise CliError("--tokens and --phase apply only to --llm queries")
    if args.llm:
        try:
            hidden, inter, heads = (int(x) for x in args.llm.split(","))
        except ValueError:
            raise CliError(f"--llm must be HIDDEN,INTERMEDIATE,HEADS (e.g. 4096,11008,32), "
                           f"not {args.llm!r}") from None
        if args.tokens is None:
            raise CliError("--llm needs --tokens")
        layers = llm_linear_layers(hidden, inter, heads, tokens=args.tokens,
                                   phase=args.phase or "prefill",
                                   act_format=act, weight_format=wgt, group_size=group)
    else:
        missing = [d for d in ("M", "N", "K") if getattr(args, d) is None]
        if missing:
            raise CliError(f"give --M, --N and --K (missing: {', '.join(missing)}) or --llm")
        layers = [GemmWorkload(args.M, args.N, args.K, act_format=act, weight_format=wgt,
                               group_size=group)]
    reports = [evaluate(config, w, tech=tech, n_pe=args.n_pe, freq_mhz=args.freq_mhz)
               for w in layers]
    total = sum(reports, CostReport.zero())
    if args.json:
        print(json.dumps({
            "config": config.to_dict(),
            "layers": [{"workload": w.name or f"{w.M}x{w.N}x{w.K}", **r.to_dict()}
                       for w, r in zip(layers, reports, strict=True)],
            "total": total.to_dict(),
        }, indent=2, allow_nan=False))
        return 0
    for w, r in zip(layers, reports, strict=True):
        label = w.name or f"M={w.M} N={w.N} K={w.K}"
        print(f"{label:28s} cycles={r.latency_cycles:<12d} energy={r.energy_pj / 1e6:10.3f} uJ "
              f"({r.energy_per_mac_pj:.3f} pJ/MAC)")
    print(f"total: {total.macs} MACs, {total.latency_cycles} cycles ({total.latency_s * 1e3:.3f} "
          f"ms at {args.freq_mhz:g} MHz on {args.n_pe} PE), energy {total.energy_pj / 1e6:.3f} uJ "
          f"(compute {total.compute_energy_pj / 1e6:.3f}, SRAM {total.sram_energy_pj / 1e6:.3f}, "
          f"DRAM {total.dram_energy_pj / 1e6:.3f}), PE area {total.area_um2:.1f} um2")
    return 0


def _synth_cells(report: Path) -> int | None:
    """The generic cell count in one of `make synth`'s design reports (None if the run did not
    get that far); a report that is not one is an error naming the file."""
    from .fileio import InputFileError, read_json_file

    what = f"synthesis report {str(report)!r}"
    data = read_json_file(report, what)
    if not isinstance(data, dict):
        raise InputFileError(f"{what} must hold a JSON object, not {type(data).__name__}")
    generic = data.get("generic")
    if generic is None:
        return None
    if not isinstance(generic, dict):
        raise InputFileError(f"{what}: 'generic' must be an object, not "
                             f"{type(generic).__name__}")
    cells = generic.get("cells")
    if cells is None:
        return None
    if isinstance(cells, bool) or not isinstance(cells, int) or cells < 0:
        raise InputFileError(f"{what}: generic 'cells' must be a non-negative integer, not "
                             f"{cells!r}")
    return cells


def _cmd_compare(args) -> int:
    from mpgemm.costmodel.compare import equal_throughput
    from mpgemm.pe_designs.presets import PRESETS

    names = args.presets.split(",") if args.presets else list(PRESETS)
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        raise CliError(f"unknown preset(s) {', '.join(map(repr, unknown))}; see `mpgemm presets`")
    formats = args.weights.split(",")
    cells = {}
    synth_dir = Path(args.synth_dir)
    if synth_dir.exists() and not synth_dir.is_dir():
        raise CliError(f"--synth-dir {args.synth_dir!r} is a file, not a folder")
    for name in names:
        report = synth_dir / f"{name}.json"
        if report.exists():
            count = _synth_cells(report)
            if count is not None:
                cells[name] = count
    rows = equal_throughput({n: PRESETS[n] for n in names}, args.act, formats,
                            target_macs_per_cycle=args.target, yosys_cells=cells)
    if not rows:
        raise CliError(f"none of the presets runs {args.act} activations with weights "
                       f"{', '.join(formats)}")
    print(f"equal throughput: {args.target:g} MACs/cycle, {args.act} activations "
          f"(Yosys cells from {args.synth_dir}/ where `make synth` wrote them)")
    print(f"{'weights':8s} {'design':28s} {'cyc/beat':>8s} {'MAC/cyc':>8s} {'PEs':>7s} "
          f"{'area_um2':>10s} {'pJ/MAC':>7s} {'Yosys cells':>12s}")
    for r in rows:
        cell = "-" if r.yosys_cells_scaled is None else f"{r.yosys_cells_scaled:.0f}"
        print(f"{r.weight_format:8s} {r.design:28s} {r.cycles_per_beat:8d} "
              f"{r.macs_per_cycle:8.2f} {r.pes:7.2f} {r.area_um2:10.0f} "
              f"{r.energy_per_mac_pj:7.3f} {cell:>12s}")
    return 0


def _size(option: str, text: str) -> int:
    """A positive integer option, checked here so that a mistake is one line."""
    from mpgemm.costmodel.workload import check_size

    try:
        value = int(text)
    except ValueError:
        raise CliError(f"{option} must be a positive integer, not {text[:40]!r}") from None
    return check_size(option, value)


def _cmd_compare_arrays(args) -> int:
    from mpgemm.costmodel import TECH_28NM, TECH_45NM, accel_cost, compare_arrays, gemm_energy
    from mpgemm.costmodel.accel import COMPARE_MODES, render_rows
    from mpgemm.hw.array.presets import ARRAY_PRESETS, PAPER_ARRAYS

    missing = [d for d in ("M", "N", "K") if getattr(args, d) is None]
    if missing:
        raise CliError(f"give --M, --N and --K (missing: {', '.join(missing)})")
    m, n, k = (_size(f"--{d}", getattr(args, d)) for d in ("M", "N", "K"))
    if args.mode not in COMPARE_MODES:
        raise CliError(f"--mode must be one of {', '.join(COMPARE_MODES)}, not {args.mode!r}")
    techs = {"28": TECH_28NM, "45": TECH_45NM}
    if args.tech not in techs:
        raise CliError(f"--tech must be one of {', '.join(techs)}, not {args.tech!r}")
    tech = techs[args.tech]
    target = None
    if args.target is not None:
        try:
            target = float(args.target)
        except ValueError:
            raise CliError(f"--target must be a number, not {args.target!r}") from None
    if args.presets:
        names = args.presets.split(",")
        known = {**ARRAY_PRESETS, **PAPER_ARRAYS}
        unknown = [x for x in names if x not in known]
        if unknown:
            raise CliError(f"unknown array preset(s) {', '.join(map(repr, unknown))}; "
                           f"allowed: {', '.join(known)}")
        skipped: dict[str, str] = {}
    else:
        # Every preset that runs this GEMM; the others are listed with the reason.
        names, skipped = [], {}
        for name, accel in ARRAY_PRESETS.items():
            try:
                accel.check_gemm(m, n, k)
            except ValueError as e:
                skipped[name] = str(e)
            else:
                names.append(name)
        if not names:
            raise CliError(f"no array preset runs M={m}, N={n}, K={k} (e.g. "
                           f"{next(iter(skipped))}: {next(iter(skipped.values()))})")
    designs = {x: {**ARRAY_PRESETS, **PAPER_ARRAYS}[x] for x in names}
    rows = compare_arrays(designs, m, n, k, mode=args.mode, target=target, tech=tech)
    goal = rows[0].scaled_macs_per_cycle if args.mode == "throughput" else rows[0].scaled_area_um2
    if args.json:
        out = []
        for r in rows:
            report = gemm_energy(designs[r.design], m, n, k, tech)
            out.append({**r.to_dict(),
                        "area_by_category_um2": accel_cost(designs[r.design],
                                                           tech).area_by_category_um2(),
                        "energy_by_category_pj": dict(report.energy_by_category_pj)})
        # allow_nan=False: a NaN or infinity would be invalid JSON; every figure is finite.
        print(json.dumps({"gemm": {"M": m, "N": n, "K": k}, "mode": args.mode,
                          "target": goal, "tech": tech.name, "rows": out,
                          "skipped": skipped}, indent=2, allow_nan=False))
        return 0
    what = (f"{goal:g} useful MACs/cycle" if args.mode == "throughput"
            else f"{goal:.0f} um2 of logic")
    print(f"equal {args.mode}: {what} on M={m} N={n} K={k} ({tech.name}; area is logic, "
          f"buffer area not modelled)")
    print(render_rows(rows))
    for name, why in skipped.items():
        print(f"cannot run this GEMM: {name}: {why}")
    return 0


#: Subcommands that hand the rest of the command line to a module's own ``main``.
PASSTHROUGH = {
    "rtl": ("mpgemm.hw.flow.generate", "generate rtl_out/ (same as make rtl)"),
    "sim": ("mpgemm.sim.runner", "simulate rtl_out/ with cocotb (same as make sim)"),
    "synth": ("mpgemm.hw.flow.synth", "Yosys/nextpnr reports (same as make synth)"),
    "lint": ("mpgemm.hw.flow.lint", "verilator --lint-only on rtl_out/"),
    "mutate": ("mpgemm.sim.mutate", "mutation testing of the RTL tests (same as make mutate)"),
}


def build_parser() -> argparse.ArgumentParser:
    from .cliutil import OneLineParser

    ap = OneLineParser(prog="mpgemm", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("presets", help="list the preset designs with their cost-model figures")
    p.set_defaults(func=_cmd_presets)

    p = sub.add_parser("cost", help="cost-model query: one GEMM or one LLM block on a PE")
    p.add_argument("--preset", help="a preset design name (see `mpgemm presets`)")
    p.add_argument("--config", help="a JSON config file ({\"kind\": ..., fields...})")
    p.add_argument("--M", type=_positive("--M"))
    p.add_argument("--N", type=_positive("--N"))
    p.add_argument("--K", type=_positive("--K"))
    p.add_argument("--llm", help="HIDDEN,INTERMEDIATE,HEADS: the linear layers of one block")
    p.add_argument("--tokens", type=_positive("--tokens"))
    p.add_argument("--phase", choices=("prefill", "decode"), help="default: prefill")
    p.add_argument("--act-format", help="activation format (default: the PE's)")
    p.add_argument("--weight-format", help="weight format (default: the PE's)")
    p.add_argument("--group-size", type=_positive("--group-size"))
    p.add_argument("--n-pe", type=_positive("--n-pe"), default=1)
    p.add_argument("--freq-mhz", type=float, default=1000.0)
    p.add_argument("--tech", choices=("28", "45"), default="28", help="technology node in nm")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    p.set_defaults(func=_cmd_cost)

    p = sub.add_parser("compare", help="presets side by side at equal throughput, per weight "
                                       "data type (cost model, and Yosys cells if synthesized)")
    p.add_argument("--act", default="int8", help="activation format (default int8)")
    p.add_argument("--weights", default="binary,uint2,uint4,int8",
                   help="comma-separated weight formats")
    p.add_argument("--presets", help="comma-separated presets (default: all)")
    p.add_argument("--target", type=float, default=64.0, help="MACs per cycle (default 64)")
    p.add_argument("--synth-dir", default="reports/synth", help="make synth's reports")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("compare-arrays", help="accelerator presets side by side on one GEMM, "
                                              "at equal throughput or equal area")
    p.add_argument("--presets", help="comma-separated array presets, or the papers' array "
                                     "shapes (cost model only, e.g. mixpe_w4a8_64x64,int8_32x32; "
                                     "default: every array preset that runs the GEMM)")
    # Sizes, mode and target are checked by the command, so that a mistake is one line.
    p.add_argument("--M")
    p.add_argument("--N")
    p.add_argument("--K")
    p.add_argument("--mode", default="throughput",
                   help="throughput (scale to equal useful MACs/cycle) or area (to equal "
                        "logic area); default throughput")
    p.add_argument("--target", help="MACs/cycle or um2 (default: the first preset's own)")
    p.add_argument("--tech", default="28", help="technology node in nm: 28 or 45 (default 28)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=_cmd_compare_arrays)

    for name, (_, text) in PASSTHROUGH.items():
        # Listed for --help only: main() hands these their arguments untouched.
        sub.add_parser(name, help=f"{text}; options: mpgemm {name} --help")
    return ap


def main(argv: list[str] | None = None) -> int:
    import importlib

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASSTHROUGH:
        return importlib.import_module(PASSTHROUGH[argv[0]][0]).main(argv[1:])
    from .cliutil import report_user_errors

    args = build_parser().parse_args(argv)
    return report_user_errors(f"mpgemm {args.command}", lambda: args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
