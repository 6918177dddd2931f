"""Generated hardware of the baseline MAC families (integer, FP16, dequantize-then-MAC), from
the committed manifest: which arithmetic units each preset builds as submodules."""

import pytest

from mpgemm.costmodel import generated_units
from mpgemm.hw.flow.generate import RTL_DIR, hierarchy_graph, load_manifest
from mpgemm.pe_designs.mac import DequantMacConfig, Fp16MacConfig, IntMacConfig
from mpgemm.pe_designs.registry import config_from_dict

DESIGNS_IN_RTL_OUT = {n: e for n, e in load_manifest(RTL_DIR)["designs"].items()
                      if e["config"]["kind"] in (IntMacConfig.kind, Fp16MacConfig.kind,
                                                 DequantMacConfig.kind)}


@pytest.mark.parametrize("name", sorted(DESIGNS_IN_RTL_OUT))
def test_generated_hierarchy_follows_config(name):
    """Integer MACs are one module. FP16 MACs: an FP16 x FP16 -> FP32 multiplier per lane, a
    tree of lanes - 1 FP32 adders and the accumulator's; the dequantize-then-MAC PE puts an FP16
    scaler per lane in front of such a MAC."""
    entry = DESIGNS_IN_RTL_OUT[name]
    config = config_from_dict(entry["config"])
    g = hierarchy_graph(entry)
    mods = list(g.nodes)
    counts = generated_units(g, entry["units"], name)
    if isinstance(config, IntMacConfig):
        assert mods == [name] and counts == {}
        return
    muls = [m for m in mods if m.rsplit(".", 1)[-1].startswith("mul")]
    assert len(muls) == config.lanes
    assert counts["FPMul"] == config.lanes
    assert counts["FPAdd"] == config.lanes  # lanes - 1 tree adders + the accumulator's
    if isinstance(config, DequantMacConfig):
        assert len([m for m in mods if ".dequant" in m]) == config.lanes
        assert g.has_edge(name, f"{name}.mac")
        assert counts["IntScaleFP"] == config.lanes
    else:
        adders = [m for m in mods if m.endswith("acc_add") or ".tree" in m]
        assert len(adders) == config.fp32_adders and "IntScaleFP" not in counts
