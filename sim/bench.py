"""Benchmarks behind the performance targets, written as JSON (``make bench``).

Measured, never asserted in tests: ``make sim`` wall time (target < 15 min on 2 cores),
``make test`` wall time (target < 20 min), simulation cycles per second per design and
simulator (for the accelerators also while the array computes alone), Verilog generation time
(each accelerator preset: target < 60 s), cost-model speed (one GEMM evaluation, and a sweep of
10^5 design points), and the numerical error of the W4A16 datapaths against the exact result.

``--reference`` adds the iCE40 resources of the generated INT8 16x16 output-stationary mesh next
to the hand-written one (:mod:`mpgemm.hw.flow.reference`; two Yosys runs of 6 to 7 minutes
each); ``--reference-only`` runs just that and merges it into an existing ``--out`` file
(``make bench-reference``).
"""

import json
import os
import subprocess
import sys
import time
import timeit
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpgemm.hw.flow.fileio import InputFileError, atomic_write_text, read_json_file

if TYPE_CHECKING:
    from mpgemm.sim.golden.contract import PEConfig

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
#: The pytest marker expression of `make test-fast`: no simulator, no Yosys.
FAST_TIER = "not sim and not synth"


def _timed(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - t0, proc.returncode, proc.stdout + proc.stderr


def bench_costmodel() -> dict:
    from dataclasses import replace

    from mpgemm.costmodel import GemmWorkload, evaluate
    from mpgemm.costmodel.pe import _pe_cost_cached
    from mpgemm.pe_designs.presets import PRESETS

    config = PRESETS["int_mac_w8a8"]
    work = GemmWorkload(M=16, N=4096, K=4096, act_format="int8", weight_format="int8")
    evaluate(config, work)
    n = 20_000
    per_call = timeit.timeit(lambda: evaluate(config, work), number=n) / n
    # A sweep: 10^5 distinct design points (lanes x accumulator width x GEMM shapes), each a
    # buildable config, evaluated cold (the per-config cache does not help distinct configs).
    configs = [replace(config, lanes=lanes, acc_bits=acc) for lanes in (1, 2, 4, 8, 16, 32)
               for acc in range(32, 65)]
    shapes = [GemmWorkload(M=m, N=n_, K=4096, act_format="int8", weight_format="int8")
              for m in (1, 16, 64, 256, 1024) for n_ in range(1024, 1024 + 128 * 102, 128)]
    _pe_cost_cached.cache_clear()
    t0 = time.perf_counter()
    points = 0
    for c in configs:
        for w in shapes:
            evaluate(c, w)
            points += 1
            if points >= 100_000:
                break
        if points >= 100_000:
            break
    sweep_s = time.perf_counter() - t0
    return {
        "evaluate_one_gemm_us": per_call * 1e6,
        "sweep_points": points,
        "sweep_s": sweep_s,
        "sweep_points_per_s": points / sweep_s,
    }


def w4a16_gemv_errors(designs: Mapping[str, "PEConfig"], *, seed: int = 1, k: int = 1024,
                      n: int = 64, group_size: int = 128) -> dict[str, float]:
    """Norm-wise relative error against the exact result of one W4A16 GEMV, per design (name ->
    a MixPE or dequantize-then-MAC config with ``group_size``): uint4 weights with zero points,
    FP16 scales in [0.005, 0.02], activations ~ N(0, 1) in FP16, the same operands for all."""
    import numpy as np

    from mpgemm.sim.golden.contract import QuantizedWeights, gemm
    from mpgemm.sim.golden.fp import f16_value, f32_value
    from mpgemm.sim.golden.reference import exact_mpgemm, to_float64

    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 1.0, (1, k)).astype(np.float16).view(np.uint16)
    codes = rng.integers(0, 16, (k, n))
    zeros = rng.integers(0, 16, (k // group_size, n))
    scales = rng.uniform(0.005, 0.02, (k // group_size, n)).astype(np.float16).view(np.uint16)
    w = QuantizedWeights(codes=codes, scales=scales, zeros=zeros)
    # (q - z) * s is exact in float64, so the only arithmetic of the reference is exact.
    w_exact = (codes - np.repeat(zeros, group_size, axis=0)) * np.repeat(
        f16_value(scales), group_size, axis=0)
    exact = to_float64(exact_mpgemm(f16_value(a), w_exact)).ravel()
    out = {}
    for name, config in designs.items():
        if config.group_size != group_size:
            raise ValueError(f"{name}: group_size={config.group_size}, the GEMV's is "
                             f"{group_size}")
        got = gemm(config, a, w)
        out[name] = np.array([int(v) for v in np.asarray(got).flat], np.uint32)
    return {name: float(np.linalg.norm(f32_value(bits).astype(np.float64) - exact)
                        / np.linalg.norm(exact)) for name, bits in out.items()}


def bench_fp16_error(seed: int = 1) -> dict:
    """W4A16 GEMV error (K = 1024, N = 64, groups of 128): MixPE at several alignment guard
    widths next to the dequantize-then-MAC baseline on the same operands."""
    from dataclasses import replace

    from mpgemm.pe_designs.mixpe import MixPEConfig
    from mpgemm.pe_designs.presets import PRESETS

    mixpe = PRESETS["mixpe_w4a16"]
    assert isinstance(mixpe, MixPEConfig)
    designs = {"dequant_mac_w4a16_l4": PRESETS["dequant_mac_w4a16_l4"],
               **{f"mixpe_w4a16_guard{g}": replace(mixpe, align_guard_bits=g)
                  for g in (0, 4, 8, 12)}}
    return {"gemv": {"K": 1024, "N": 64, "group_size": mixpe.group_size, "seed": seed},
            **w4a16_gemv_errors(designs, seed=seed, group_size=mixpe.group_size)}


def _sim_row(d: dict) -> dict:
    row = {"simulator": d["simulator"], "passed": d["passed"], "vectors": d["vectors"],
           "cycles": d["cycles"], "cycles_per_s": round(d["cycles_per_s"]),
           "build_s": round(d["build_s"], 1)}
    if d.get("compute_s"):
        # Accelerators: the simulator's speed while the array computes with no Python in the
        # loop (the issue's target: >= 50,000 cycles/s for the 16x16 integer array).
        row["compute_cycles_per_s"] = round(d["compute_cycles"] / d["compute_s"])
        row["gemms"] = len(d.get("gemms", ()))
    return row


#: The issue's bar: Verilator simulates the 16x16 integer array at >= 50,000 cycles/s (while it
#: computes: the testbench's Python is out of the loop).
SPEED_TARGET = ("array_int_mac_os_16x16", 50_000)


#: Random GEMM shapes the target's own run adds to the fixed ones: in the all-Verilator run the
#: 16x16 array computes for about 0.1 s in all, beside another design's C++ build (-j 2), too
#: short and too shared a window to time the bar by (100 more: 0.12 s computing, 7 s in all).
SPEED_TARGET_SHAPES = 100


def array_speeds(rows: Mapping[str, dict], target_row: Mapping[str, Any] | None = None) -> dict:
    """Each accelerator preset's Verilator speed, from the rows of the all-Verilator run
    (:func:`_sim_row`): overall (buffers streamed in and results out by the testbench, a Python
    step per cycle) and while the array computes alone; and the target's verdict, from
    ``target_row`` (the target design's own run, :func:`bench_speed_target`) when given, else
    from its row in ``rows``."""
    designs = {name: {"cycles_per_s": row["cycles_per_s"],
                      "compute_cycles_per_s": row.get("compute_cycles_per_s"),
                      "passed": row["passed"]}
               for name, row in rows.items() if "compute_cycles_per_s" in row}
    name, target = SPEED_TARGET
    source = target_row if target_row is not None else designs.get(name, {})
    got = source.get("compute_cycles_per_s")
    verdict: dict[str, Any] = {"design": name, "compute_cycles_per_s": got, "target": target,
                               "met": got is not None and got >= target and
                               bool(source.get("passed"))}
    if target_row is not None:
        verdict.update(run="alone", gemms=target_row.get("gemms"),
                       compute_cycles=target_row.get("compute_cycles"),
                       compute_s=target_row.get("compute_s"))
    return {"target": verdict, "designs": designs}


def bench_speed_target(seed: int) -> dict | None:
    """The speed bar's design run on its own (nothing built or simulated beside it), in
    Verilator's speed build, with :data:`SPEED_TARGET_SHAPES` random GEMMs on top of the fixed
    ones: its row (:func:`_sim_row`) plus the compute window, or None if it computed nothing."""
    from mpgemm.hw.flow.generate import RTL_DIR, load_manifest
    from mpgemm.sim.runner import VERILATOR_PROFILE_ENV, run_design

    name, _ = SPEED_TARGET
    entry = load_manifest(RTL_DIR)["designs"][name]
    before = os.environ.get(VERILATOR_PROFILE_ENV)
    os.environ[VERILATOR_PROFILE_ENV] = "speed"
    try:
        r = run_design(name, entry, RTL_DIR, simulator="verilator", seed=seed,
                       build_root=ROOT / "build" / "bench_speed", shapes=SPEED_TARGET_SHAPES)
    finally:
        if before is None:
            del os.environ[VERILATOR_PROFILE_ENV]
        else:
            os.environ[VERILATOR_PROFILE_ENV] = before
    if not r.compute_s:
        return None
    return {**_sim_row(r.as_dict()), "compute_cycles": r.compute_cycles,
            "compute_s": round(r.compute_s, 3)}


def bench_array_generation() -> dict:
    """Seconds to generate each accelerator preset's Verilog (target: < 60 s each)."""
    from mpgemm.hw.array.presets import ARRAY_PRESETS
    from mpgemm.hw.flow.generate import generate_verilog

    out = {}
    for name, config in ARRAY_PRESETS.items():
        t0 = time.perf_counter()
        generate_verilog(config, name)
        out[name] = round(time.perf_counter() - t0, 2)
    return out


def bench_mesh_reference(out_dir: Path, jobs: int = 2) -> dict:
    """iCE40 SB_LUT4 and flip-flops (``SB_DFF*``) of the generated INT8 16x16 output-stationary
    mesh and of the hand-written reference, and whether the generated one's LUT4 + FF is within
    the reference's (the issue's bar). Yosys' logs and the full report go to ``out_dir``."""
    from mpgemm.hw.flow.reference import measure

    report = measure(out_dir, 16, 16, jobs=jobs)
    designs = {name: {key: d[key] for key in ("lut4", "ff", "lut4_plus_ff", "carry", "seconds")}
               for name, d in report["designs"].items()}
    return {"rows": 16, "cols": 16, "yosys": report["yosys"], "flow": report["flow"],
            **designs, "difference": report["difference"],
            "generated_within_reference": report["generated_within_reference"],
            "wall_seconds": report["wall_seconds"]}


def _print_reference(section: dict) -> None:
    gen, ref = section["generated"], section["handwritten"]
    print(f"INT8 16x16 OS mesh on iCE40: generated {gen['lut4']:,} LUT4 + {gen['ff']:,} FF = "
          f"{gen['lut4_plus_ff']:,}, hand-written {ref['lut4']:,} + {ref['ff']:,} = "
          f"{ref['lut4_plus_ff']:,} ({section['wall_seconds']:.0f} s)")


def main(argv: list[str] | None = None) -> int:

    from mpgemm.hw.flow.cliutil import OneLineParser

    ap = OneLineParser(prog="python -m mpgemm.sim.bench", description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "reports" / "bench.json"))
    ap.add_argument("--skip-test", action="store_true", help="do not time the full test suite")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reference", action="store_true",
                    help="also synthesise the generated and the hand-written INT8 16x16 mesh "
                    "for iCE40 (about 7 minutes with -j 2, 12 with -j 1)")
    ap.add_argument("--reference-only", action="store_true",
                    help="only that comparison, merged into the --out file if it exists")
    ap.add_argument("-j", "--jobs", type=int, choices=(1, 2), default=2,
                    help="Yosys runs at once for the reference comparison (default 2)")
    args = ap.parse_args(argv)
    py = sys.executable
    reference_dir = ROOT / "build" / "bench_reference"
    result: dict
    if args.reference_only:
        out = Path(args.out)
        try:
            result = read_json_file(out, f"--out {args.out!r}") if out.exists() else {}
        except InputFileError as e:
            print(f"{ap.prog}: error: {e}", file=sys.stderr)
            return 2
        if not isinstance(result, dict):
            print(f"{ap.prog}: error: --out {args.out!r} holds no JSON object to add to",
                  file=sys.stderr)
            return 2
        result["mesh_reference"] = bench_mesh_reference(reference_dir, args.jobs)
        _print_reference(result["mesh_reference"])
        atomic_write_text(out, json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")
        return 0
    result = {"python": sys.version.split()[0], "cpus": os.cpu_count()}

    t, rc, _ = _timed([py, "-m", "mpgemm.hw.flow.generate", "--out",
                       str(ROOT / "build" / "bench_rtl")])
    result["rtl_generation_s"] = {"seconds": t, "ok": rc == 0}

    result["array_generation_s"] = bench_array_generation()
    print("array generation (s): " + ", ".join(
        f"{n} {v:.1f}" for n, v in result["array_generation_s"].items()))

    # `make sim` itself (auto: PEs on Icarus, each array on its own simulator), then every
    # design on Verilator for the simulation speeds.
    # The speed runs build Verilator's models for speed (sim.runner.VERILATOR_PROFILES).
    for sim in ("auto", "verilator"):
        out_json = ROOT / "build" / f"bench_sim_{sim}.json"
        env = {**os.environ, "MPGEMM_VERILATOR_OPT": "build" if sim == "auto" else "speed"}
        t, rc, _ = _timed([py, "-m", "mpgemm.sim.runner", "--sim", sim, "--seed", str(args.seed),
                           "--json", str(out_json)], env=env)
        designs = json.loads(out_json.read_text())["designs"] if out_json.exists() else []
        result[f"make_sim_{sim}"] = {
            "seconds": t, "ok": rc == 0, "target_s": 900 if sim == "auto" else None,
            "designs": {d["name"]: _sim_row(d) for d in designs},
        }
        print(f"make sim ({sim}): {t:.1f} s, ok={rc == 0}")
    target_row = bench_speed_target(args.seed)
    result["array_speed"] = array_speeds(result["make_sim_verilator"]["designs"], target_row)
    t = result["array_speed"]["target"]
    print(f"speed bar ({t['design']} alone): {t['compute_cycles_per_s']} cycles/s while "
          f"computing (target {t['target']}), met={t['met']}")
    print("array speeds on Verilator (cycles/s overall / computing): " + ", ".join(
        f"{n} {d['cycles_per_s']} / {d['compute_cycles_per_s']}"
        for n, d in result["array_speed"]["designs"].items()))

    result["fp16_error"] = bench_fp16_error(args.seed)
    print("W4A16 GEMV relative error: " + ", ".join(
        f"{name} {value:.2e}" for name, value in result["fp16_error"].items()
        if name != "gemv"))

    if args.reference:
        result["mesh_reference"] = bench_mesh_reference(reference_dir, args.jobs)
        _print_reference(result["mesh_reference"])

    result["costmodel"] = bench_costmodel()
    print(f"cost model: {result['costmodel']['evaluate_one_gemm_us']:.1f} us per GEMM, "
          f"{result['costmodel']['sweep_points_per_s']:.0f} design points/s")

    # The two test tiers, as the Makefile runs them (targets from the project's time budgets).
    t, rc, _ = _timed([py, "-m", "pytest", "-n", "2", "-q", "-m", FAST_TIER])
    result["make_test_fast"] = {"seconds": t, "ok": rc == 0, "target_s": 60}
    print(f"make test-fast: {t:.1f} s, ok={rc == 0}")
    if not args.skip_test:
        t, rc, _ = _timed([py, "-m", "pytest", "-n", "2", "-q"])
        result["make_test"] = {"seconds": t, "ok": rc == 0, "target_s": 1200}
        print(f"make test: {t:.1f} s, ok={rc == 0}")

    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
