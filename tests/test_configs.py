"""Config validation at the public boundary: every bad parameter gets a precise message."""

import gc
import re
import warnings

import pytest
from amaranth.hdl import UnusedElaboratable

from mpgemm.pe_designs.bitserial.rtl import BitSerialPE
from mpgemm.pe_designs.mac import DequantMacConfig, Fp16MacConfig, IntMacConfig
from mpgemm.pe_designs.mac.rtl import Fp16MacPE, IntMacPE
from mpgemm.pe_designs.presets import get_preset
from mpgemm.pe_designs.registry import config_from_dict


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"act_bits": 0}, ValueError, "act_bits must be in [2, 16], not 0"),
    ({"act_bits": 17}, ValueError, "act_bits must be in [2, 16], not 17"),
    ({"act_bits": 1, "act_signed": False, "acc_bits": 32}, None, None),
    ({"weight_bits": -3}, ValueError, "weight_bits must be in [2, 16], not -3"),
    ({"weight_bits": 4.0}, TypeError, "weight_bits must be an integer, not 4.0"),
    ({"lanes": 0}, ValueError, "lanes must be in [1, 64], not 0"),
    ({"act_signed": 1}, TypeError, "act_signed must be a bool, not 1"),
    ({"acc_bits": 16}, ValueError,
     "acc_bits=16 is too narrow: k_max=4096 products of int8 x int8 need acc_bits >= 28"),
    ({"acc_bits": 65}, ValueError, "acc_bits must be in [2, 64], not 65"),
    ({"k_max": 0}, ValueError, "k_max must be in [1, 16777216], not 0"),
])
def test_int_mac_config_errors(kwargs, exc, message):
    if exc is None:
        IntMacConfig(**kwargs)
        return
    with pytest.raises(exc, match=re.escape(message)):
        IntMacConfig(**kwargs)


def test_int_mac_acc_bits_bound_is_tight():
    # int8 x int8: products in [-16256, 16384]; 4096 of them need 28 signed bits, 27 are too few.
    assert IntMacConfig(acc_bits=28).required_acc_bits == 28
    with pytest.raises(ValueError, match="need acc_bits >= 28"):
        IntMacConfig(acc_bits=27)
    # Unsigned x unsigned: 255 * 15 * 16 = 61200 needs 17 signed bits.
    c = IntMacConfig(act_bits=8, act_signed=False, weight_bits=4, weight_signed=False,
                     acc_bits=17, k_max=16)
    assert c.product_range == (0, 255 * 15)


@pytest.mark.parametrize("cls, kwargs, exc, message", [
    (Fp16MacConfig, {"lanes": 3}, ValueError, "lanes must be a power of two in [1, 8], not 3"),
    (Fp16MacConfig, {"lanes": 16}, ValueError, "lanes must be in [1, 8], not 16"),
    (Fp16MacConfig, {"act_format": "bf16"}, ValueError,
     "act_format must be one of 'fp16', not 'bf16'"),
    (Fp16MacConfig, {"acc_format": "fp16"}, ValueError,
     "acc_format must be one of 'fp32', not 'fp16'"),
    (DequantMacConfig, {"weight_bits": 1}, ValueError, "weight_bits must be in [2, 8], not 1"),
    (DequantMacConfig, {"weight_bits": 9}, ValueError, "weight_bits must be in [2, 8], not 9"),
    (DequantMacConfig, {"group_size": 0}, ValueError, "group_size must be in [1, 4096], not 0"),
    (DequantMacConfig, {"lanes": 4, "group_size": 6}, ValueError,
     "group_size=6 must be a multiple of lanes=4"),
    (DequantMacConfig, {"scale_format": "bf16"}, ValueError,
     "scale_format must be one of 'fp16', not 'bf16'"),
])
def test_fp_config_errors(cls, kwargs, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        cls(**kwargs)


def test_configs_are_frozen_and_hashable():
    c = IntMacConfig()
    with pytest.raises(AttributeError):
        c.lanes = 2  # type: ignore[misc]
    assert hash(c) == hash(IntMacConfig())


def test_latency_facts():
    assert IntMacConfig().timing().latency == 1
    assert Fp16MacConfig().timing().latency == 2
    assert DequantMacConfig().timing().latency == 3
    assert IntMacConfig(lanes=4).cycles_per_mac == 0.25
    assert DequantMacConfig(lanes=2).mac == Fp16MacConfig(lanes=2)


def test_config_from_dict_errors():
    with pytest.raises(ValueError, match=re.escape("unknown IntMacConfig parameter(s) 'lane'")):
        config_from_dict({"kind": "int_mac", "lane": 4})
    with pytest.raises(ValueError, match="config kind must be one of .* not 'systolic'"):
        config_from_dict({"kind": "systolic"})
    with pytest.raises(TypeError, match="config must be a mapping, not list"):
        config_from_dict([1, 2])
    with pytest.raises(ValueError, match=re.escape("unknown preset 'nope'; allowed: ")):
        get_preset("nope")


def test_components_reject_wrong_config_type():

    # The rejected components exist (Amaranth creates them before __init__ runs) but are never
    # elaborated; collect them here, or their UnusedElaboratable warning would surface as an
    # error in whichever later test the garbage collector happens to run in.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(TypeError, match="config must be an IntMacConfig"):
            IntMacPE(Fp16MacConfig())
        with pytest.raises(TypeError, match="config must be an Fp16MacConfig"):
            Fp16MacPE(IntMacConfig())
        with pytest.raises(TypeError, match="config must be a BitSerialConfig"):
            BitSerialPE(IntMacConfig())
        gc.collect()
