"""Preset design points: the designs `make rtl` writes to rtl_out/ and `make sim` verifies.

Each preset is a default config with a few fields changed (``dataclasses.replace``), as Gemmini
builds its configs.
"""

from dataclasses import replace

from mpgemm.sim.golden.lut import LUT_WEIGHT_FORMATS
from mpgemm.sim.golden.terms import BITSERIAL_WEIGHT_FORMATS

from .bitserial import BitSerialConfig
from .lut import LutConfig
from .mac import DequantMacConfig, Fp16MacConfig, IntMacConfig
from .mixpe import MixPEConfig

__all__ = ["PRESETS", "get_preset"]

_INT_MAC = IntMacConfig()
_FP16_MAC = Fp16MacConfig()
_DEQUANT_MAC = DequantMacConfig()
_BITSERIAL = BitSerialConfig()
#: LUT tensor core tile for simulation: M2 x N4 x K4 (the paper's tile is M2 x N64 x K4).
_LUT = LutConfig()
#: MixPE: 4 lanes, uint4 weights with a zero point, groups of 128, INT8 activations.
_MIXPE = MixPEConfig()

#: name -> config; names are the Verilog module names and file stems in rtl_out/.
PRESETS = {
    # W8A8 integer MAC, 4-lane dot product (the INT8 tensor-core class of PE).
    "int_mac_w8a8": replace(_INT_MAC, lanes=4),
    # W4A8 integer MAC: the integer baseline the low-bit PEs are compared with.
    "int_mac_w4a8": replace(_INT_MAC, weight_bits=4, lanes=4),
    # Single-lane W8A8 with a 24-bit accumulator (K <= 256), the smallest useful MAC.
    "int_mac_w8a8_l1": replace(_INT_MAC, acc_bits=24, k_max=256),
    # FP16 x FP16 -> FP32, one lane and a 4-lane dot product.
    "fp16_mac": _FP16_MAC,
    "fp16_mac_l4": replace(_FP16_MAC, lanes=4),
    # GPU-style W4A16: uint4 weights, FP16 scale and uint4 zero point per group of 128.
    "dequant_mac_w4a16": _DEQUANT_MAC,
    "dequant_mac_w4a16_l4": replace(_DEQUANT_MAC, lanes=4),
    # BitMoD-style bit-serial PEs: 4 lanes, groups of 128, INT8 group scale.
    "bitserial_int4_a8": _BITSERIAL,
    "bitserial_int6_a8": replace(_BITSERIAL, weight_formats=("int6",)),
    "bitserial_bitmod_fp4_a8": replace(_BITSERIAL, weight_formats=("bitmod_fp4",)),
    "bitserial_int4_fp16": replace(_BITSERIAL, act_format="fp16"),
    "bitserial_bitmod_fp4_fp16": replace(_BITSERIAL, act_format="fp16",
                                         weight_formats=("bitmod_fp4",)),
    # BitMoD's own design point: a per-group mixture of data types over FP16 activations,
    # with a signed INT8 group scale.
    "bitserial_mix_fp16": replace(_BITSERIAL, act_format="fp16", scale_signed=True,
                                  weight_formats=("int8", "int6", "bitmod_fp4", "bitmod_fp3")),
    # The same mixture over INT16 activations (exact datapath), also with a signed INT8 scale.
    "bitserial_mix_a16": replace(_BITSERIAL, act_format="int16", scale_signed=True,
                                 weight_formats=("int8", "int6", "bitmod_fp4", "bitmod_fp3")),
    # Stripes-style baseline: one weight bit per cycle.
    "bitserial_int4_bitplane_a8": replace(_BITSERIAL, term_mode="bitplane"),
    # Every supported weight data type behind one PE, per activation format: what `make sim`
    # uses to verify each data type x activation format in the generated Verilog. Groups of 32
    # keep the per-group data type changing often within a simulation.
    **{f"bitserial_all_{name}": replace(_BITSERIAL, act_format=act, group_size=32,
                                        weight_formats=BITSERIAL_WEIGHT_FORMATS)
       for name, act in (("a8", "int8"), ("a16", "int16"), ("fp16", "fp16"), ("bf16", "bf16"))},
    # LUT Tensor Core tiles (M2 x N4 x K4, groups of 128, 8-bit scale per column and group):
    # BitNet-style binary weights, 2- and 4-bit weights with zero points over INT8 activations.
    "lut_w1_a8": replace(_LUT, weight_formats=("binary",)),
    "lut_w2_a8": replace(_LUT, weight_formats=("uint2",)),
    "lut_w4_a8": _LUT,
    # The same without table symmetrization (2^K entries per table), to measure its saving.
    "lut_w2_a8_nosym": replace(_LUT, weight_formats=("uint2",), symmetric=False),
    "lut_w4_a8_nosym": replace(_LUT, symmetric=False),
    # Every weight precision 1-8 (unsigned with zero point, signed), ternary and binary behind one
    # tile, per activation format, with and without symmetrization: what `make sim` uses to
    # verify each one in the generated Verilog.
    "lut_all_a8": replace(_LUT, cols=2, acc_bits=40, weight_formats=LUT_WEIGHT_FORMATS),
    "lut_all_a16": replace(_LUT, cols=2, act_format="int16", scale_signed=True, acc_bits=48,
                           weight_formats=LUT_WEIGHT_FORMATS),
    "lut_all_a8_nosym": replace(_LUT, cols=2, acc_bits=40, symmetric=False,
                                weight_formats=LUT_WEIGHT_FORMATS),
    "lut_all_a16_nosym": replace(_LUT, cols=2, act_format="int16", scale_signed=True,
                                 acc_bits=48, symmetric=False, weight_formats=LUT_WEIGHT_FORMATS),
    # W2 x FP16 with the paper's INT8-quantized tables, and with FP16 tables for comparison
    # (two columns: FP32 adders in every PE make it the slowest design to simulate).
    "lut_w2_fp16": replace(_LUT, weight_formats=("uint2",), act_format="fp16",
                           table_format="int8"),
    "lut_w2_fp16_fp16tab": replace(_LUT, weight_formats=("uint2",), act_format="fp16",
                                   table_format="fp16", cols=2),
    # Every weight format over FP16 activations: INT8 tables symmetrized, FP16 tables plain.
    "lut_all_fp16": replace(_LUT, cols=2, act_format="fp16", table_format="int8",
                            scale_signed=True, weight_formats=LUT_WEIGHT_FORMATS),
    "lut_all_fp16_fp16tab_nosym": replace(_LUT, cols=2, act_format="fp16", table_format="fp16",
                                          symmetric=False, weight_formats=LUT_WEIGHT_FORMATS),
    # MixPE shift-and-add PEs (4 lanes, dequantization after each group): the paper's W4A8 and
    # W4A16 (uint4 with a zero point; a uint8 scale for INT8 activations, FP16 for FP16), W2A8
    # and symmetric W8A8 (int8 weights, signed int8 scale), all with groups of 128.
    "mixpe_w4a8": _MIXPE,
    "mixpe_w4a16": replace(_MIXPE, act_format="fp16"),
    "mixpe_w2a8": replace(_MIXPE, weight_bits=2),
    "mixpe_w8a8": replace(_MIXPE, weight_bits=8, weight_signed=True, scale_format="int8"),
    # The other precisions, signednesses and group sizes, so that `make sim` verifies each one
    # on both activation formats in the generated Verilog.
    "mixpe_w3a8_int_g64": replace(_MIXPE, weight_bits=3, weight_signed=True, group_size=64,
                                  scale_format="int16"),
    "mixpe_w4a8_int_g32": replace(_MIXPE, weight_signed=True, group_size=32,
                                  scale_format="int8"),
    "mixpe_w2a16_int_g32": replace(_MIXPE, act_format="fp16", weight_bits=2,
                                   weight_signed=True, group_size=32),
    "mixpe_w3a16_g64": replace(_MIXPE, act_format="fp16", weight_bits=3, group_size=64),
    "mixpe_w8a16_int": replace(_MIXPE, act_format="fp16", weight_bits=8, weight_signed=True),
}

def get_preset(name: str):
    """The preset config called ``name``; unknown names list the allowed ones."""
    if not isinstance(name, str):
        raise TypeError(f"preset name must be a string, not {name!r}")
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; allowed: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]
