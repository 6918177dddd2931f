"""Stimulus of the baseline MAC families (:mod:`mpgemm.pe_designs.mac`).

The three families share the shape of their random stimulus (accumulations of 1-8 beats, a
third of them reusing a preloaded weight register, idle cycles with junk operands) and differ in
their operands and corner cases.
"""

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from mpgemm.pe_designs.mac import DequantMacConfig, Fp16MacConfig, IntMacConfig
from mpgemm.sim.golden.contract import Beat, PEConfig, QuantizedWeights
from mpgemm.sim.golden.formats import int_range
from mpgemm.sim.golden.mac import DequantWeight

from .base import (
    FP16_SPECIALS,
    FP32_SPECIALS,
    FamilyStimulus,
    fp16_random,
    fp16_scales,
    fp32_random,
    fp_matrix,
    int_matrix,
)

__all__ = ["INT_MAC", "FP16_MAC", "DEQUANT_MAC"]


_MacConfig = TypeVar("_MacConfig", IntMacConfig, Fp16MacConfig, DequantMacConfig)
#: ``operand(config, rng)``: a random operand (activations, weights or a partial sum).
_Operand = Callable[[_MacConfig, np.random.Generator], Any]


def _mac_random_beats(config: _MacConfig, rng: np.random.Generator, n_valid: int,
                      random_a: _Operand[_MacConfig], random_w: _Operand[_MacConfig],
                      random_psum: _Operand[_MacConfig]) -> list[Beat]:
    """At least ``n_valid`` valid beats in random accumulations, with idle cycles mixed in.

    Accumulations are 1-8 beats long. About a third reuse a preloaded weight register
    (weight-stationary use); the rest stream weights with ``load_w`` on every beat
    (output-stationary use). Valid beats are spaced by the config's beat cycles.
    """
    def idle() -> Beat:
        # Idle cycles carry junk operands: the PE must ignore everything without
        # `valid`/`load_w`.
        return Beat(a=random_a(config, rng), w=random_w(config, rng),
                    psum=random_psum(config, rng))

    beats: list[Beat] = []
    count = 0
    gap = config.timing().cycles - 1
    while count < n_valid:
        length = int(rng.integers(1, 9))
        stationary = rng.random() < 0.35
        w_fixed = random_w(config, rng)
        if stationary:
            beats.append(Beat(a=random_a(config, rng), w=w_fixed, load_w=True))
        for j in range(length):
            if rng.random() < 0.1:
                beats.append(idle())
            beats.append(Beat(
                a=random_a(config, rng),
                w=w_fixed if stationary else random_w(config, rng),
                psum=random_psum(config, rng),
                valid=True,
                load_w=not stationary,
                first=j == 0,
                last=j == length - 1,
            ))
            beats.extend(idle() for _ in range(gap))
            count += 1
    return beats


def _single(config: PEConfig, a: Any, w: Any, psum: int) -> Iterator[Beat]:
    yield Beat(a=a, w=w, psum=psum, valid=True, load_w=True, first=True, last=True)
    for _ in range(config.timing().cycles - 1):
        yield Beat(a=a, w=w)


# --- integer MAC --------------------------------------------------------------------------------

def _int_a(config: IntMacConfig, rng: np.random.Generator) -> tuple[int, ...]:
    lo, hi = int_range(config.act_bits, config.act_signed)
    if rng.random() < 0.2:
        return tuple(int(rng.choice([lo, hi, 0])) for _ in range(config.lanes))
    return tuple(int(x) for x in rng.integers(lo, hi + 1, config.lanes))


def _int_w(config: IntMacConfig, rng: np.random.Generator) -> tuple[int, ...]:
    lo, hi = int_range(config.weight_bits, config.weight_signed)
    if rng.random() < 0.2:
        return tuple(int(rng.choice([lo, hi, 0])) for _ in range(config.lanes))
    return tuple(int(x) for x in rng.integers(lo, hi + 1, config.lanes))


def _int_psum(config: IntMacConfig, rng: np.random.Generator) -> int:
    if rng.random() < 0.5:
        return 0
    lo, hi = int_range(config.acc_bits, True)
    return int(rng.integers(lo, hi + 1))


def _int_random(config: IntMacConfig, rng: np.random.Generator, n_valid: int) -> list[Beat]:
    return _mac_random_beats(config, rng, n_valid, _int_a, _int_w, _int_psum)


def _int_corners(config: IntMacConfig) -> list[Beat]:
    """Every pair of operand extremes from every accumulator extreme, and a long run of the
    largest products (the accumulator reaches its extreme, and wraps when started near it)."""
    lanes = config.lanes
    beats: list[Beat] = []
    alo, ahi = int_range(config.act_bits, config.act_signed)
    wlo, whi = int_range(config.weight_bits, config.weight_signed)
    plo, phi = int_range(config.acc_bits, True)
    avals = sorted({alo, ahi, 0, min(1, ahi), max(-1, alo)})
    wvals = sorted({wlo, whi, 0, min(1, whi), max(-1, wlo)})
    for a in avals:
        for w in wvals:
            for p in (0, phi, plo):
                beats.extend(_single(config, (a,) * lanes, (w,) * lanes, p))
    big = max(((a, w) for a in avals for w in wvals), key=lambda aw: aw[0] * aw[1])
    for start in (0, phi - 1):
        for j in range(16):
            beats.append(Beat(a=(big[0],) * lanes, w=(big[1],) * lanes, psum=start,
                              valid=True, load_w=True, first=j == 0, last=j == 15))
            beats.extend(Beat(a=(0,) * lanes, w=(0,) * lanes)
                         for _ in range(config.timing().cycles - 1))
    return beats


# --- FP16 MAC ------------------------------------------------------------------------------------

def _fp16_lanes(config: Fp16MacConfig | DequantMacConfig, rng: np.random.Generator
                ) -> tuple[int, ...]:
    return tuple(fp16_random(rng, config.lanes))


def _fp32_psum(config: PEConfig, rng: np.random.Generator) -> int:
    return fp32_random(rng)


def _fp16_random_beats(config: Fp16MacConfig, rng: np.random.Generator,
                       n_valid: int) -> list[Beat]:
    return _mac_random_beats(config, rng, n_valid, _fp16_lanes, _fp16_lanes, _fp32_psum)


def _fp16_corners(config: Fp16MacConfig) -> list[Beat]:
    """Every pair of FP16 specials, FP32 special partial sums, exact cancellation (to +0), and
    lanes that cancel within the tree."""
    lanes = config.lanes
    beats: list[Beat] = []
    for a in FP16_SPECIALS:
        for w in FP16_SPECIALS:
            beats.extend(_single(config, (a,) * lanes, (w,) * lanes, 0))
    for p in FP32_SPECIALS:
        for a in (0x0000, 0x8000, 0x3C00, 0x7C00, 0x7E00, 0x0001):
            beats.extend(_single(config, (a,) * lanes, (0x3C00,) * lanes, p))
    for x in (0x3C00, 0x0001, 0x7BFF):
        prod = int(np.float32(np.uint16(x).view(np.float16)).view(np.uint32))
        beats.extend(_single(config, (x,) * lanes, (0x3C00,) * lanes, prod ^ 0x80000000))
    if lanes > 1:
        alternating = tuple(0x3C00 if l % 2 == 0 else 0xBC00 for l in range(lanes))
        beats.extend(_single(config, alternating, (0x4000,) * lanes, 0))
    return beats


# --- dequantize-then-MAC -----------------------------------------------------------------------

def _dequant_w(config: DequantMacConfig, rng: np.random.Generator) -> DequantWeight:
    lo, hi = int_range(config.weight_bits, config.weight_signed)
    q = tuple(int(x) for x in rng.integers(lo, hi + 1, config.lanes))
    zero = int(rng.integers(lo, hi + 1)) if not config.weight_signed else 0
    r = rng.random()
    if r < 0.7:
        scale = int(np.float16(rng.uniform(0.5, 1.0) * 2.0 ** int(rng.integers(-10, 4)))
                    .view(np.uint16))
    elif r < 0.9:
        scale = fp16_random(rng, 1)[0]
    else:
        scale = int(rng.choice(FP16_SPECIALS))
    return DequantWeight(q=q, scale=scale, zero=zero)


def _dequant_random(config: DequantMacConfig, rng: np.random.Generator,
                    n_valid: int) -> list[Beat]:
    return _mac_random_beats(config, rng, n_valid, _fp16_lanes, _dequant_w, _fp32_psum)


def _dequant_corners(config: DequantMacConfig) -> list[Beat]:
    """Every FP16 special scale with the code extremes and zero points, over activations at the
    FP16 extremes."""
    lanes = config.lanes
    beats: list[Beat] = []
    lo, hi = int_range(config.weight_bits, config.weight_signed)
    zeros = (0,) if config.weight_signed else (lo, hi)
    for scale in FP16_SPECIALS:
        for q in (lo, hi, 0):
            for z in zeros:
                w = DequantWeight(q=(q,) * lanes, scale=scale, zero=z)
                for a in (0x3C00, 0x7BFF, 0x0001, 0x8000):
                    beats.extend(_single(config, (a,) * lanes, w, 0))
    return beats


# --- whole GEMMs ---------------------------------------------------------------------------------

def _int_gemm(config: IntMacConfig, rng: np.random.Generator, m: int, k: int, n: int, *,
              extreme: bool = False) -> tuple[np.ndarray, QuantizedWeights]:
    """Activations and weights of the configured widths and signedness."""
    a = int_matrix(rng, (m, k), config.act_bits, config.act_signed, extreme)
    w = int_matrix(rng, (k, n), config.weight_bits, config.weight_signed, extreme)
    return a, QuantizedWeights(w)


def _fp16_gemm(config: Fp16MacConfig, rng: np.random.Generator, m: int, k: int, n: int, *,
               extreme: bool = False) -> tuple[np.ndarray, QuantizedWeights]:
    """FP16 activations and weights (finite)."""
    return (fp_matrix(rng, (m, k), extreme=extreme),
            QuantizedWeights(fp_matrix(rng, (k, n), extreme=extreme)))


def _dequant_gemm(config: DequantMacConfig, rng: np.random.Generator, m: int, k: int, n: int,
                  *, extreme: bool = False) -> tuple[np.ndarray, QuantizedWeights]:
    """FP16 activations; weight codes with an FP16 scale and (unsigned codes) a zero point per
    group."""
    g = config.group_size
    lo, hi = int_range(config.weight_bits, config.weight_signed)
    a = fp_matrix(rng, (m, k), extreme=extreme)
    codes = int_matrix(rng, (k, n), config.weight_bits, config.weight_signed, extreme)
    zeros = (np.zeros((k // g, n), np.int64) if config.weight_signed
             else rng.integers(lo, hi + 1, (k // g, n)))
    return a, QuantizedWeights(codes, scales=fp16_scales(rng, (k // g, n)), zeros=zeros)


INT_MAC = FamilyStimulus(random_beats=_int_random, corner_beats=_int_corners,
                         random_gemm=_int_gemm)
FP16_MAC = FamilyStimulus(random_beats=_fp16_random_beats, corner_beats=_fp16_corners,
                          random_gemm=_fp16_gemm)
DEQUANT_MAC = FamilyStimulus(random_beats=_dequant_random, corner_beats=_dequant_corners,
                             random_gemm=_dequant_gemm)
