"""cocotb on the generated Verilog in rtl_out/, on Icarus and on Verilator, and broken designs.

These run the same runner as `make sim` (sim.runner), so a pass here is a pass there. The
streaming testbench's parts that need no simulator (the codec its monitor decodes with, the
model, the scoreboard's comparisons) are checked here too.
"""

import json
import shutil

import numpy as np
import pytest
from source_mutant import source_mutant

from mpgemm.hw.array import accel as accel_mod
from mpgemm.hw.array import mesh
from mpgemm.hw.array.presets import ARRAY_PRESETS
from mpgemm.hw.flow.generate import MANIFEST, RTL_DIR, generate_verilog, load_manifest
from mpgemm.pe_designs.presets import PRESETS
from mpgemm.sim.cocotb.tb_pe import IDLE, BeatCodec, Model
from mpgemm.sim.golden.contract import run_contract
from mpgemm.sim.golden.formats import FloatFormat, get_format
from mpgemm.sim.runner import is_accel, main, run_design
from mpgemm.sim.scoreboard import check_hold, compare_results
from mpgemm.sim.stimulus import random_beats, w_reset

pytestmark = pytest.mark.sim  # cocotb on Icarus and Verilator

DESIGNS = load_manifest(RTL_DIR)["designs"]
PE_DESIGNS = sorted(n for n, e in DESIGNS.items() if not is_accel(e))
#: make test's sample of the accelerators (`make sim` runs every one): integer arrays in both
#: dataflows, a MixPE with its column dequantizers (the shared organisation) and a bit-serial
#: one on Icarus (fast to build), and an FP32-accumulating
#: weight-stationary one on Verilator.
ARRAY_SAMPLE = [("array_int_mac_os_4x4", "icarus"), ("array_int_mac_ws_8x8", "icarus"),
                ("array_int_mac_os_4x4_db", "icarus"),
                ("array_mixpe_w4a8_os_4x4_shared", "icarus"),
                ("array_bitserial_int4_a8_os_4x4", "icarus"),
                ("array_fp16_mac_ws_4x4", "verilator")]


#: make test's Verilator sample of the PEs: one of every family (the widest data-type mixture
#: where there is a choice; `make sim` runs every PE on Icarus; the C++ builds take 15-50 s
#: each on the 2-core machine).
PE_VERILATOR = {"int_mac_w8a8", "fp16_mac_l4", "dequant_mac_w4a16_l4", "bitserial_all_fp16",
                "lut_w2_fp16_fp16tab", "mixpe_w4a16"}
#: ... of which those Icarus runs slowest (30-60 s) make test does not also run on Icarus.
PE_VERILATOR_ONLY = {"bitserial_all_fp16", "lut_w2_fp16_fp16tab"}
#: The PEs make test leaves to `make sim` (25-75 s each here, 15-200 s in make sim): each with
#: the PE in make test's sample that has its organisation and arithmetic (the amaranth.sim
#: variants of test_lut and test_bitserial cover the rest: FP16 tables without
#: symmetrization, BF16 activations).
PE_MAKE_SIM_ONLY = {"lut_all_fp16_fp16tab_nosym": "lut_w2_fp16_fp16tab",
                    "lut_all_fp16": "lut_w2_fp16",
                    "bitserial_all_bf16": "bitserial_all_fp16",
                    "bitserial_mix_fp16": "bitserial_all_fp16"}
PE_RUNS = ([(n, "icarus") for n in PE_DESIGNS
            if n not in PE_VERILATOR_ONLY and n not in PE_MAKE_SIM_ONLY]
           + [(n, "verilator") for n in PE_DESIGNS if n in PE_VERILATOR])


def test_the_pe_sample_covers_every_design_and_family():
    assert PE_VERILATOR <= set(PE_DESIGNS) and set(PE_MAKE_SIM_ONLY) <= set(PE_DESIGNS)
    sampled = {n for n, _ in PE_RUNS}
    assert sampled | set(PE_MAKE_SIM_ONLY) == set(PE_DESIGNS)
    for left, sibling in PE_MAKE_SIM_ONLY.items():
        a, b = PRESETS[left], PRESETS[sibling]
        assert sibling in sampled and type(a) is type(b), (left, sibling)
        # Floating-point activations for floating-point ones (BF16 runs in amaranth.sim).
        floating = [isinstance(get_format(c.act_format), FloatFormat) for c in (a, b)]
        assert floating[0] == floating[1], left
        assert getattr(a, "table_format", None) == getattr(b, "table_format", None), left
    families = {DESIGNS[n]["config"]["kind"] for n in PE_DESIGNS}
    assert {DESIGNS[n]["config"]["kind"] for n in PE_VERILATOR} == families
    assert {DESIGNS[n]["config"]["kind"] for n, sim in PE_RUNS if sim == "icarus"} == families


@pytest.mark.slow
@pytest.mark.parametrize("name, simulator", PE_RUNS)
def test_rtl_out_design_passes(name, simulator, seed, n_vectors, tmp_path):
    # Every corner case and a quarter of the random beats, every PE but PE_MAKE_SIM_ONLY on
    # one simulator at least (`make sim` runs the full MPGEMM_VECTORS, default 1000, on every
    # design); this is make test's sample.
    vectors = max(n_vectors // 4, 1)
    result = run_design(name, DESIGNS[name], RTL_DIR, simulator=simulator, vectors=vectors,
                        seed=seed, build_root=tmp_path)
    print(result.line())
    assert result.passed, result.line()
    assert result.vectors >= vectors


@pytest.mark.slow
@pytest.mark.parametrize("name, simulator", ARRAY_SAMPLE)
def test_rtl_out_array_passes(name, simulator, seed, tmp_path):
    """End-to-end GEMMs (edge tiles, M = 1, the longest K, one random shape) bit-exact, and
    every GEMM's cycle counter equal to the cost model's formula."""
    result = run_design(name, DESIGNS[name], RTL_DIR, simulator=simulator, seed=seed,
                        build_root=tmp_path, shapes=1)
    print(result.line())
    assert result.passed, result.line()
    assert len(result.gemms) >= 5
    assert all(g["cycles"] == g["predicted"] for g in result.gemms)
    # GEMMs back to back: the sequence's cycles are the cost model's, and a double buffer
    # takes fewer than one bank would (a single bank: more than two would).
    q = result.sequence
    assert q is not None and q["cycles"] == q["predicted"], q
    assert q["banks"] == DESIGNS[name]["config"]["double_buffer"] + 1
    assert (q["predicted"] < q["other_banks_predicted"]) == (q["banks"] == 2), q


@pytest.mark.slow
def test_broken_double_buffer_fails_simulation(tmp_path, seed):
    """The double-buffered accelerator generated with its drain reading the bank being
    computed: single GEMMs still pass, the back-to-back sequence does not."""
    name = "array_int_mac_os_4x4_db"
    with source_mutant(accel_mod, "raddr + Mux(d_bank, cfg.o_depth, 0)",
                       "raddr + Mux(bank, cfg.o_depth, 0)") as broken:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(accel_mod.Accelerator, "_drain_db", broken.Accelerator._drain_db)
            text = generate_verilog(ARRAY_PRESETS[name], name)
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    (rtl / f"{name}.v").write_text(text)
    result = run_design(name, DESIGNS[name], rtl, simulator="icarus", seed=seed,
                        build_root=tmp_path / "build", shapes=0)
    assert not result.passed
    assert all(g["cycles"] == g["predicted"] for g in result.gemms)
    assert "mismatches" in result.message


@pytest.mark.slow
def test_broken_array_fails_simulation(tmp_path, seed, monkeypatch):
    """The output-stationary array generated without its row skew (every row's activations
    enter together): the Verilog simulates, and the GEMMs come out wrong."""
    name = "array_int_mac_os_4x4"
    monkeypatch.setattr(mesh.Mesh, "row_skew", property(lambda self: 0))
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    (rtl / f"{name}.v").write_text(generate_verilog(ARRAY_PRESETS[name], name))
    result = run_design(name, DESIGNS[name], rtl, simulator="icarus", seed=seed,
                        build_root=tmp_path / "build", shapes=0)
    assert not result.passed
    assert "mismatches" in result.message


def _break_adder(text: str) -> str:
    """Turn the integer MAC's accumulate adder into a subtractor."""
    needle = "assign \\$4  = \\$3  + { \\$2 [15],"
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
    assert main(["--designs", "nope", "--json", str(tmp_path / "r.json")]) == 2
    assert "unknown design(s) 'nope'" in capsys.readouterr().err
    assert main(["--rtl-dir", str(tmp_path), "--json", str(tmp_path / "r.json")]) == 2
    assert "run `make rtl`" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--sim", "modelsim"])
    with pytest.raises(SystemExit):
        main(["--stream", "bursty"])
    with pytest.raises(SystemExit):
        main(["--gaps", "1.5", "--json", str(tmp_path / "r.json")])
    with pytest.raises(ValueError, match="stream must be one of"):
        run_design("int_mac_w8a8", DESIGNS["int_mac_w8a8"], stream="bursty")


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["icarus"])  # both: test_broken_rtl_fails_simulation
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


# --- the streaming testbench: back-pressure ----------------------------------------------------

#: One multi-cycle preset of each family with o_ready: several weight data types of different
#: beat lengths (bit-serial), and dequantizer stalls after partial groups (LUT).
BACK_PRESSURE = ["bitserial_mix_a16", "lut_w4_a8"]


def _stats(build_root, simulator: str, name: str) -> dict:
    return json.loads((build_root / simulator / name / "stats.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", BACK_PRESSURE)
def test_packed_stream_passes_with_back_pressure(name, tmp_path, seed):
    """The stimulus' idle spacing removed: valid beats back to back, the driver holding each
    one while o_ready is low, and now and then an extra idle cycle."""
    result = run_design(name, DESIGNS[name], RTL_DIR, simulator="icarus", vectors=100,
                        seed=seed, build_root=tmp_path, stream="packed", gaps=0.05)
    print(result.line())
    assert result.passed, result.line()
    stats = _stats(tmp_path, "icarus", name)
    assert stats["stream"] == "packed"
    assert stats["held"] > 0, "no beat ever waited for o_ready: no back-pressure exercised"
    assert stats["inserted"] > 0
    assert stats["results"] == stats["valid_seen"] > 0


_ACCEPT = "assign accept = i_ctl[0] & o_ready;"


@pytest.mark.slow
@pytest.mark.parametrize("name", BACK_PRESSURE)
def test_broken_handshake_fails_packed_stream(name, tmp_path, seed):
    """A PE that takes a valid beat whatever o_ready says (accept = valid): invisible to a
    spaced stimulus, which never offers a beat while the PE is busy; a packed stream exposes
    it (the PE restarts the waiting beat every cycle)."""
    entry = DESIGNS[name]
    text = (RTL_DIR / entry["file"]).read_text()
    assert text.count(_ACCEPT) == 1, "the beat acceptance moved: update this test's needle"
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    (rtl / entry["file"]).write_text(text.replace(_ACCEPT, "assign accept = i_ctl[0];"))
    (rtl / MANIFEST).write_text(json.dumps({"designs": {name: entry}}))
    result = run_design(name, entry, rtl, simulator="icarus", vectors=100, seed=seed,
                        build_root=tmp_path / "build", stream="packed")
    assert not result.passed
    assert "mismatches" in result.message


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_monitor_decodes_what_the_driver_encodes(name, seed):
    """The input monitor's decoding of sampled port bits gives back every operand that
    matters, and the model's replay of the decoded stream is the stimulus' golden answer."""
    config = PRESETS[name]
    beats = random_beats(config, np.random.default_rng(seed), 20)
    codec, model = BeatCodec(config), Model(config)
    for t, (beat, pins) in enumerate([(b, codec.encode(b)) for b in beats]):
        got = codec.decode(pins["i_ctl"], beat.valid, pins["i_a"], pins["i_w"],
                           lambda pins=pins: pins["i_psum"], t)
        model.observe(got)
        if not (beat.valid or beat.load_w):
            assert got is IDLE
            continue
        assert (got.valid, got.load_w, got.first, got.last, got.group_end) == \
            (beat.valid, beat.load_w, beat.first, beat.last, beat.group_end)
        if beat.valid:
            assert got.a == beat.a
        if beat.load_w:
            assert got.w == beat.w
        if beat.valid and beat.first:
            assert got.psum == beat.psum
    prediction = model.predict()
    assert prediction.error is None
    low: list[int] = []
    assert prediction.results == run_contract(config, beats, w_reset=w_reset(config),
                                              not_ready=low)
    assert prediction.not_ready == low


def test_scoreboard_compares_results_in_order():
    expected = [(5, 10), (9, -3), (20, 7)]
    assert compare_results(expected, expected, cycles=30) == []
    late = compare_results(expected, [(5, 10), (10, -3), (20, 7)], cycles=30)
    assert [m for _, m in late] == ["cycle 10: result 1 (-3) is late: expected at cycle 9"]
    wrong = compare_results(expected, [(5, 10), (9, 4), (20, 7)], cycles=30)
    assert [m for _, m in wrong] == ["cycle 9: result 1: expected o_psum -3, got 4"]
    missing = compare_results(expected, expected[:2], cycles=30)
    assert [m for _, m in missing] == ["cycle 20: expected a result 7, o_valid is low "
                                       "(2 results, 3 expected)"]
    cut = compare_results(expected, expected[:2], cycles=15)
    assert [m for _, m in cut] == ["1 expected results fall after the last observed cycle 14"]
    extra = compare_results(expected, [*expected, (25, 1)], cycles=30)
    assert [m for _, m in extra] == ["cycle 25: unexpected o_valid with o_psum 1 "
                                     "(4 results, 3 expected)"]


def test_scoreboard_checks_that_o_psum_holds():
    config = PRESETS["int_mac_w8a8"]
    trace = [{"o_valid": 0, "o_psum": 0}, {"o_valid": 1, "o_psum": 5},
             {"o_valid": 0, "o_psum": 5}, {"o_valid": 0, "o_psum": 6}]
    assert check_hold(config, trace[:3]) == []
    assert [m for _, m in check_hold(config, trace)] == [
        "cycle 3: o_psum changed to 6 without o_valid (should hold 5)"]
