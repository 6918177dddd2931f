"""Benchmarks behind the performance targets, written as JSON (``make bench``).

Measured, never asserted in tests: ``make sim`` wall time (target < 5 min on 2 cores),
``make test`` wall time (target < 15 min), simulation cycles per second per design and
simulator, Verilog generation time, and cost-model speed (one GEMM evaluation, and a sweep of
10^5 design points).
"""

import json
import os
import subprocess
import sys
import time
import timeit
from pathlib import Path

from hw.fileio import atomic_write_text

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent


def _timed(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - t0, proc.returncode, proc.stdout + proc.stderr


def bench_costmodel() -> dict:
    from dataclasses import replace

    from costmodel import GemmWorkload, evaluate
    from costmodel.pe import _pe_cost_cached
    from pe_designs.presets import PRESETS

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


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m sim.bench", description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "reports" / "bench.json"))
    ap.add_argument("--skip-test", action="store_true", help="do not time the full test suite")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    py = sys.executable
    result: dict = {"python": sys.version.split()[0], "cpus": os.cpu_count()}

    t, rc, _ = _timed([py, "-m", "hw.generate", "--out", str(ROOT / "build" / "bench_rtl")])
    result["rtl_generation_s"] = {"seconds": t, "ok": rc == 0}

    for sim in ("icarus", "verilator"):
        out_json = ROOT / "build" / f"bench_sim_{sim}.json"
        t, rc, _ = _timed([py, "-m", "sim.runner", "--sim", sim, "--seed", str(args.seed),
                           "--json", str(out_json)])
        designs = json.loads(out_json.read_text())["designs"] if out_json.exists() else []
        result[f"make_sim_{sim}"] = {
            "seconds": t, "ok": rc == 0, "target_s": 300,
            "designs": {d["name"]: {"passed": d["passed"], "vectors": d["vectors"],
                                    "cycles": d["cycles"],
                                    "cycles_per_s": round(d["cycles_per_s"])}
                        for d in designs},
        }
        print(f"make sim ({sim}): {t:.1f} s, ok={rc == 0}")

    result["costmodel"] = bench_costmodel()
    print(f"cost model: {result['costmodel']['evaluate_one_gemm_us']:.1f} us per GEMM, "
          f"{result['costmodel']['sweep_points_per_s']:.0f} design points/s")

    if not args.skip_test:
        t, rc, _ = _timed([py, "-m", "pytest", "-n", "2", "-q"])
        result["make_test"] = {"seconds": t, "ok": rc == 0, "target_s": 900}
        print(f"make test: {t:.1f} s, ok={rc == 0}")

    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
