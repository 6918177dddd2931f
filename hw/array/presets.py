"""Preset arrays: the accelerators `make rtl` writes to rtl_out/ beside the PE presets.

Each is an :class:`~.config.AccelConfig` around an array of a PE preset; like the PE presets,
variants are ``dataclasses.replace`` of a default. ``SIMULATOR`` names the simulator `make sim`
runs each on.
"""

from dataclasses import replace

from mpgemm.pe_designs.presets import PRESETS as PE_PRESETS

from .config import AccelConfig, ArrayConfig

__all__ = ["ARRAY_PRESETS", "SIMULATOR", "PAPER_ARRAYS"]

_INT8 = replace(PE_PRESETS["int_mac_w8a8"], lanes=1)
_LUT1 = replace(PE_PRESETS["lut_w2_a8"], rows=1, cols=1)


def _accel(pe: str | object, rows: int, cols: int, dataflow: str, *,
           organisation: str = "standalone", **kw) -> AccelConfig:
    config = PE_PRESETS[pe] if isinstance(pe, str) else pe
    return AccelConfig(array=ArrayConfig(pe=config, rows=rows, cols=cols,  # type: ignore[arg-type]
                                         dataflow=dataflow, organisation=organisation), **kw)


#: name -> accelerator config; names are the Verilog module names in rtl_out/.
ARRAY_PRESETS = {
    # Integer MAC arrays: 4-lane W8A8 dot-product PEs, and single MACs as in the classic
    # systolic arrays (the 16x16 one is the size of Gemmini's default mesh).
    "array_int_mac_os_4x4": _accel("int_mac_w8a8", 4, 4, "os"),
    "array_int_mac_ws_8x8": _accel(_INT8, 8, 8, "ws"),
    # ... with double-buffered buffers: the host loads the next GEMM while this one computes.
    "array_int_mac_os_4x4_db": _accel("int_mac_w8a8", 4, 4, "os", double_buffer=True),
    "array_int_mac_os_16x16": _accel(_INT8, 16, 16, "os", a_depth=1024, w_depth=1024,
                                     o_depth=1024),
    # The FP16 tensor-core baseline and the GPU-style dequantize-then-MAC W4A16 PE.
    "array_fp16_mac_ws_4x4": _accel("fp16_mac", 4, 4, "ws"),
    "array_fp16_mac_os_8x8": _accel("fp16_mac", 8, 8, "os"),
    "array_dequant_mac_os_4x4": _accel("dequant_mac_w4a16", 4, 4, "os"),
    "array_dequant_mac_ws_8x8": _accel("dequant_mac_w4a16", 8, 8, "ws"),
    # ... and with one dequantizer per output-stationary column (at its top) instead of per PE.
    "array_dequant_mac_os_4x4_shared": _accel("dequant_mac_w4a16", 4, 4, "os",
                                              organisation="shared"),
    # MixPE: shift-and-add W4A8 (the paper's integer design point) and W4A16 (FP16
    # activations), one dequantization per group of 128 after the group's integer sum.
    "array_mixpe_w4a8_os_4x4": _accel("mixpe_w4a8", 4, 4, "os"),
    "array_mixpe_w4a8_os_8x8": _accel("mixpe_w4a8", 8, 8, "os"),
    "array_mixpe_w4a16_os_4x4": _accel("mixpe_w4a16", 4, 4, "os"),
    # MixPE as the paper organises it: the grid PEs keep the lanes and the group sums, one
    # dequantizer per column (a group of 32 beats outlasts the 8 rows' hand-offs).
    "array_mixpe_w4a8_os_4x4_shared": _accel("mixpe_w4a8", 4, 4, "os", organisation="shared"),
    "array_mixpe_w4a8_os_8x8_shared": _accel("mixpe_w4a8", 8, 8, "os", organisation="shared"),
    "array_mixpe_w4a16_os_4x4_shared": _accel("mixpe_w4a16", 4, 4, "os",
                                              organisation="shared"),
    # LUT tensor core: arrays of 1 x 1 tiles (a table and a multiplexer-PE each), W2A8 with a
    # zero point; standalone, and with each row's table built once at its left edge and passed
    # along the row. The 2 x 64 shared array is the paper's M2 N64 K4 tile.
    "array_lut_w2_a8_os_4x4": _accel(_LUT1, 4, 4, "os"),
    "array_lut_w2_a8_os_4x4_shared": _accel(_LUT1, 4, 4, "os", organisation="shared"),
    "array_lut_w2_a8_os_8x8_shared": _accel(_LUT1, 8, 8, "os", organisation="shared"),
    "array_lut_w2_a8_os_2x64_shared": _accel(_LUT1, 2, 64, "os", organisation="shared"),
    # BitMoD: bit-serial 4-lane PEs, output-stationary; INT4 over INT8 activations, and the
    # paper's own tile: 8x8 PEs over FP16 activations with a per-group mixture of INT8, INT6,
    # FP4 and FP3 weights (groups of 128, signed INT8 scale).
    "array_bitserial_int4_a8_os_4x4": _accel("bitserial_int4_a8", 4, 4, "os"),
    "array_bitserial_mix_fp16_os_8x8": _accel("bitserial_mix_fp16", 8, 8, "os"),
    # ... and with one weight encoder per column (BitMoD: per tile) instead of per PE, over
    # INT16 activations (an integer datapath that Icarus runs fast enough).
    "array_bitserial_mix_a16_os_4x4_shared": _accel("bitserial_mix_a16", 4, 4, "os",
                                                    organisation="shared"),
}

#: name -> the simulator `make sim` uses for it. Verilator's C++ build of an array takes 20 to 40 s
#: (sim.runner builds with only the top ports public, unoptimised C++ and Verilator's run-time
#: objects reused across designs), Icarus compiles in seconds and runs a small array at 20 to
#: 2,000 cycles/s, and the end-to-end test needs a few thousand cycles: Verilator only where
#: Icarus would take longer than the build (the 16x16 array, whose speed is also a benchmark, the
#: 8x8 arrays of the larger FP PEs, the 2x64 LUT array, and the W4A16 MixPE arrays, which Icarus
#: runs at about 25 cycles/s: 130 to 150 s).
SIMULATOR = {name: "verilator" if name in ("array_int_mac_os_16x16", "array_dequant_mac_ws_8x8",
                                           "array_bitserial_mix_fp16_os_8x8",
                                           "array_lut_w2_a8_os_2x64_shared",
                                           "array_mixpe_w4a16_os_4x4",
                                           "array_mixpe_w4a16_os_4x4_shared")
             else "icarus" for name in ARRAY_PRESETS}


def _paper(pe: object, rows: int, cols: int, *, organisation: str = "standalone",
           tile: int = 1, kib: tuple[int, int, int] = (256, 128, 128)) -> AccelConfig:
    """An array at a paper's scale with buffers of ``kib`` = (A, W, O) KiB (MixPE's: 256, 128,
    128), their depths in words of this array."""
    array = ArrayConfig(pe=pe, rows=rows, cols=cols, dataflow="os",  # type: ignore[arg-type]
                        tile_rows=tile, tile_cols=tile, organisation=organisation)
    p = array.pe.ports
    out = 32 if array.pe.psum_format == "fp32" else p.psum.width
    words = [kib[0] * 8192 // (rows * p.act.width), kib[1] * 8192 // (cols * p.weight.width),
             kib[2] * 8192 // (cols * out)]
    return AccelConfig(array=array, a_depth=min(words[0], 1 << 16),
                       w_depth=min(words[1], 1 << 16), o_depth=min(words[2], 1 << 16))


_MIXPE1 = replace(PE_PRESETS["mixpe_w4a8"], lanes=1)

#: The papers' own array shapes, as cost-model configs (too large for `make sim`; not in
#: rtl_out/, though `generate_verilog` builds any of them). MixPE's evaluation (REFERENCE_DATA):
#: output-stationary arrays of single-MAC PEs, MixPE-W4A8 64x64 against INT8 32x32, FP16
#: 32x28 and MixPE-W4A16 32x32, buffers A 256 KB, W 128 KB, O 128 KB. BitMoD's accelerator:
#: 4 x 4 tiles of 8 x 8 four-lane FP16 PEs (its buffers are not given: MixPE's are used).
PAPER_ARRAYS = {
    "mixpe_w4a8_64x64": _paper(_MIXPE1, 64, 64, organisation="shared"),
    "mixpe_w4a8_64x64_standalone": _paper(_MIXPE1, 64, 64),
    "int8_32x32": _paper(_INT8, 32, 32),
    "fp16_32x28": _paper(PE_PRESETS["fp16_mac"], 32, 28),
    "mixpe_w4a16_32x32": _paper(replace(PE_PRESETS["mixpe_w4a16"], lanes=1), 32, 32,
                                organisation="shared"),
    "bitmod_4x4_tiles_of_8x8": _paper(PE_PRESETS["bitserial_mix_fp16"], 32, 32, tile=8,
                                      organisation="shared"),
    # BitMoD's Table X compares one tile of each at about equal area (28 nm): an 8 x 8 tile
    # of its 4-lane PEs (97,090 um^2) against a 6 x 8 tile of FP16 MACs (95,498 um^2).
    "bitmod_tile_8x8": _paper(PE_PRESETS["bitserial_mix_fp16"], 8, 8, tile=8,
                              organisation="shared"),
    "fp16_tile_6x8": _paper(PE_PRESETS["fp16_mac"], 6, 8),
    # The LUT tensor core's elongated M2 N64 K4 tile (W2A8), and an INT8 MAC array of the same
    # 128 PEs as the MAC-based baseline.
    "lut_tile_m2n64k4": _paper(_LUT1, 2, 64, organisation="shared"),
    "int8_2x64": _paper(_INT8, 2, 64),
}
