"""sim.runner's Verilator build: cocotb's commands without --public-flat-rw, with our flags, and
the control file that keeps the top module's ports visible (no simulator run: `make test-fast`).
The end-to-end runs on Verilator are in test_cocotb.py."""

import pytest
from cocotb_tools.runner import get_runner

from mpgemm.hw.flow.tools import verilator_env
from mpgemm.sim.runner import (
    RUNTIME_OBJECTS,
    VERILATOR_PROFILES,
    _runner,
    public_ports_vlt,
    run_all,
    runtime_cache,
    seed_runtime,
    store_runtime,
    verilator_commands,
    verilator_profile,
)


def _cocotb_commands(tmp_path, monkeypatch) -> list[list[str]]:
    """The commands cocotb's own Verilator runner would run for a two-file build."""
    for key, value in verilator_env().items():
        monkeypatch.setenv(key, value)
    runner = get_runner("verilator")
    ran: list = []
    monkeypatch.setattr(runner, "_execute", lambda cmds, cwd: ran.extend(cmds))
    (tmp_path / "top.v").write_text("module top(input clk); endmodule\n")
    (tmp_path / "ports.vlt").write_text(public_ports_vlt("top", ["clk"]))
    runner.build(sources=[tmp_path / "ports.vlt", tmp_path / "top.v"], hdl_toplevel="top",
                 build_dir=tmp_path / "build", build_args=["-Wno-WIDTHEXPAND"])
    return ran


def test_verilator_commands_drop_public_flat_rw(tmp_path, monkeypatch):
    original = _cocotb_commands(tmp_path, monkeypatch)
    assert "--public-flat-rw" in original[0]
    verilate, make = verilator_commands(original)
    assert "--public-flat-rw" not in verilate
    # Everything else of cocotb's command is kept, in order, and the sources stay last.
    kept = [a for a in original[0] if a != "--public-flat-rw"]
    assert [a for a in verilate if a in kept] == kept
    assert verilate[-2:] == original[0][-2:]
    flags, make_vars = VERILATOR_PROFILES["build"]   # the default
    n = len(flags)
    i = verilate.index(next(a for a in verilate if a.endswith("verilator.cpp")))
    assert tuple(verilate[i - n:i]) == flags
    assert make == [*original[1], *make_vars]
    # The speed profile: Verilator's -O3 and g++ -O2 on the per-cycle code.
    verilate, make = verilator_commands(original, "speed")
    assert "-O3" in verilate and make[-1] == "OPT_FAST=-O2"


def test_verilator_profile_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("MPGEMM_VERILATOR_OPT", raising=False)
    assert verilator_profile() == "build"
    monkeypatch.setenv("MPGEMM_VERILATOR_OPT", "speed")
    assert verilator_profile() == "speed"
    monkeypatch.setenv("MPGEMM_VERILATOR_OPT", "fastest")
    with pytest.raises(ValueError, match="MPGEMM_VERILATOR_OPT must be one of build, speed, "
                                         "not 'fastest'"):
        verilator_profile()
    with pytest.raises(ValueError, match="MPGEMM_VERILATOR_OPT"):
        run_all(designs=["int_mac_w8a8"])


def test_lean_runner_builds_with_verilator_commands(tmp_path, monkeypatch):
    for key, value in verilator_env().items():
        monkeypatch.setenv(key, value)
    runner = _runner("verilator")
    ran: list = []
    monkeypatch.setattr(runner, "_execute", lambda cmds, cwd: ran.extend(cmds))
    (tmp_path / "top.v").write_text("module top(input clk); endmodule\n")
    runner.build(sources=[tmp_path / "top.v"], hdl_toplevel="top", build_dir=tmp_path / "b")
    assert "--public-flat-rw" not in ran[0]
    flags, make_vars = VERILATOR_PROFILES["build"]
    assert set(flags) <= set(ran[0])
    assert ran[1][-len(make_vars):] == list(make_vars)


def test_verilator_commands_refuse_an_unknown_layout():
    with pytest.raises(RuntimeError, match="changed"):
        verilator_commands([["verilator", "-cc", "top.v"], ["make"]])


def test_public_ports_vlt_names_every_port():
    text = public_ports_vlt("acc", ["clk", "y_out__payload"])
    assert text.splitlines() == ["`verilator_config",
                                 'public_flat_rw -module "acc" -var "clk"',
                                 'public_flat_rw -module "acc" -var "y_out__payload"']


def test_runtime_cache_is_shared_across_designs_only(tmp_path):
    env = {"VERILATOR_ROOT": str(tmp_path / "none"), "MAKEFLAGS": "X=1"}
    make = ["make", "-j", "2", "-C", str(tmp_path / "a"), "-f", "Vtop.mk", "VM_TRACE=0"]
    other_dir = [*make[:4], str(tmp_path / "b"), *make[5:]]
    key = runtime_cache(tmp_path, make, env)
    assert runtime_cache(tmp_path, other_dir, env) == key          # another design's folder
    assert runtime_cache(tmp_path, [*make[:-1], "VM_TRACE=1"], env) != key
    assert runtime_cache(tmp_path, make, {**env, "MAKEFLAGS": "X=2"}) != key
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    assert seed_runtime(key, first) == 0                            # nothing cached yet
    for obj in RUNTIME_OBJECTS:
        (first / obj).write_bytes(obj.encode())
    store_runtime(key, first)
    assert seed_runtime(key, second) == len(RUNTIME_OBJECTS)
    assert all((second / obj).read_bytes() == obj.encode() for obj in RUNTIME_OBJECTS)
