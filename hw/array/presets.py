"""Preset arrays: the accelerators `make rtl` writes to rtl_out/ beside the PE presets.

Each is an :class:`~.config.AccelConfig` around an array of a PE preset; like the PE presets,
variants are ``dataclasses.replace`` of a default. ``SIMULATOR`` names the simulator `make sim`
runs each on: Icarus for the small integer arrays, Verilator for the large and floating-point
ones (Icarus runs an FP16 PE at under 1,000 cycles/s).
"""

from dataclasses import replace

from mpgemm.pe_designs.presets import PRESETS as PE_PRESETS

from .config import AccelConfig, ArrayConfig

__all__ = ["ARRAY_PRESETS", "SIMULATOR"]

_INT8 = replace(PE_PRESETS["int_mac_w8a8"], lanes=1)


def _accel(pe: str | object, rows: int, cols: int, dataflow: str, **kw) -> AccelConfig:
    config = PE_PRESETS[pe] if isinstance(pe, str) else pe
    return AccelConfig(array=ArrayConfig(pe=config, rows=rows, cols=cols,  # type: ignore[arg-type]
                                         dataflow=dataflow), **kw)


#: name -> accelerator config; names are the Verilog module names in rtl_out/.
ARRAY_PRESETS = {
    # Integer MAC arrays: 4-lane W8A8 dot-product PEs, and single MACs as in the classic
    # systolic arrays (the 16x16 one is the size of Gemmini's default mesh).
    "array_int_mac_os_4x4": _accel("int_mac_w8a8", 4, 4, "os"),
    "array_int_mac_ws_8x8": _accel(_INT8, 8, 8, "ws"),
    "array_int_mac_os_16x16": _accel(_INT8, 16, 16, "os"),
    # The FP16 tensor-core baseline and the GPU-style dequantize-then-MAC W4A16 PE.
    "array_fp16_mac_ws_4x4": _accel("fp16_mac", 4, 4, "ws"),
    "array_fp16_mac_os_8x8": _accel("fp16_mac", 8, 8, "os"),
    "array_dequant_mac_os_4x4": _accel("dequant_mac_w4a16", 4, 4, "os"),
    "array_dequant_mac_ws_8x8": _accel("dequant_mac_w4a16", 8, 8, "ws"),
}

#: name -> the simulator `make sim` uses for it.
SIMULATOR = {name: "icarus" if name in ("array_int_mac_os_4x4", "array_int_mac_ws_8x8")
             else "verilator" for name in ARRAY_PRESETS}
