"""The mutation-testing tool (`make mutate`): its mutants, its verdicts, its equivalence check."""

import json
import shutil

import pytest

from mpgemm.hw.flow.generate import RTL_DIR
from mpgemm.sim import mutate
from mpgemm.sim.mutate import DEFAULT_DESIGNS, apply_mutant, mutants_of, yosys_equivalent

TEXT = r"""module top(input clk, input rst, input [3:0] a, input [3:0] b, output [3:0] y);
  wire [3:0] \$1 ;
  wire [3:0] \a+b ;
  assign \$1  = a + b;
  assign \a+b  = ~a;
  assign y = \$1 [0] ? \a+b  : 4'h6;
  always @* begin
    if (\$auto$verilog_backend.cc:1:x$1 ) begin end
    if (rst) begin
    end
    if (a == b) begin
    end
  end
endmodule
"""


def test_mutants_of_a_small_text():
    found = {(m.line, m.operator): m.mutated.strip() for m in mutants_of("top", TEXT)}
    assert found == {
        (4, "+ -> -"): r"assign \$1  = a - b;",
        (5, "drop ~"): r"assign \a+b  = a;",
        (6, "swap ?:"): r"assign y = \$1 [0] ? 4'h6 : \a+b ;",
        (6, "const lsb"): r"assign y = \$1 [0] ? \a+b  : 4'h7;",
        (11, "negate if"): "if (!(a == b)) begin",
        (11, "== -> !="): "if (a != b) begin",
    }
    # Names are never mutated (the '+' inside \a+b), nor the back end's placeholder ifs or
    # the reset.


def test_no_mutants_of_unread_wires():
    """An assignment to a wire nothing reads (the back end keeps some) has no mutant; ports and
    read wires keep theirs."""
    text = TEXT.replace("  assign y = ", "  wire [3:0] \\dead ;\n  assign \\dead  = a - b;\n"
                        "  assign y = ")
    found = {(m.original.strip(), m.operator) for m in mutants_of("top", text)}
    assert not any(orig.startswith("assign \\dead") for orig, _ in found)
    assert ("assign y = \\$1 [0] ? \\a+b  : 4'h6;", "swap ?:") in found
    assert ("assign \\$1  = a + b;", "+ -> -") in found
    # ... nor one of a wire that only unread wires read (transitively), while a wire read by
    # both an unread and a read assignment keeps its mutants.
    chain = TEXT.replace("  assign y = ", "  wire \\c1 ;\n  wire \\c2 ;\n  wire \\c3 ;\n"
                         "  assign \\c1  = a > b;\n  assign \\c2  = \\c1  & a[0];\n"
                         "  assign \\c3  = \\c2  | b[0];\n  assign y = ")
    found = {m.original.strip() for m in mutants_of("top", chain)}
    assert not any(orig.startswith(("assign \\c1", "assign \\c2", "assign \\c3"))
                   for orig in found)
    used = chain.replace("\\a+b  : 4'h6;", "\\a+b  : {3'h0, \\c1 };")
    found = {m.original.strip() for m in mutants_of("top", used)}
    assert any(orig.startswith("assign \\c1") for orig in found)
    assert not any(orig.startswith(("assign \\c2", "assign \\c3")) for orig in found)


def test_apply_mutant_changes_one_line_and_checks_it():
    m = next(m for m in mutants_of("top", TEXT) if m.operator == "+ -> -")
    out = apply_mutant(TEXT, m)
    diff = [(a, b) for a, b in zip(TEXT.split("\n"), out.split("\n"), strict=True) if a != b]
    assert diff == [(m.original, m.mutated)]
    with pytest.raises(ValueError, match="does not match line 4"):
        apply_mutant(TEXT.replace("a + b", "a & b"), m)


def test_every_default_design_exists_and_has_mutants():
    manifest = json.loads((RTL_DIR / "manifest.json").read_text())
    kinds = set()
    for name in DEFAULT_DESIGNS:
        entry = manifest["designs"][name]
        kinds.add(entry["config"]["kind"])
        assert len(mutants_of(name, (RTL_DIR / entry["file"]).read_text())) >= 5
    assert kinds >= {"int_mac", "fp16_mac", "dequant_mac", "bitserial", "lut", "mixpe", "accel"}


def test_sampling_is_fixed_by_the_seed():
    text = (RTL_DIR / "mixpe_w4a8.v").read_text()
    a = mutate._sample("mixpe_w4a8", text, 8, seed=1)
    b = mutate._sample("mixpe_w4a8", text, 8, seed=1)
    c = mutate._sample("mixpe_w4a8", text, 8, seed=2)
    assert a == b and a[1] != c[1] and len(a[1]) == 8


EQUIV_GOLD = """module top(input clk, input [3:0] a, input [3:0] b, output reg [3:0] y);
  wire [3:0] s;
  wire [3:0] unused;
  assign s = a + b;
  assign unused = a - b;
  always @(posedge clk) y <= s;
endmodule
"""


@pytest.mark.synth
@pytest.mark.parametrize("change, expected", [
    (("a - b", "a + b"), True),      # dead logic: no output depends on it
    (("a + b", "b + a"), True),      # the same function
    (("a + b", "a - b"), False),     # a real change
])
def test_yosys_equivalence(tmp_path, change, expected):
    (tmp_path / "original.v").write_text(EQUIV_GOLD)
    old, new = change
    text = EQUIV_GOLD.replace(f"unused = {old}", f"unused = {new}") if old == "a - b" else \
        EQUIV_GOLD.replace(f"s = {old}", f"s = {new}")
    assert text != EQUIV_GOLD
    (tmp_path / "mutant.v").write_text(text)
    proved, why = yosys_equivalent(tmp_path / "original.v", tmp_path / "mutant.v", "top")
    assert proved is expected or (not expected and proved is False), why


@pytest.mark.sim
@pytest.mark.synth
def test_run_mutants_end_to_end(tmp_path):
    """Two mutants of the smallest PE, simulated with its own testbench: both killed (an
    integer MAC whose adder subtracts, or whose accumulator clears, cannot pass)."""
    report = mutate.run_mutants(["int_mac_w8a8_l1"], rtl_dir=RTL_DIR, work_root=tmp_path,
                                per_design=2, seed=1, vectors=50, jobs=2, progress=False)
    assert report["summary"]["sampled"] == 2
    assert report["summary"]["killed"] + report["summary"]["timeout"] == 2
    assert report["summary"]["score"] == 1.0
    assert {m["status"] for m in report["mutants"]} <= {"killed", "timeout"}
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_cli_errors_are_one_line(capsys, tmp_path):
    for argv, message in ((["--per-design", "0"], "--per-design must be in [1, 10000]"),
                          (["--designs", ","], "--designs names no design"),
                          (["--designs", "nope", "--out", str(tmp_path / "m.json")],
                           "unknown design(s) 'nope'"),
                          (["--out", str(tmp_path)], "--out")):
        try:
            code = mutate.main(argv)
        except SystemExit as e:
            code = e.code
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err, err


def _fp16_mac_mutants():
    text = (RTL_DIR / "fp16_mac.v").read_text()
    return text, mutants_of("fp16_mac", text)


def _judged(text, mutant):
    return [r.name for r in mutate.JUDGED_EQUIVALENT
            if r.matches(mutant, mutate._next_line(text, mutant))]


def test_judged_rules_match_only_their_class():
    """Each rule names a class that exists in the generated RTL (a stale rule fails here) and
    nothing else: not another operator on the same line, nor any integer design's mutant."""
    text, every = _fp16_mac_mutants()
    fp = [(t, m) for d in ("fp16_mac", "mixpe_w8a16_int", "lut_w2_fp16")
          for t in [(RTL_DIR / f"{d}.v").read_text()] for m in mutants_of(d, t)]
    for rule in mutate.JUDGED_EQUIVALENT:
        if rule.design is not None:
            continue    # the bit-serial PEs' classes: test_bitserial_order_rules
        hits = [m for t, m in fp if rule.matches(m, mutate._next_line(t, m))]
        assert hits, f"rule {rule.name} matches no mutant of the FP designs"
        assert {m.operator for m in hits} == {rule.operator}
    # The operand multiplexers of the same adder are real faults, not ties.
    assert not any(_judged(text, m) for m in every if m.operator == "swap ?:")
    for design in ("int_mac_w8a8", "lut_w2_a8"):
        other = (RTL_DIR / f"{design}.v").read_text()
        assert not any(_judged(other, m) for m in mutants_of(design, other))


def test_bitserial_order_rules():
    """The term and dequantizer counters' direction is judged only in bit-serial PEs that add
    exactly (integer activations) over a counter's full power-of-two range: both counters in
    the INT4 x INT8 PE, only the dequantizer's in the FP4 one (its sparse terms walk the
    magnitude) and the INT6 one (three terms), neither in an FP16-activation PE."""
    def judged(design):
        text = (RTL_DIR / f"{design}.v").read_text()
        return sorted({n for m in mutants_of(design, text) for n in _judged(text, m)})

    both = ["bitserial_dequant_order", "bitserial_term_order"]
    assert judged("bitserial_int4_a8") == both
    assert judged("bitserial_int4_bitplane_a8") == both
    assert judged("bitserial_bitmod_fp4_a8") == ["bitserial_dequant_order"]
    assert judged("bitserial_int6_a8") == ["bitserial_dequant_order"]
    assert "step" in (RTL_DIR / "bitserial_int4_fp16.v").read_text()
    assert not any(n.startswith("bitserial_") for n in judged("bitserial_int4_fp16"))
    assert judged("bitserial_all_a8") == ["bitserial_dequant_order"]   # 18 formats


def test_clamp_rule_needs_its_multiplexer():
    """A compare against a constant is judged a clamp boundary only when the next line is the
    clamp's multiplexer with the same constant and operand, and (const lsb) an odd constant."""
    def verdict(line, nxt, op):
        return _judged(f"{line}\n{nxt}\n", mutate.Mutant("t", 1, 0, op, line, ""))

    line = "  assign \\$20  = \\$19 [7:0] > 5'h1b;"
    clamp = "  assign \\$21  = \\$20  ? 8'h1b : \\$19 [7:0];"
    assert verdict(line, clamp, "> -> >=") == ["clamp_boundary"]
    assert verdict(line, clamp, "const lsb") == ["clamp_boundary_constant"]
    # (the clamp's target may be a plain name)
    assert verdict(line, clamp.replace("\\$21 ", "dist2"), "> -> >=") == ["clamp_boundary"]
    assert verdict(line, clamp.replace("8'h1b", "8'h1a"), "> -> >=") == []
    assert verdict(line, clamp.replace("\\$19 [7:0];", "\\$18 [7:0];"), "> -> >=") == []
    even = line.replace("5'h1b", "5'h1a")
    assert verdict(even, clamp.replace("8'h1b", "8'h1a"), "const lsb") == []
    assert verdict(line, "  assign \\$21  = \\$20 ;", "> -> >=") == []


def test_signed_floor_rule_needs_the_same_value():
    """(x < K) ? K : x with the selected constant K sign-extended to another width: judged
    only when both constants are one signed value and the operand is the compared one."""
    def verdict(line, nxt):
        return _judged(f"{line}\n{nxt}\n", mutate.Mutant("t", 1, 0, "< -> <=", line, ""))

    line = "  assign \\$123  = $signed(q_round7) < $signed(8'h81);"
    floor = "  assign \\$124  = \\$123  ? 9'h181 : q_round7;"
    assert verdict(line, floor) == ["signed_floor_boundary"]
    assert verdict(line, floor.replace("9'h181", "9'h081")) == []   # +129, not -127
    assert verdict(line, floor.replace("9'h181", "9'h180")) == []
    assert verdict(line, floor.replace(": q_round7", ": q_round6")) == []
    assert _judged(f"{line}\n{floor}\n",
                   mutate.Mutant("t", 1, 0, "const lsb", line, "")) == []


@pytest.mark.sim
def test_judged_mutant_is_reported_as_such(tmp_path, monkeypatch):
    """A surviving mutant of a judged class is counted as equivalent, says so, and the rule's
    entry counts it; a killed one of the same run is not touched."""
    _, every = _fp16_mac_mutants()
    tie = next(m for m in every if mutate.JUDGED_EQUIVALENT[0].matches(m))
    sign = next(m for m in every if m.operator == "drop !" or m.operator == "^ -> |")
    monkeypatch.setattr(mutate, "_sample", lambda d, t, n, s: (len(every), [tie, sign]))
    report = mutate.run_mutants(["fp16_mac"], rtl_dir=RTL_DIR, work_root=tmp_path,
                                per_design=2, seed=1, vectors=200, jobs=2, progress=False)
    by_id = {m["id"]: m for m in report["mutants"]}
    assert by_id[tie.id]["status"] == "equivalent"
    assert by_id[tie.id]["equivalence"] == "judged"
    assert by_id[sign.id]["status"] in ("killed", "timeout")
    assert report["summary"]["equivalent_judged"] == 1
    rule = report["judged_equivalent_rules"][0]
    assert rule["judged_equivalent"] == 1 and rule["contradicted"] == []
    assert "tie" in rule["reason"]
    shutil.rmtree(tmp_path, ignore_errors=True)
