"""sim.bench's summary of the accelerators' Verilator speeds (no simulator run)."""

from mpgemm.sim.bench import SPEED_TARGET, _sim_row, array_speeds


def _row(name: str, cycles: int, sim_s: float, compute_cycles: int = 0,
         compute_s: float = 0.0) -> dict:
    return _sim_row({"name": name, "simulator": "verilator", "passed": True, "vectors": 10,
                     "cycles": cycles, "cycles_per_s": cycles / sim_s, "build_s": 30.0,
                     "compute_cycles": compute_cycles, "compute_s": compute_s,
                     "gemms": [{}] * 5})


def test_array_speeds_lists_accelerators_and_judges_the_target():
    name, target = SPEED_TARGET
    rows = {name: _row(name, 4000, 0.5, 2000, 2000 / (target + 1)),
            "array_small": _row("array_small", 1000, 0.1, 500, 0.01),
            "int_mac_w8a8": _row("int_mac_w8a8", 900, 0.3)}     # a PE: not in the summary
    out = array_speeds(rows)
    assert set(out["designs"]) == {name, "array_small"}
    assert out["designs"]["array_small"] == {"cycles_per_s": 10000, "compute_cycles_per_s": 50000,
                                             "passed": True}
    assert out["target"] == {"design": name, "compute_cycles_per_s": target + 1,
                             "target": target, "met": True}


def test_the_target_runs_own_row_decides_the_verdict():
    name, target = SPEED_TARGET
    rows = {name: _row(name, 4000, 0.5, 2000, 2000 / (target + 1))}
    alone = {**_row(name, 9000, 1.0, 8000, 8000 / (target - 1)), "compute_cycles": 8000,
             "compute_s": 0.16}
    out = array_speeds(rows, alone)
    assert out["target"]["compute_cycles_per_s"] == target - 1
    assert out["target"]["met"] is False and out["target"]["run"] == "alone"
    assert out["designs"][name]["compute_cycles_per_s"] == target + 1
    # A failed run does not meet the bar, however fast.
    fast = {**_row(name, 9000, 1.0, 8000, 8000 / (2 * target)), "passed": False}
    assert array_speeds(rows, fast)["target"]["met"] is False


def test_array_speeds_without_the_target_design():
    out = array_speeds({})
    assert out["target"]["met"] is False and out["target"]["compute_cycles_per_s"] is None
