"""Cost models of the baseline MAC families (:mod:`mpgemm.pe_designs.mac`), from their configs.

Registered as the families' cost models (``Family.cost``): the integer MAC's multipliers, adder
tree and accumulator; the FP16 MAC's exact FP16 multipliers and FP32 adders; the
dequantize-then-MAC PE's per-lane zero-point subtraction and FP16 scaling in front of an FP16
MAC. Each also checks that a workload's formats and sizes fit the design.
"""

from mpgemm.pe_designs.mac import DequantMacConfig, Fp16MacConfig, IntMacConfig
from mpgemm.sim.golden.contract import PEConfig

from .components import int_adder, int_multiplier, mux2, register
from .cost import ComponentCost
from .pe import (
    PE_CONTROL_BITS,
    PEModel,
    _adder_tree,
    _check_int_operand,
    _contract_plumbing,
    _fp16_mac_datapath,
    dequantizer,
)
from .tech import Technology
from .workload import GemmWorkload

__all__ = ["INT_MAC", "FP16_MAC", "DEQUANT_MAC"]


def _int_mac_model(config: IntMacConfig, tech: Technology) -> dict[str, ComponentCost]:
    lanes, acc = config.lanes, config.acc_bits
    return {
        "multipliers": int_multiplier(config.act_bits, config.weight_bits, tech) * lanes,
        "adder_tree": _adder_tree([config.product_bits] * lanes, tech),
        # acc_next = (first ? psum : acc) + dot, registered in acc and on o_psum.
        "accumulator": int_adder(acc, tech) + mux2(acc, tech) + register(2 * acc, tech),
        **_contract_plumbing(config, tech),
    }


def _fp16_mac_model(config: Fp16MacConfig, tech: Technology) -> dict[str, ComponentCost]:
    return {**_fp16_mac_datapath(config.lanes, tech), **_contract_plumbing(config, tech)}


def _dequant_mac_model(config: DequantMacConfig, tech: Technology) -> dict[str, ComponentCost]:
    lanes = config.lanes
    mac = _fp16_mac_datapath(lanes, tech)
    return {
        # q - z, then the FP16 scaling, per lane.
        "zero_point_subtract": int_adder(config.diff_bits, tech) * lanes,
        "dequantizers": dequantizer(config.diff_bits, tech) * lanes,
        # Stage 0 registers the dequantized weights, the activations, psum and control for the
        # inner MAC. The inner MAC's own forwarding and weight registers are left unconnected
        # by DequantMacPE (load_w tied high), so synthesis removes them; they are not counted.
        "dequant_registers": register(16 * lanes + 16 * lanes + 32 + PE_CONTROL_BITS, tech),
        **mac,
        **_contract_plumbing(config, tech),
    }


def _check_no_groups(config: PEConfig, workload: GemmWorkload, why: str) -> None:
    if workload.group_size is not None:
        raise ValueError(
            f"workload group_size={workload.group_size} cannot run on the {config.kind} config: "
            f"{why}; use group_size=None (per-channel or per-tensor scales applied outside the "
            f"PE)"
        )


def _check_int_mac(config: IntMacConfig, workload: GemmWorkload) -> None:
    _check_int_operand("act", workload.act_format, config.act_bits, config.act_signed,
                       config.kind)
    _check_int_operand("weight", workload.weight_format, config.weight_bits,
                       config.weight_signed, config.kind)
    _check_no_groups(config, workload, "it accumulates integers without per-group scales")
    if workload.K > config.k_max:
        raise ValueError(
            f"workload K={workload.K} exceeds the {config.kind} config's k_max={config.k_max}: "
            f"its acc_bits={config.acc_bits} accumulator could overflow"
        )


def _check_fp16_mac(config: Fp16MacConfig, workload: GemmWorkload) -> None:
    for role, want in (("act", config.act_format), ("weight", config.weight_format)):
        got = getattr(workload, f"{role}_format")
        if got != want:
            raise ValueError(
                f"workload {role}_format={got!r} does not fit the {config.kind} config's "
                f"{role}_format={want!r}"
            )
    _check_no_groups(config, workload, "its FP16 weights carry no group scales")


def _check_dequant_mac(config: DequantMacConfig, workload: GemmWorkload) -> None:
    if workload.act_format != "fp16":
        raise ValueError(
            f"workload act_format={workload.act_format!r} does not fit the {config.kind} "
            f"config's FP16 activations; allowed: 'fp16'"
        )
    _check_int_operand("weight", workload.weight_format, config.weight_bits,
                       config.weight_signed, config.kind)
    g = workload.group_size
    if g is None or g % config.group_size:
        raise ValueError(
            f"workload group_size={g} does not fit the {config.kind} config's "
            f"group_size={config.group_size}: the workload's groups must be a multiple of the "
            f"PE's (a larger group resends the same scale)"
        )


INT_MAC: PEModel[IntMacConfig] = PEModel(breakdown=_int_mac_model, check_workload=_check_int_mac)
FP16_MAC: PEModel[Fp16MacConfig] = PEModel(
    breakdown=_fp16_mac_model, check_workload=_check_fp16_mac,
    unit_keys={"fp16_multipliers": "FPMul", "fp32_tree_adders": "FPAdd",
               "fp32_accumulate_adder": "FPAdd"})
DEQUANT_MAC: PEModel[DequantMacConfig] = PEModel(
    breakdown=_dequant_mac_model, check_workload=_check_dequant_mac,
    unit_keys={"fp16_multipliers": "FPMul", "fp32_tree_adders": "FPAdd",
               "fp32_accumulate_adder": "FPAdd", "dequantizers": "IntScaleFP"})
