"""Mutation testing of the RTL tests (``make mutate``): do the cocotb testbenches catch broken
hardware?

For a sample of designs of rtl_out/ (every family's PEs and the Icarus-sized accelerators),
single-point mutants of the generated Verilog are made, each is simulated with the design's own
testbench (the one ``make sim`` runs, same stimulus, fixed seed), and the mutant is *killed* if
the testbench fails or times out. A surviving mutant is *equivalent* (no test can kill it, so
it does not count) when it belongs to a class judged equivalent by reasoning
(:data:`JUDGED_EQUIVALENT`: each class with its reason, e.g. a tie in the FP adder's operand
order) or when Yosys proves a miter of the original and the mutant by temporal induction
(``sat -tempinduct``). The score is killed / (killed + surviving non-equivalent mutants); the
JSON report lists every mutant with its verdict and every judged class with its reason, its
count and any killed mutant of the class (which would show the reasoning wrong).

Mutation operators, applied to one place of one line (``assign`` right-hand sides and the
conditions of ``if`` statements; Amaranth writes binary operators with a space on either side
and escapes generated names with a backslash, so both can be told apart from the text):

- arithmetic and logic operators swapped (``+``/``-``, ``&``/``|``, ``^`` -> ``|``, ``==``/``!=``,
  ``<``/``<=``, ``>``/``>=``, ``<<``/``>>``, ``>>>`` -> ``>>``);
- the branches of a conditional ``c ? x : y`` swapped;
- a bitwise or logical negation (``~``, ``!``) removed;
- a constant's least significant bit flipped;
- an ``if`` condition negated (not the reset's: that mutant is killed at the first cycle).

Assignments to wires that nothing in their module reads (the Verilog back end keeps some named
signals whose value other expressions recompute) get no mutants: no test could see them.

Run as ``python -m mpgemm.sim.mutate`` (``make mutate``); ``--help`` lists the options.
"""

import argparse
import functools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mpgemm.hw.array.presets import ARRAY_PRESETS
from mpgemm.hw.flow.cliutil import USER_ERRORS, OneLineParser, print_user_error
from mpgemm.hw.flow.fileio import atomic_write_text, check_writable_file
from mpgemm.hw.flow.manifest import load_manifest
from mpgemm.hw.flow.synth import find_yosys
from mpgemm.pe_designs.bitserial.config import BitSerialConfig
from mpgemm.pe_designs.presets import PRESETS

__all__ = ["Mutant", "mutants_of", "apply_mutant", "run_mutants", "main", "DEFAULT_DESIGNS",
           "EquivalenceRule", "JUDGED_EQUIVALENT"]

ROOT = Path(__file__).resolve().parent.parent

#: The designs ``make mutate`` samples by default: every PE preset (all six families) and the
#: accelerators small enough for Icarus in seconds, one per organisation.
DEFAULT_DESIGNS: tuple[str, ...] = (
    "int_mac_w8a8", "int_mac_w4a8", "int_mac_w8a8_l1",
    "fp16_mac", "fp16_mac_l4", "dequant_mac_w4a16", "dequant_mac_w4a16_l4",
    "bitserial_int4_a8", "bitserial_int4_bitplane_a8", "bitserial_int6_a8", "bitserial_mix_a16",
    "bitserial_bitmod_fp4_a8", "bitserial_int4_fp16", "bitserial_bitmod_fp4_fp16",
    "lut_w1_a8", "lut_w2_a8", "lut_w2_a8_nosym", "lut_w4_a8", "lut_w2_fp16",
    "mixpe_w4a8", "mixpe_w2a8", "mixpe_w8a8", "mixpe_w4a8_int_g32", "mixpe_w3a8_int_g64",
    "mixpe_w4a16", "mixpe_w2a16_int_g32", "mixpe_w8a16_int",
    "array_int_mac_os_4x4", "array_int_mac_os_4x4_db", "array_int_mac_ws_8x8",
    "array_mixpe_w4a8_os_4x4_shared", "array_bitserial_int4_a8_os_4x4",
    "array_fp16_mac_ws_4x4", "array_dequant_mac_os_4x4_shared",
)

_BINARY = {" + ": " - ", " - ": " + ", " & ": " | ", " | ": " & ", " ^ ": " | ",
           " == ": " != ", " != ": " == ", " < ": " <= ", " <= ": " < ", " > ": " >= ",
           " >= ": " > ", " << ": " >> ", " >> ": " << ", " >>> ": " >> "}
_ESCAPED = re.compile(r"\\\S+\s")           # Verilog escaped identifier: backslash .. space
_ASSIGN = re.compile(r"^(\s*assign\s+.*?\s=\s)(.*);\s*$")
_IF = re.compile(r"^(\s*if\s*\()(.*)(\)\s*begin\s*)$")
_CONST = re.compile(r"(\d+)'([hbd])([0-9a-fA-F]+)")


@dataclass(frozen=True)
class Mutant:
    """One single-point change of a design's Verilog."""

    design: str
    line: int          # 1-based
    column: int        # 0-based, in the line
    operator: str      # e.g. "+ -> -", "swap ?:", "drop ~", "const lsb", "negate if"
    original: str      # the line before
    mutated: str       # the line after

    @property
    def id(self) -> str:
        return f"{self.design}:{self.line}:{self.column}:{self.operator}"


def _masked(text: str) -> str:
    """``text`` with escaped identifiers blanked out (same length), so operators inside
    generated names are never mutated."""
    return _ESCAPED.sub(lambda m: " " * len(m.group(0)), text)


def _top_level(masked: str, token: str) -> list[int]:
    """Positions of ``token`` in ``masked`` outside brackets and braces."""
    out, depth = [], 0
    i = 0
    while i < len(masked):
        ch = masked[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and masked.startswith(token, i):
            out.append(i)
        i += 1
    return out


def _line_mutants(design: str, number: int, line: str) -> Iterator[Mutant]:
    m = _ASSIGN.match(line)
    if m:
        start, rhs = m.end(1), m.group(2)
    else:
        m = _IF.match(line)
        # Not the back end's empty placeholder ifs, nor the reset (negating it is a trivial kill).
        if not m or "\\$auto$" in line or m.group(2).strip() == "rst":
            return
        start, rhs = m.end(1), m.group(2)
        neg = f"{line[:start]}!({rhs}){line[start + len(rhs):]}"
        yield Mutant(design, number, start, "negate if", line, neg)
    masked = _masked(rhs)
    seen: set[int] = set()
    for token in sorted(_BINARY, key=len, reverse=True):
        for pos in [p for p in range(len(masked)) if masked.startswith(token, p)]:
            if any(q in seen for q in range(pos, pos + len(token))):
                continue          # part of a longer operator (e.g. " < " in " << ")
            seen.update(range(pos, pos + len(token)))
            new = rhs[:pos] + _BINARY[token] + rhs[pos + len(token):]
            yield Mutant(design, number, start + pos,
                         f"{token.strip()} -> {_BINARY[token].strip()}", line,
                         line[:start] + new + line[start + len(rhs):])
    # c ? x : y  ->  c ? y : x  (only a conditional at the top level of the right-hand side)
    q, c = _top_level(masked, " ? "), _top_level(masked, " : ")
    if len(q) == 1 and len(c) == 1 and q[0] < c[0]:
        cond, x, y = rhs[:q[0]], rhs[q[0] + 3:c[0]], rhs[c[0] + 3:]
        yield Mutant(design, number, start + q[0], "swap ?:", line,
                     line[:start] + f"{cond} ? {y} : {x}" + line[start + len(rhs):])
    for pos, ch in enumerate(masked):
        if ch in "~!" and masked[pos + 1:pos + 2] != "=" and (pos == 0 or masked[pos - 1] != "!"):
            new = rhs[:pos] + rhs[pos + 1:]
            yield Mutant(design, number, start + pos, f"drop {ch}", line,
                         line[:start] + new + line[start + len(rhs):])
    for cm in _CONST.finditer(masked):
        width, base, digits = int(cm.group(1)), cm.group(2), cm.group(3)
        value = int(digits, {"h": 16, "b": 2, "d": 10}[base]) ^ 1
        if value >= 1 << width:
            continue
        text = f"{width}'h{value:x}"
        new = rhs[:cm.start()] + text + rhs[cm.end():]
        yield Mutant(design, number, start + cm.start(), "const lsb", line,
                     line[:start] + new + line[start + len(rhs):])


_IDENT = re.compile(r"\\\S+\s|[A-Za-z_][A-Za-z0-9_$]*")
_LHS = re.compile(r"^\s*assign\s+(\\\S+\s|[A-Za-z_][A-Za-z0-9_$]*)")


def _unread_assigns(lines: list[str]) -> set[int]:
    """Indices of the ``assign`` lines whose target is read nowhere in its module: the
    back end keeps such named wires (a signal Amaranth elaborated whose value another
    expression recomputes), and a mutant of one could never be seen."""
    unread: set[int] = set()
    start = 0
    for end, line in enumerate(lines + ["endmodule"]):
        if line.strip() != "endmodule":
            continue
        counts: dict[str, int] = {}
        ports: set[str] = set()
        for ln in lines[start:end]:
            tokens = [tok.strip() for tok in _IDENT.findall(ln)]
            if ln.split()[:1] in (["module"], ["input"], ["output"], ["inout"]):
                ports.update(tokens)
            for tok in tokens:
                counts[tok] = counts.get(tok, 0) + 1
        # Two occurrences: the declaration and this assignment; ports are read outside. A
        # wire read only by unread assignments is unread too (unpack's infinity flag, say,
        # reads an exponent compare that nothing else does): repeat until nothing changes.
        changed = True
        while changed:
            changed = False
            for k in range(start, end):
                m = _LHS.match(lines[k])
                name = m.group(1).strip() if m else ""
                if k in unread or not m or name in ports or counts.get(name, 0) > 2:
                    continue
                unread.add(k)
                changed = True
                for tok in _IDENT.findall(lines[k]):
                    tok = tok.strip()
                    if tok != name:
                        counts[tok] -= 1
        start = end + 1
    return unread


def mutants_of(design: str, text: str) -> list[Mutant]:
    """Every mutant this tool makes of Verilog ``text`` (design ``design``), in file order;
    none of an assignment to a wire that nothing reads."""
    lines = text.split("\n")
    unread = _unread_assigns(lines)
    out: list[Mutant] = []
    for number, line in enumerate(lines, start=1):
        if number - 1 not in unread:
            out.extend(_line_mutants(design, number, line))
    return out


def apply_mutant(text: str, mutant: Mutant) -> str:
    """``text`` with ``mutant``'s line replaced (checked against the line it was made from)."""
    lines = text.split("\n")
    if lines[mutant.line - 1] != mutant.original:
        raise ValueError(f"mutant {mutant.id} does not match line {mutant.line} of the text")
    lines[mutant.line - 1] = mutant.mutated
    return "\n".join(lines)


# --- mutants judged equivalent -------------------------------------------------------------

@dataclass(frozen=True)
class EquivalenceRule:
    """A class of mutants that no test can kill, judged by reasoning because Yosys' induction
    does not decide it in time (floating-point datapaths). A surviving mutant counts as
    equivalent when its operator is ``operator`` and its original line, with runs of spaces
    collapsed and stripped, matches the regular expression ``original`` in full. A killed
    mutant is never overruled: a rule that matched one would be wrong, and the report says
    so (``contradicted``)."""

    name: str
    operator: str
    original: str
    reason: str
    #: If set, the line after the mutant's must match it too, ``{name}`` standing for the
    #: (escaped) text of the named group ``name`` of ``original``.
    following: str | None = None
    #: If set, ``check(original_match, following_match)`` must hold too (what a regular
    #: expression cannot say, e.g. that two constants of different widths are one value).
    check: Callable[[re.Match, re.Match], bool] | None = None
    #: If set, ``design(name)`` must hold for the mutant's design (what the text of one line
    #: cannot say, e.g. that the PE's accumulator is an exact integer one).
    design: Callable[[str], bool] | None = None

    def matches(self, mutant: Mutant, next_line: str = "") -> bool:
        line = re.sub(r"\s+", " ", mutant.original).strip()
        m = re.fullmatch(self.original, line)
        if mutant.operator != self.operator or m is None:
            return False
        if self.design is not None and not self.design(mutant.design):
            return False
        if self.following is None:
            return True
        groups = {k: re.escape(v) for k, v in m.groupdict().items()}
        pattern = self.following.format(**groups)
        nxt = re.fullmatch(pattern, re.sub(r"\s+", " ", next_line).strip())
        return nxt is not None and (self.check is None or self.check(m, nxt))


#: An assignment's target in a rule's pattern: an escaped or a plain identifier.
_TARGET = r"assign (?:\\\S+|[A-Za-z_][A-Za-z0-9_$]*)"

#: The mutants judged equivalent, with the reason for each class.
JUDGED_EQUIVALENT: tuple[EquivalenceRule, ...] = (
    EquivalenceRule(
        "fp_add_order_tie", "> -> >=",
        r"assign swap = b\[(\d+):0\] > a\[\1:0\];",
        "FPAdd orders its operands by magnitude; on a tie (|a| = |b|) either order gives the "
        "same bits: equal signs add symmetrically, opposite signs cancel to +0 (the zero's "
        "sign is xs & ys, symmetric), two infinities give the infinity or NaN either way, and "
        "NaN is canonical"),
    EquivalenceRule(
        "round_pack_underflow_boundary", "< -> <=",
        r"assign \\\S+ = \$signed\(\\\S+ \) < \$signed\(2'h1\);",
        "round_pack shifts a result below the normal range right by 1 - E when its biased "
        "exponent E < 1 (the generator's only signed compare with the constant 1); at E = 1 "
        "that shift is 0, the same as not shifting, so E <= 1 selects the same result"),
    EquivalenceRule(
        "round_pack_shift_clamp_boundary", "< -> <=",
        r"assign \\\S+ = \$signed\((?P<e>\\\S+) \) < \$signed\(\d+'h[0-9a-f]+\);",
        "round_pack's second compare, E < 1 - wn (the line after it computes the shift 1 - E "
        "of the same E), clamps the right shift at wn: at E = 1 - wn the shift 1 - E is wn "
        "too, so E <= 1 - wn selects the same shift",
        following=r"assign \\\S+ = \$signed\(2'h1\) - \$signed\({e} \);"),
    EquivalenceRule(
        "round_pack_shift_clamp_constant", "const lsb",
        r"assign \\\S+ = \$signed\((?P<e>\\\S+) \) < "
        r"\$signed\(\d+'h[0-9a-f]*[02468ace]\);",
        "round_pack's clamp E < 1 - wn with an even two's complement constant: the flipped bit "
        "raises the threshold by one, and at E = 1 - wn the shift 1 - E is wn, the clamp's "
        "value, so both select the same shift (an odd constant would lower it, giving a shift "
        "of wn + 1, which may not fit the shift register: not judged)",
        following=r"assign \\\S+ = \$signed\(2'h1\) - \$signed\({e} \);"),
    EquivalenceRule(
        "clamp_boundary", "> -> >=",
        r"assign (?P<c>\\\S+) = (?P<x>[^'<>?]+) > (?P<w>\d+)'h(?P<k>[0-9a-f]+);",
        "a clamp min(x, K) written as (x > K) ? K : x: at x = K both branches are K, so "
        "x >= K clamps the same values",
        following=_TARGET + r" = {c} \? \d+'h0*{k} : {x};"),
    EquivalenceRule(
        "clamp_boundary_constant", "const lsb",
        r"assign (?P<c>\\\S+) = (?P<x>[^'<>?]+) > (?P<w>\d+)'h(?P<k>[0-9a-f]*[13579bdf]);",
        "a clamp min(x, K) written as (x > K) ? K : x with an odd K: the mutant compares with "
        "K - 1, and at x = K both branches are K, so it clamps the same values",
        following=_TARGET + r" = {c} \? \d+'h0*{k} : {x};"),
    EquivalenceRule(
        "signed_floor_boundary", "< -> <=",
        r"assign (?P<c>\\\S+) = \$signed\((?P<x>[^()'<>?]+)\) < "
        r"\$signed\((?P<w>\d+)'h(?P<k>[0-9a-f]+)\);",
        "a signed clamp max(x, K) written as (x < K) ? K : x (the next line selects the same "
        "value K, sign-extended to its width): at x = K both branches are K, so x <= K clamps "
        "the same values",
        following=_TARGET + r" = {c} \? (?P<w2>\d+)'h(?P<k2>[0-9a-f]+) : {x};",
        check=lambda original, following: _same_signed(original, following)),
    EquivalenceRule(
        "bitserial_term_order", "+ -> -",
        r"assign \\\S+ = step \+ 1'h1;",
        "a bit-serial PE's term counter `step` counting down instead of up: in a PE whose "
        "term count is a power of two (the counter's full range) it visits the same terms of "
        "the beat, 0 then 2^w - 1 down to 1 instead of 0 up to 2^w - 1; each term is a function "
        "of `step` and the beat's registers alone (bit-plane or Booth terms, not the sparse "
        "walk that consumes the magnitude's top bit), and an integer-activation PE sums them "
        "in a two's complement accumulator, where the order of additions cannot change the "
        "sum (an FP-activation PE rounds in order: not judged)",
        design=lambda name: _exact_dense_bitserial(name)),
    EquivalenceRule(
        "bitserial_dequant_order", "+ -> -",
        r"assign \\\S+ = dq_bit \+ 1'h1;",
        "a bit-serial PE's dequantizer walking the scale's bits down instead of up: with a "
        "power-of-two scale width (the counter's full range) it adds the same terms "
        "scale[j] * (group_sum << j), bit 0 first either way (the first adds the partial sum "
        "in), the sign bit's term negated by its index alone; an integer-activation PE adds "
        "them in a two's complement accumulator and outputs only the last sum, so the order "
        "cannot show (an FP-activation PE rounds in order: not judged)",
        design=lambda name: _exact_bitserial_dequant(name)),
)


def _pe_config(design: str):
    """The PE configuration of a preset of ``rtl_out/`` (a PE's own, or an array's PE)."""
    if design in PRESETS:
        return PRESETS[design]
    accel = ARRAY_PRESETS.get(design)
    return None if accel is None else accel.array.pe


def _is_pow2(n: int) -> bool:
    return n >= 2 and n & (n - 1) == 0


def _exact_bitserial_dequant(design: str) -> bool:
    """Whether ``design``'s PE is a bit-serial one with integer activations and a
    power-of-two scale width."""
    cfg = _pe_config(design)
    return isinstance(cfg, BitSerialConfig) and not cfg.is_fp and _is_pow2(cfg.scale_bits)


def _exact_dense_bitserial(design: str) -> bool:
    """Whether ``design``'s PE is a bit-serial one with a power-of-two term count per beat in
    every weight format, dense terms (no sparse walk) and integer activations."""
    cfg = _pe_config(design)
    if not isinstance(cfg, BitSerialConfig) or cfg.is_fp:
        return False
    cycles = {cfg.timing(f).cycles for f in cfg.weight_formats}
    return not cfg.sparse_terms and len(cycles) == 1 and _is_pow2(cycles.pop())


def _signed_const(width: str, hexdigits: str) -> int:
    value, bits = int(hexdigits, 16), int(width)
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


def _same_signed(original: re.Match, following: re.Match) -> bool:
    """Whether the compared constant (``w``/``k``) and the selected one (``w2``/``k2``) are
    one signed value."""
    return (_signed_const(original["w"], original["k"])
            == _signed_const(following["w2"], following["k2"]))


@functools.lru_cache(maxsize=8)
def _lines(text: str) -> list[str]:
    """``text`` split into lines, kept for the next mutant of the same file (a design's
    Verilog is judged mutant by mutant; a str caches its own hash)."""
    return text.split("\n")


def _next_line(text: str, mutant: Mutant) -> str:
    lines = _lines(text)
    return lines[mutant.line] if mutant.line < len(lines) else ""


# --- running mutants -----------------------------------------------------------------------

@dataclass
class Verdict:
    mutant: Mutant
    status: str          # killed | timeout | survived | equivalent | error
    seconds: float
    detail: str = ""
    equivalence: str | None = None   # proved (Yosys) | judged (a JUDGED_EQUIVALENT rule)


def _run(cmd: Sequence[str], cwd: Path, timeout: float) -> tuple[int | None, str, str]:
    """Run ``cmd`` in its own process group: (exit status or None on timeout, stdout, stderr);
    on timeout the whole group (simulator included) is killed."""
    proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err
    return proc.returncode, out, err


def _simulate(rtl_dir: Path, name: str, *, seed: int, vectors: int, timeout: float,
              work: Path) -> tuple[str, float, str]:
    """Run ``name``'s testbench on ``rtl_dir`` (Icarus, as ``make sim``): (passed, failed or
    timeout; seconds; the failure line)."""
    cmd = [sys.executable, "-m", "mpgemm.sim.runner", "--rtl-dir", str(rtl_dir),
           "--designs", name, "--sim", "icarus", "--seed", str(seed), "--vectors", str(vectors),
           "-j", "1", "--json", str(work / "result.json"), "--build-dir", str(work / "build")]
    t0 = time.monotonic()
    code, out, err = _run(cmd, work, timeout)
    seconds = time.monotonic() - t0
    if code is None:
        return "timeout", seconds, f"no verdict within {timeout:.0f} s"
    if code == 0:
        return "passed", seconds, ""
    lines = [ln for ln in out.splitlines() if ln.startswith("FAIL")] or err.strip().splitlines()
    return "failed", seconds, (lines[-1] if lines else f"exit {code}")[:300]


def _mutant_folder(manifest: dict, name: str, text: str, work: Path) -> Path:
    folder = work / "rtl"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / f"{name}.v").write_text(text)
    entry = dict(manifest["designs"][name])
    (folder / "manifest.json").write_text(json.dumps(
        {"generator": manifest["generator"], "designs": {name: entry}}))
    return folder


def yosys_equivalent(original: Path, mutant: Path, top: str, *, steps: int = 12,
                     timeout: float = 60) -> tuple[bool | None, str]:
    """Whether Yosys proves ``mutant`` equivalent to ``original`` (same outputs for every
    input sequence from every reachable state): a miter of the two, flattened, proved by
    temporal induction of up to ``steps`` steps. True: proved; False: a counterexample;
    None: undecided (induction did not close, or the time ran out)."""
    yosys = find_yosys()
    work = mutant.parent
    script = work / "equiv.ys"
    # Each side is elaborated and flattened on its own (their submodules share names), then
    # both go into one design for the miter.
    side = [f"hierarchy -top {top}", "proc", "flatten", "opt_clean"]
    script.write_text("\n".join([
        f"read_verilog -sv {original.name}", *side, f"rename {top} gold", "design -stash gold",
        f"read_verilog -sv {mutant.name}", *side, f"rename {top} gate", "design -stash gate",
        "design -copy-from gold -as gold gold",
        "design -copy-from gate -as gate gate",
        "miter -equiv -flatten -make_assert -ignore_gold_x gold gate miter",
        "hierarchy -top miter",
        f"sat -verify -tempinduct -prove-asserts -set-init-zero -maxsteps {steps} miter",
    ]) + "\n")
    code, out, err = _run([*yosys.argv, "-s", script.name], work, timeout)
    (work / "equiv.log").write_text(out + err)
    if code is None:
        return None, f"Yosys did not decide within {timeout:.0f} s"
    if code == 0:
        return True, f"proved equivalent by temporal induction (Yosys sat, <= {steps} steps)"
    started = re.findall(r"\[base case (\d+)\] Solving", out)
    proven = re.findall(r"Base case for induction length (\d+) proven", out)
    if started and started[-1] not in proven:
        # -verify stops at the first base case with a model: outputs that differ.
        return False, (f"Yosys found inputs that tell them apart within {started[-1]} cycles "
                       "of reset: behaviour the test does not check")
    bound = f"; no difference within {proven[-1]} cycles of reset" if proven else ""
    return None, f"undecided: induction did not close{bound}"

def _sample(design: str, text: str, per_design: int, seed: int) -> tuple[int, list[Mutant]]:
    """All mutants of ``text`` and a fixed-seed sample of ``per_design`` of them."""
    every = mutants_of(design, text)
    rng = random.Random(f"{seed}:{design}")
    picked = sorted(rng.sample(range(len(every)), min(per_design, len(every))))
    return len(every), [every[i] for i in picked]


def run_mutants(designs: Sequence[str], *, rtl_dir: Path, work_root: Path, per_design: int,
                seed: int, vectors: int, jobs: int, equivalence: bool = True,
                progress: bool = True) -> dict[str, Any]:
    """Sample, simulate and judge mutants of ``designs`` (names in ``rtl_dir``'s manifest);
    returns the report (see the module docstring)."""
    manifest = load_manifest(rtl_dir)
    unknown = [d for d in designs if d not in manifest["designs"]]
    if unknown:
        raise ValueError(f"unknown design(s) {', '.join(map(repr, unknown))} in {rtl_dir}")
    texts = {d: (rtl_dir / manifest["designs"][d]["file"]).read_text() for d in designs}
    samples = {d: _sample(d, texts[d], per_design, seed) for d in designs}

    def baseline(design: str) -> tuple[str, float, str]:
        work = work_root / design / "original"
        work.mkdir(parents=True, exist_ok=True)
        folder = _mutant_folder(manifest, design, texts[design], work)
        return _simulate(folder, design, seed=seed, vectors=vectors, timeout=1800, work=work)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        base = dict(zip(designs, pool.map(baseline, designs), strict=True))
    broken = {d: b for d, b in base.items() if b[0] != "passed"}
    if broken:
        raise RuntimeError("the unmutated designs must pass first: " + "; ".join(
            f"{d}: {b[0]} {b[2]}" for d, b in broken.items()))

    jobs_list = [(d, i, m) for d in designs for i, m in enumerate(samples[d][1])]

    def judge(job: tuple[str, int, Mutant]) -> Verdict:
        design, index, mutant = job
        work = work_root / design / f"m{index:03d}"
        work.mkdir(parents=True, exist_ok=True)
        folder = _mutant_folder(manifest, design, apply_mutant(texts[design], mutant), work)
        timeout = max(60.0, 4 * base[design][1] + 30)
        status, seconds, detail = _simulate(folder, design, seed=seed, vectors=vectors,
                                            timeout=timeout, work=work)
        verdict = {"failed": "killed", "timeout": "timeout", "passed": "survived"}[status]
        how = None
        rule = next((r for r in JUDGED_EQUIVALENT
                     if r.matches(mutant, _next_line(texts[design], mutant))), None)
        if verdict == "survived" and rule is not None:
            verdict, how, detail = "equivalent", "judged", f"judged equivalent ({rule.name})"
        elif verdict == "survived" and equivalence:
            (work / "original.v").write_text(texts[design])
            shutil.copyfile(folder / f"{design}.v", work / "mutant.v")
            proved, why = yosys_equivalent(work / "original.v", work / "mutant.v", design)
            detail = why
            if proved:
                verdict, how = "equivalent", "proved"
        if progress:
            print(f"{verdict:10s} {mutant.id}  ({seconds:.1f} s) {detail[:80]}", flush=True)
        shutil.rmtree(work / "build", ignore_errors=True)
        return Verdict(mutant, verdict, round(seconds, 2), detail, how)

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        verdicts = list(pool.map(judge, jobs_list))
    counts = {s: sum(v.status == s for v in verdicts)
              for s in ("killed", "timeout", "survived", "equivalent")}
    detected = counts["killed"] + counts["timeout"]
    judged = detected + counts["survived"]
    rules = []
    for r in JUDGED_EQUIVALENT:
        hits = [v for v in verdicts
                if r.matches(v.mutant, _next_line(texts[v.mutant.design], v.mutant))]
        rules.append({**{k: v for k, v in asdict(r).items() if k not in ("check", "design")},
                      "checked": r.check is not None,
                      "design_checked": r.design is not None,
                      "judged_equivalent": sum(v.equivalence == "judged" for v in hits),
                      # Killed mutants of a rule's class: the rule's reasoning is wrong.
                      "contradicted": [v.mutant.id for v in hits
                                       if v.status in ("killed", "timeout")]})
    return {
        "seed": seed, "vectors": vectors, "per_design": per_design, "simulator": "icarus",
        "wall_seconds": round(time.monotonic() - t0, 1),
        "summary": {"sampled": len(verdicts), **counts,
                    "equivalent_proved": sum(v.equivalence == "proved" for v in verdicts),
                    "equivalent_judged": sum(v.equivalence == "judged" for v in verdicts),
                    "score": round(detected / judged, 4) if judged else None,
                    "score_means": "(killed + timeout) / (sampled - equivalent)"},
        "judged_equivalent_rules": rules,
        "designs": {d: {"candidates": samples[d][0], "sampled": len(samples[d][1]),
                        "baseline_s": round(base[d][1], 2),
                        "killed": sum(v.status in ("killed", "timeout") for v in verdicts
                                      if v.mutant.design == d),
                        "survived": sum(v.status == "survived" for v in verdicts
                                        if v.mutant.design == d)}
                    for d in designs},
        "mutants": [{**asdict(v.mutant), "id": v.mutant.id, "status": v.status,
                     "equivalence": v.equivalence, "seconds": v.seconds, "detail": v.detail}
                    for v in verdicts],
    }


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="mpgemm mutate", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rtl-dir", default=str(ROOT / "rtl_out"))
    ap.add_argument("--designs", default=",".join(DEFAULT_DESIGNS),
                    help="comma-separated designs (default: every family's PEs and the small "
                    "accelerators)")
    ap.add_argument("--per-design", type=int, default=6, help="mutants sampled per design")
    ap.add_argument("--seed", type=int, default=1, help="sampling and stimulus seed (fixed)")
    ap.add_argument("--vectors", type=int, default=1000, help="random beats per PE run")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--no-equivalence", action="store_true",
                    help="skip the Yosys equivalence check of surviving mutants")
    ap.add_argument("--out", default=str(ROOT / "reports" / "mutate.json"))
    ap.add_argument("--work", default=str(ROOT / "build" / "mutate"))
    args = ap.parse_args(argv)
    if not 1 <= args.per_design <= 10_000:
        ap.error(f"--per-design must be in [1, 10000], not {args.per_design}")
    if not 1 <= args.jobs <= 64:
        ap.error(f"-j/--jobs must be in [1, 64], not {args.jobs}")
    if not 1 <= args.vectors <= 10**6:
        ap.error(f"--vectors must be in [1, 1000000], not {args.vectors}")
    designs = [d for d in args.designs.split(",") if d]
    if not designs:
        ap.error("--designs names no design")
    try:
        check_writable_file(args.out, "--out")
        work = Path(args.work)
        if work.exists():
            shutil.rmtree(work)
        report = run_mutants(designs, rtl_dir=Path(args.rtl_dir), work_root=work,
                             per_design=args.per_design, seed=args.seed, vectors=args.vectors,
                             jobs=args.jobs, equivalence=not args.no_equivalence)
    except USER_ERRORS as e:
        return print_user_error(ap.prog, e)
    atomic_write_text(args.out, json.dumps(report, indent=2, allow_nan=False) + "\n")
    s = report["summary"]
    print(f"{s['sampled']} mutants of {len(designs)} designs: {s['killed']} killed, "
          f"{s['timeout']} timed out, {s['equivalent']} equivalent ({s['equivalent_proved']} "
          f"proved, {s['equivalent_judged']} judged), {s['survived']} survived; "
          + ("no mutant left to score" if s["score"] is None
             else f"score {s['score']:.1%} of the non-equivalent ones") + f"; report: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
