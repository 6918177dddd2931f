"""The `mpgemm` command line: queries work, bad input gets a clear message and exit status 2."""

import json
import shutil

import pytest

from mpgemm.costmodel import GemmWorkload, compare_arrays, evaluate
from mpgemm.hw.array.presets import ARRAY_PRESETS, PAPER_ARRAYS
from mpgemm.hw.flow.cli import main
from mpgemm.hw.flow.generate import MANIFEST, RTL_DIR
from mpgemm.pe_designs.presets import PRESETS


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_presets_lists_every_preset(capsys):

    code, out, _ = run(capsys, "presets")
    assert code == 0
    for name in PRESETS:
        assert name in out


def test_cost_gemm_json_matches_python_api(capsys):

    code, out, _ = run(capsys, "cost", "--preset", "int_mac_w8a8", "--M", "4", "--N", "8",
                       "--K", "64", "--json")
    assert code == 0
    data = json.loads(out)
    direct = evaluate(PRESETS["int_mac_w8a8"], GemmWorkload(4, 8, 64, "int8", "int8"))
    assert data["total"]["latency_cycles"] == direct.latency_cycles
    assert data["total"]["energy_pj"] == pytest.approx(direct.energy_pj)


def test_cost_from_config_file_and_llm(capsys, tmp_path):
    cfg = tmp_path / "pe.json"
    cfg.write_text(json.dumps({"kind": "dequant_mac", "weight_bits": 4, "lanes": 2,
                               "group_size": 64}))
    code, out, _ = run(capsys, "cost", "--config", str(cfg), "--llm", "512,1024,8",
                       "--tokens", "16", "--phase", "decode")
    assert code == 0
    assert "decode.qkv" in out and "total:" in out


@pytest.mark.parametrize("argv, message", [
    (["cost", "--preset", "nope", "--M", "1", "--N", "1", "--K", "1"],
     "error: unknown preset 'nope'; allowed: "),
    (["cost", "--M", "1", "--N", "1", "--K", "1"],
     "error: give exactly one of --preset NAME or --config FILE.json"),
    (["cost", "--preset", "int_mac_w8a8", "--M", "1"],
     "error: give --M, --N and --K (missing: N, K) or --llm"),
    (["cost", "--preset", "dequant_mac_w4a16", "--M", "1", "--N", "8", "--K", "100"],
     "error: group_size=128 must divide K=100"),
    (["cost", "--preset", "int_mac_w8a8", "--llm", "4096,11008", "--tokens", "4"],
     "error: --llm must be HIDDEN,INTERMEDIATE,HEADS"),
    (["cost", "--config", "/nonexistent.json", "--M", "1", "--N", "1", "--K", "1"],
     "error: --config '/nonexistent.json': no such file"),
])
def test_cost_errors(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_bad_config_file_contents(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    code, _, err = run(capsys, "cost", "--config", str(bad), "--M", "1", "--N", "1", "--K", "1")
    assert code == 2 and "is not valid JSON" in err
    bad.write_text(json.dumps({"kind": "int_mac", "lanes": 0}))
    code, _, err = run(capsys, "cost", "--config", str(bad), "--M", "1", "--N", "1", "--K", "1")
    assert code == 2 and "lanes must be in [1, 64], not 0" in err


@pytest.mark.parametrize("argv, message", [
    (["cost", "--preset", "int_mac_w8a8", "--M", "1", "--N", "1", "--K", "4", "--llm", "1,2,3"],
     "error: give either --M/--N/--K or --llm, not both"),
    (["cost", "--preset", "int_mac_w8a8", "--M", "1", "--N", "1", "--K", "4", "--tokens", "3"],
     "error: --tokens and --phase apply only to --llm queries"),
    (["cost", "--preset", "int_mac_w8a8", "--llm", "8,16,2"], "error: --llm needs --tokens"),
    (["cost", "--config", "/", "--M", "1", "--N", "1", "--K", "1"],
     "error: --config '/' is a folder, not a file"),
    (["sim", "--designs", "nope"], "error: unknown design(s) 'nope'"),
])
def test_more_cost_and_passthrough_errors(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


@pytest.mark.synth  # Verilator lint
def test_lint_subcommand_takes_its_rtl_dir(capsys, tmp_path):
    """`mpgemm lint --rtl-dir` lints the folder given (a copy of two committed designs; every
    design's lint is test_lint's)."""
    manifest = json.loads((RTL_DIR / MANIFEST).read_text())
    keep = ["int_mac_w8a8", "array_int_mac_os_4x4"]
    manifest["designs"] = {n: manifest["designs"][n] for n in keep}
    for name in keep:
        shutil.copy(RTL_DIR / f"{name}.v", tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    code, out, _ = run(capsys, "lint", "--rtl-dir", str(tmp_path))
    assert code == 0 and "2 clean, 0 failing" in out
    assert [line.split()[1] for line in out.splitlines()[:2]] == keep


def test_passthrough_subcommands_take_their_options(capsys):

    with pytest.raises(SystemExit) as e:
        main(["sim", "--help"])
    assert e.value.code == 0
    assert "--vectors" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["sim", "--seed", "-1"])
    assert "--seed must be in [0, 2**63), not -1" in capsys.readouterr().err


def test_config_file_without_kind(capsys, tmp_path):
    cfg = tmp_path / "pe.json"
    cfg.write_text(json.dumps({"lanes": 2}))
    code, _, err = run(capsys, "cost", "--config", str(cfg), "--M", "1", "--N", "1", "--K", "1")
    assert code == 2 and "config needs a 'kind' key; allowed kinds: " in err


def test_argparse_rejects_non_positive_sizes(capsys):
    with pytest.raises(SystemExit) as e:
        main(["cost", "--preset", "int_mac_w8a8", "--M", "0", "--N", "1", "--K", "1"])
    assert e.value.code == 2
    assert "--M must be a positive integer, not 0" in capsys.readouterr().err


@pytest.mark.synth
def test_compare_at_equal_throughput(capsys, tmp_path):
    synth = tmp_path / "synth"
    synth.mkdir()
    (synth / "lut_w2_a8.json").write_text(json.dumps({"generic": {"cells": 1000}}))
    assert main(["compare", "--presets", "lut_w2_a8,int_mac_w4a8,int_mac_w8a8", "--weights",
                 "uint2,uint4", "--target", "32", "--synth-dir", str(synth)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {tuple(line.split()[:2]): line.split() for line in lines[2:]}
    # uint4 does not fit the W4A8 MAC's signed 4-bit operand; the LUT tile only has uint2.
    assert set(rows) == {("uint2", "lut_w2_a8"), ("uint2", "int_mac_w4a8"),
                         ("uint2", "int_mac_w8a8"), ("uint4", "int_mac_w8a8")}
    lut = rows[("uint2", "lut_w2_a8")]
    # 2 x 4 x 4 MACs per beat of 2 plane cycles: 16 per cycle, so 2 tiles give 32.
    assert lut[2:5] == ["2", "16.00", "2.00"] and lut[-1] == "2000"
    assert rows[("uint2", "int_mac_w4a8")][-1] == "-"
    assert main(["compare", "--presets", "nope"]) == 2
    assert "unknown preset(s) 'nope'" in capsys.readouterr().err
    assert main(["compare", "--act", "bf16", "--weights", "ternary", "--presets",
                 "lut_w1_a8"]) == 2
    assert "none of the presets runs bf16 activations" in capsys.readouterr().err


def test_cost_of_a_mixpe_preset_and_config_file(capsys, tmp_path):
    """A MixPE design costs with its own operand formats and group size by default."""

    code, out, _ = run(capsys, "cost", "--preset", "mixpe_w4a16", "--M", "1", "--N", "64",
                       "--K", "256", "--json")
    assert code == 0
    direct = evaluate(PRESETS["mixpe_w4a16"], GemmWorkload(1, 64, 256, "fp16", "uint4", 128))
    assert json.loads(out)["total"]["energy_pj"] == pytest.approx(direct.energy_pj)
    cfg = tmp_path / "mixpe.json"
    cfg.write_text(json.dumps({"kind": "mixpe", "weight_bits": 3, "weight_signed": True,
                               "group_size": 64}))
    code, out, _ = run(capsys, "cost", "--config", str(cfg), "--M", "2", "--N", "8", "--K", "128")
    assert code == 0 and "total:" in out
    cfg.write_text(json.dumps({"kind": "mixpe", "weight_bits": 9}))
    code, _, err = run(capsys, "cost", "--config", str(cfg), "--M", "2", "--N", "8", "--K", "128")
    assert code == 2 and "weight_bits must be in [2, 8], not 9" in err


# --- compare-arrays ------------------------------------------------------------------------

THREE_ARRAYS = "array_int_mac_os_16x16,array_fp16_mac_os_8x8,array_dequant_mac_ws_8x8"


def _no_nan(text):
    raise ValueError(f"JSON output contains {text}")


def test_compare_arrays_json_matches_the_python_api(capsys):
    for mode in ("throughput", "area"):
        code, out, err = run(capsys, "compare-arrays", "--presets", THREE_ARRAYS, "--M", "16",
                             "--N", "16", "--K", "128", "--mode", mode, "--json")
        assert code == 0 and err == ""
        data = json.loads(out, parse_constant=_no_nan)
        names = THREE_ARRAYS.split(",")
        direct = compare_arrays({n: ARRAY_PRESETS[n] for n in names}, 16, 16, 128, mode=mode)
        assert [r["design"] for r in data["rows"]] == names
        assert data["gemm"] == {"M": 16, "N": 16, "K": 128} and data["skipped"] == {}
        for row, want in zip(data["rows"], direct, strict=True):
            assert row["scaled_area_um2"] == pytest.approx(want.scaled_area_um2)
            assert row["scaled_macs_per_cycle"] == pytest.approx(want.scaled_macs_per_cycle)
            assert row["energy_per_mac_pj"] == pytest.approx(want.energy_per_mac_pj)
            assert row["area_by_category_um2"]["buffers"] is None
        # The first preset is the baseline: the target is its own throughput or area.
        assert data["rows"][0]["copies"] == 1.0
        key = "scaled_macs_per_cycle" if mode == "throughput" else "scaled_area_um2"
        assert all(r[key] == pytest.approx(data["target"]) for r in data["rows"])


def test_compare_arrays_takes_the_papers_shapes(capsys):
    # The papers' arrays are cost-model configs (PAPER_ARRAYS), named like the presets.
    code, out, err = run(capsys, "compare-arrays", "--presets", "int8_32x32,mixpe_w4a8_64x64",
                         "--M", "64", "--N", "64", "--K", "512", "--mode", "area", "--json")
    assert code == 0 and err == ""
    rows = json.loads(out, parse_constant=_no_nan)["rows"]
    direct = compare_arrays({n: PAPER_ARRAYS[n] for n in ("int8_32x32", "mixpe_w4a8_64x64")},
                            64, 64, 512, mode="area")
    assert [(r["rows"], r["cols"]) for r in rows] == [(32, 32), (64, 64)]
    for row, want in zip(rows, direct, strict=True):
        assert row["scaled_macs_per_cycle"] == pytest.approx(want.scaled_macs_per_cycle)


def test_compare_arrays_table_lists_skipped_presets(capsys):
    code, out, _ = run(capsys, "compare-arrays", "--M", "16", "--N", "16", "--K", "128",
                       "--mode", "area", "--target", "1e5")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("equal area: 100000 um2 of logic on M=16 N=16 K=128 (28nm")
    assert lines[1].split()[:3] == ["design", "array", "cycles"]
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.startswith("array_")}
    # The 4x4 FP16 weight-stationary array's activation buffer holds 256 words, the GEMM
    # needs 32 folds x 16 rows.
    assert "array_fp16_mac_ws_4x4" not in rows
    assert ("cannot run this GEMM: array_fp16_mac_ws_4x4: M=16, N=16, K=128 needs 512 words "
            "of the a buffer, more than a_depth=256") in lines
    assert {r[-3] for r in rows.values()} == {"100000"}  # every design scaled to the area


@pytest.mark.parametrize("argv, message", [
    (["--presets", "nope", "--M", "1", "--N", "1", "--K", "1"],
     "error: unknown array preset(s) 'nope'; allowed: array_int_mac_os_4x4, "),
    (["--M", "1", "--N", "1"], "error: give --M, --N and --K (missing: K)"),
    (["--M", "0", "--N", "1", "--K", "1"], "error: --M must be a positive integer, not 0"),
    (["--M", "x", "--N", "1", "--K", "1"], "error: --M must be a positive integer, not 'x'"),
    (["--M", "1", "--N", "1", "--K", "4", "--mode", "power"],
     "error: --mode must be one of throughput, area, not 'power'"),
    (["--M", "1", "--N", "1", "--K", "4", "--target", "lots"],
     "error: --target must be a number, not 'lots'"),
    (["--M", "1", "--N", "1", "--K", "4", "--target", "-1"],
     "error: target must be a finite number in (0, 1e+15] (useful MACs per cycle), not -1.0"),
    (["--M", "1", "--N", "1", "--K", "4", "--target", "inf"],
     "error: target must be a finite number in (0, 1e+15] (useful MACs per cycle), not inf"),
    (["--M", "1", "--N", "1", "--K", "4", "--tech", "7"],
     "error: --tech must be one of 28, 45, not '7'"),
    (["--presets", "array_fp16_mac_ws_4x4", "--M", "16", "--N", "16", "--K", "128"],
     "error: design 'array_fp16_mac_ws_4x4' cannot run this GEMM: M=16, N=16, K=128 needs 512 "
     "words of the a buffer, more than a_depth=256"),
    (["--M", "1", "--N", "1", "--K", "65536"], "error: no array preset runs M=1, N=1, "
     "K=65536 (e.g. array_int_mac_os_4x4: K=65536 exceeds 4096, the longest sum"),
])
def test_compare_arrays_errors_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, "compare-arrays", *argv)
    assert code == 2 and out == ""
    assert err.startswith("mpgemm compare-arrays: " + message) and err.count("\n") == 1
