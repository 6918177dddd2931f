"""cocotb on the generated Verilog in rtl_out/, on Icarus and on Verilator, and a broken design.

These run the same runner as `make sim` (sim.runner), so a pass here is a pass there.
"""

import json
import shutil

import pytest

from mpgemm.hw.flow.generate import MANIFEST, RTL_DIR, load_manifest
from mpgemm.sim.runner import run_design

pytestmark = pytest.mark.sim  # cocotb on Icarus and Verilator

DESIGNS = load_manifest(RTL_DIR)["designs"]


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_rtl_out_design_passes(name, simulator, seed, n_vectors, tmp_path):
    result = run_design(name, DESIGNS[name], RTL_DIR, simulator=simulator, vectors=n_vectors,
                        seed=seed, build_root=tmp_path)
    print(result.line())
    assert result.passed, result.line()
    assert result.vectors >= n_vectors


def _break_adder(text: str) -> str:
    """Turn the integer MAC's accumulate adder into a subtractor."""
    needle = "assign \\$4  = $signed(\\$2 ) + $signed(\\$3 );"
    assert needle in text, "the accumulate adder moved: update this test's needle"
    return text.replace(needle, needle.replace(" + ", " - "))


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_broken_rtl_fails_simulation(simulator, tmp_path, seed):
    name = "int_mac_w8a8_l1"
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    entry = DESIGNS[name]
    (rtl / entry["file"]).write_text(_break_adder((RTL_DIR / entry["file"]).read_text()))
    (rtl / MANIFEST).write_text(json.dumps({"designs": {name: entry}}))
    result = run_design(name, entry, rtl, simulator=simulator, vectors=200, seed=seed,
                        build_root=tmp_path / "build")
    assert not result.passed
    assert "mismatches" in result.message


@pytest.mark.slow
def test_make_sim_entry_point_fails_on_broken_rtl(tmp_path, capsys):
    """`python -m sim.runner` (what `make sim` runs) exits non-zero for a broken design."""
    from mpgemm.sim.runner import main

    name = "int_mac_w8a8_l1"
    rtl = tmp_path / "rtl"
    shutil.copytree(RTL_DIR, rtl)
    path = rtl / DESIGNS[name]["file"]
    path.write_text(_break_adder(path.read_text()))
    code = main(["--rtl-dir", str(rtl), "--designs", name, "--vectors", "100", "--seed", "7",
                 "-j", "1", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert f"FAIL {name}" in out


def test_runner_rejects_bad_arguments(tmp_path, capsys):
    from mpgemm.sim.runner import main

    assert main(["--designs", "nope", "--json", str(tmp_path / "r.json")]) == 2
    assert "unknown design(s) 'nope'" in capsys.readouterr().err
    assert main(["--rtl-dir", str(tmp_path), "--json", str(tmp_path / "r.json")]) == 2
    assert "run `make rtl`" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--sim", "modelsim"])


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_broken_mixpe_dequantizer_fails_simulation(simulator, tmp_path, seed):
    """MixPE's D = P - z * A turned into P + z * A: the zero-point corner groups expose it."""
    name = "mixpe_w4a8"
    entry = DESIGNS[name]
    text = (RTL_DIR / entry["file"]).read_text()
    needle = "= $signed(s1_p) - $signed("
    assert text.count(needle) == 1, "the zero-point subtraction moved: update this needle"
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    (rtl / entry["file"]).write_text(text.replace(needle, needle.replace(" - ", " + ")))
    result = run_design(name, entry, rtl, simulator=simulator, vectors=100, seed=seed,
                        build_root=tmp_path / "build")
    assert not result.passed
    assert "mismatches" in result.message
