"""The cost model walks the generated module hierarchy and agrees with its config-based area."""

import pytest

from mpgemm.costmodel import generated_units, pe_cost, pe_model, rtl_area_um2
from mpgemm.hw.flow.generate import RTL_DIR, hierarchy_graph, load_manifest
from mpgemm.pe_designs.registry import config_from_dict

MANIFEST = load_manifest(RTL_DIR)


@pytest.mark.parametrize("name", sorted(MANIFEST["designs"]))
def test_rolled_up_area_equals_config_area(name):
    entry = MANIFEST["designs"][name]
    config = config_from_dict(entry["config"])
    graph = hierarchy_graph(entry)
    assert set(entry["units"]) == set(entry["modules"])
    area = rtl_area_um2(config, graph, entry["units"], name)
    assert area == pytest.approx(pe_cost(config).area_um2, rel=1e-12)


@pytest.mark.parametrize("name", sorted(MANIFEST["designs"]))
def test_generated_unit_counts_follow_config(name):
    entry = MANIFEST["designs"][name]
    config = config_from_dict(entry["config"])
    counts = generated_units(hierarchy_graph(entry), entry["units"], name)
    if config.kind == "int_mac":
        assert counts == {}
    elif config.kind == "bitserial":
        # The FP32 group accumulator's and the dequantizer's adders.
        assert counts == ({"FPAdd": 2} if config.is_fp else {})
    elif config.kind == "lut":
        # FP16 tables: the plan's FP16 adders and an FP32 activation-sum adder per row, FP32
        # plane and dequantization adders per PE; INT8 tables: the dequantization adder per PE.
        pes = config.rows * config.cols
        want = {"exact": {}, "int8": {"FPAdd": pes},
                "fp16": {"FPAdd": config.rows * (config.table_adders + 1) + 2 * pes}}
        assert counts == want[config.table_format]
    elif config.kind == "mixpe":
        want = {"FPAdd": config.fp32_adders, "FPMul": config.fp_multipliers,
                "IntScaleFP": config.zero_scalers}
        assert counts == {k: v for k, v in want.items() if v}
    elif config.kind in ("fp16_mac", "dequant_mac"):
        assert counts["FPMul"] == config.lanes
        assert counts["FPAdd"] == config.lanes  # lanes - 1 tree adders + the accumulator's
        assert counts.get("IntScaleFP", 0) == (config.lanes if config.kind == "dequant_mac"
                                               else 0)
    # Any family (a new one included): every generated unit is one its cost model prices.
    assert set(counts) <= set(pe_model(config).unit_keys.values())


def test_rollup_sees_a_unit_the_config_does_not_assume():
    """An extra FP32 adder in the generated hierarchy shows up as extra area."""
    name = "fp16_mac"
    entry = MANIFEST["designs"][name]
    config = config_from_dict(entry["config"])
    graph = hierarchy_graph(entry)
    units = dict(entry["units"])
    extra = f"{name}.extra_add"
    graph.add_edge(name, extra, instances=2)
    units[extra] = {"unit": "FPAdd", "exp_bits": 8, "man_bits": 23}
    base = pe_cost(config).area_um2
    assert rtl_area_um2(config, graph, units, name) > base
    assert generated_units(graph, units, name)["FPAdd"] == 3


def test_unknown_unit_is_rejected():
    name = "int_mac_w8a8"
    entry = MANIFEST["designs"][name]
    graph = hierarchy_graph(entry)
    graph.add_edge(name, "x", instances=1)
    units = {**entry["units"], "x": {"unit": "Mystery"}}
    with pytest.raises(ValueError, match="no cost model for generated unit 'Mystery'"):
        rtl_area_um2(config_from_dict(entry["config"]), graph, units, name)
