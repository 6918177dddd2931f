"""The cost model walks the generated module hierarchy and agrees with its config-based area."""

import pytest

from mpgemm.costmodel import generated_units, pe_cost, pe_model, rtl_area_um2
from mpgemm.hw.array.config import AccelConfig
from mpgemm.hw.flow.generate import RTL_DIR, hierarchy_graph, load_manifest
from mpgemm.pe_designs.registry import config_from_dict

MANIFEST = load_manifest(RTL_DIR)
#: The PE designs (the accelerators' costs are costmodel.accel's, tested on their own).
PE_DESIGNS = sorted(n for n, e in MANIFEST["designs"].items()
                    if e["config"]["kind"] != AccelConfig.kind)


@pytest.mark.parametrize("name", PE_DESIGNS)
def test_rolled_up_area_equals_config_area(name):
    entry = MANIFEST["designs"][name]
    config = config_from_dict(entry["config"])
    graph = hierarchy_graph(entry)
    assert set(entry["units"]) == set(entry["modules"])
    area = rtl_area_um2(config, graph, entry["units"], name)
    assert area == pytest.approx(pe_cost(config).area_um2, rel=1e-12)


@pytest.mark.parametrize("name", PE_DESIGNS)
def test_generated_units_are_ones_the_cost_model_prices(name):
    """Whatever the family: every arithmetic unit the generator built as a submodule is one its
    cost model prices by the manifest (each family's test module checks the exact counts)."""
    entry = MANIFEST["designs"][name]
    config = config_from_dict(entry["config"])
    counts = generated_units(hierarchy_graph(entry), entry["units"], name)
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
