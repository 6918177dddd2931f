"""Golden models of the baseline MAC families (:mod:`mpgemm.pe_designs.mac`).

Each family's beat is one arithmetic step (:class:`~.contract.StepModel`): the integer MAC
wraps only in its accumulator register; the FP16 MAC forms exact FP32 products, sums them in a
balanced FP32 tree (adjacent pairs first) and accumulates with one round-to-nearest-even each;
the dequantize-then-MAC PE first rounds ``(q - z) * s`` to FP16. :func:`~.contract.gemm` computes a
whole GEMM as one of these PEs does, vectorised over M and N.

Configs are read through protocols (:class:`Fp16MacLike`, :class:`IntMacLike`,
:class:`DequantMacLike`) that name the fields each model reads; the config classes in
:mod:`mpgemm.pe_designs.mac` implement them.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .contract import PEConfig, QuantizedWeights, StepModel, wrap_signed
from .fp import fp16_mul_fp32, fp32_add, int_scale_fp16

__all__ = [
    "Fp16MacLike", "IntMacLike", "DequantMacLike",
    "int_mac_step", "fp16_mac_step", "dequant_mac_step", "dequant_mac_weight", "dequantize_fp16",
    "DequantWeight",
    "int_mac_gemm", "fp16_mac_gemm", "dequant_mac_gemm", "INT_MAC", "FP16_MAC", "DEQUANT_MAC",
]


class Fp16MacLike(PEConfig, Protocol):
    """What the FP16 MAC's model reads of its config (``Fp16MacConfig``)."""

    @property
    def lanes(self) -> int:
        """Products per beat."""
        ...


class IntMacLike(PEConfig, Protocol):
    """What the integer MAC's model reads of its config (``IntMacConfig``)."""

    @property
    def lanes(self) -> int:
        """Products per beat."""
        ...

    @property
    def acc_bits(self) -> int:
        """Accumulator width (it wraps modulo ``2**acc_bits``)."""
        ...


class DequantMacLike(PEConfig, Protocol):
    """What the dequantize-then-MAC model reads of its config (``DequantMacConfig``)."""

    @property
    def lanes(self) -> int:
        """Weights per beat."""
        ...

    @property
    def group_size(self) -> int:
        """Weights per quantization group along K."""
        ...

    @property
    def weight_signed(self) -> bool:
        """Two's complement codes (else unsigned codes with a zero point)."""
        ...

    @property
    def mac(self) -> Fp16MacLike:
        """The FP16 MAC the dequantized weights feed."""
        ...


def int_mac_step(config: IntMacLike, base: int, a: Sequence[int], w: Sequence[int]) -> int:
    """One beat of the integer MAC: ``wrap(base + sum_l a[l] * w[l], acc_bits)``.

    The products and their sum are exact; only the accumulator register wraps.
    """
    _check_step_lanes(config, a, w)
    dot = sum(int(x) * int(y) for x, y in zip(a, w, strict=True))
    return wrap_signed(int(base) + dot, config.acc_bits)


def _check_step_lanes(config: IntMacLike | Fp16MacLike, a: Sequence[int],
                      w: Sequence[int]) -> None:
    """A beat's operands must be one integer per lane each (the port check, for a caller of
    the step functions that bypasses :func:`~mpgemm.sim.golden.contract.run_contract`)."""
    for name, values in (("activations", a), ("weights", w)):
        if len(values) != config.lanes:
            raise ValueError(f"the {config.kind} beat needs {config.lanes} {name} (one per "
                             f"lane), not {len(values)}")
        bad = [v for v in values if isinstance(v, (bool, np.bool_))
               or not isinstance(v, (int, np.integer))]
        if bad:
            raise TypeError(f"the {config.kind} beat's {name} must be integers (FP16 as bit "
                            f"patterns), not {bad[0]!r}")


def _fp32_tree(values: list[int]) -> int:
    """Balanced FP32 adder tree, adjacent pairs first: the order of the hardware's tree."""
    vals: list[np.uint32 | np.ndarray] = [np.uint32(v) for v in values]
    while len(vals) > 1:
        vals = [fp32_add(vals[i], vals[i + 1]) for i in range(0, len(vals), 2)]
    return int(vals[0])


def fp16_mac_step(config: Fp16MacLike, base: int, a: Sequence[int], w: Sequence[int]) -> int:
    """One beat of the FP16 MAC on bit patterns: exact FP32 products, tree, then accumulate."""
    _check_step_lanes(config, a, w)
    prods = [int(p) for p in fp16_mul_fp32(np.asarray(a, np.uint16), np.asarray(w, np.uint16))]
    return int(fp32_add(np.uint32(base), np.uint32(_fp32_tree(prods))))


def dequantize_fp16(q: Sequence[int], scale: int, zero: int) -> list[int]:
    """GPU-style dequantization: FP16 bit patterns of ``RNE_fp16((q - zero) * scale)``."""
    d = np.asarray(q, dtype=np.int64) - int(zero)
    return [int(v) for v in int_scale_fp16(d, np.full(d.shape, scale, np.uint16))]


@dataclass(frozen=True)
class DequantWeight:
    """One beat's weight operand of the dequantize-then-MAC PE (the ``i_w`` struct)."""

    q: tuple[int, ...]
    scale: int
    zero: int


def dequant_mac_step(config: DequantMacLike, base: int, a: Sequence[int], w: DequantWeight) -> int:
    """One beat of the dequantize-then-MAC PE."""
    return fp16_mac_step(config.mac, base, a, dequantize_fp16(w.q, w.scale, w.zero))


def dequant_mac_weight(config: DequantMacLike, w: QuantizedWeights, n: int,
                       k: slice) -> DequantWeight:
    """The weight operand of the beat covering rows ``k`` of column ``n`` of ``w``: the codes
    with their group's scale and zero point."""
    return DequantWeight(q=tuple(int(c) for c in w.codes[k, n]),
                         scale=w.group_value("scales", k.start, n),
                         zero=w.group_value("zeros", k.start, n))


def _check_lanes(config: IntMacLike | Fp16MacLike, a: np.ndarray, w: np.ndarray) -> None:
    if a.shape[1] != w.shape[0] or a.shape[1] % config.lanes:
        raise ValueError(f"the {config.kind} GEMM needs [M, K] x [K, N] with lanes="
                         f"{config.lanes} dividing K; got {a.shape} x {w.shape}")


def int_mac_gemm(config: IntMacLike, a: np.ndarray, w: QuantizedWeights) -> np.ndarray:
    """Every output of ``A[M, K] x W[K, N]`` as one integer MAC computes it (integers in,
    ``acc_bits`` two's complement out)."""
    codes = w.codes
    _check_lanes(config, a, codes)
    total = a.astype(object) @ codes.astype(object)
    # Wrap-around is modular, so wrapping once at the end equals wrapping every beat.
    return np.vectorize(lambda x: wrap_signed(int(x), config.acc_bits), otypes=[np.int64])(total)


def _fp16_products_gemm(config: Fp16MacLike, a16: np.ndarray, w16: np.ndarray) -> np.ndarray:
    """The FP16 MAC's accumulation of every output, vectorised over M and N: per beat, the
    exact FP32 products of its lanes, a balanced FP32 tree, then the FP32 accumulate."""
    _check_lanes(config, a16, w16)
    lanes = config.lanes
    acc = np.zeros((a16.shape[0], w16.shape[1]), np.uint32)
    for j in range(a16.shape[1] // lanes):
        prods = [fp16_mul_fp32(a16[:, j * lanes + l, None], w16[None, j * lanes + l, :])
                 for l in range(lanes)]
        while len(prods) > 1:
            prods = [fp32_add(prods[i], prods[i + 1]) for i in range(0, len(prods), 2)]
        acc = fp32_add(acc, prods[0])
    return acc


def fp16_mac_gemm(config: Fp16MacLike, a: np.ndarray, w: QuantizedWeights) -> np.ndarray:
    """Every output as one FP16 MAC computes it (FP16 bit patterns in, FP32 bits out)."""
    return _fp16_products_gemm(config, a.astype(np.uint16), w.codes.astype(np.uint16))


def dequant_mac_gemm(config: DequantMacLike, a: np.ndarray, w: QuantizedWeights) -> np.ndarray:
    """Every output as one dequantize-then-MAC PE computes it: each weight is first rounded to
    FP16, ``RNE_fp16((q - z) * s)`` with its group's FP16 scale and zero point."""
    g = config.group_size
    scales, zeros = w.group_field("scales", g), w.group_field("zeros", g)
    if scales is None or (zeros is None and not config.weight_signed):
        raise ValueError("the dequant_mac GEMM needs scales (and zeros for unsigned weights)")
    z = 0 if zeros is None else np.repeat(zeros.astype(np.int64), g, axis=0)
    s = np.repeat(scales.astype(np.uint16), g, axis=0)
    w16 = int_scale_fp16(w.codes.astype(np.int64) - z, s).astype(np.uint16)
    return _fp16_products_gemm(config.mac, a.astype(np.uint16), w16)


def _lanes_reset(config: IntMacLike | Fp16MacLike) -> tuple[int, ...]:
    return (0,) * config.lanes


def _dequant_reset(config: DequantMacLike) -> DequantWeight:
    return DequantWeight(q=(0,) * config.lanes, scale=0, zero=0)


INT_MAC: StepModel[IntMacLike] = StepModel(int_mac_step, int_mac_gemm, _lanes_reset)
FP16_MAC: StepModel[Fp16MacLike] = StepModel(fp16_mac_step, fp16_mac_gemm, _lanes_reset)
DEQUANT_MAC: StepModel[DequantMacLike] = StepModel(dequant_mac_step, dequant_mac_gemm,
                                                   _dequant_reset, dequant_mac_weight)
