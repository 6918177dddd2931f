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
from mpgemm.sim.golden.mac import DequantWeight, dequant_mac_step, fp16_mac_step

from .base import (
    FP16_SPECIALS,
    FP32_SPECIALS,
    FamilyStimulus,
    fp16_random,
    fp16_scales,
    fp32_random,
    fp_matrix,
    idle_flags,
    int_matrix,
)

__all__ = ["INT_MAC", "FP16_MAC", "DEQUANT_MAC"]


_MacConfig = TypeVar("_MacConfig", IntMacConfig, Fp16MacConfig, DequantMacConfig)
#: ``operand(config, rng)``: a random operand (activations, weights or a partial sum).
_Operand = Callable[[_MacConfig, np.random.Generator], Any]


#: ``cancel(config, a, w, rng)``: operands or a partial sum that make the beat's floating-point
#: additions cancel (see :func:`_cancelling_psum` and :func:`_cancelling_lanes`).
_PsumCancel = Callable[[_MacConfig, Any, Any, np.random.Generator], int | None]
_LaneCancel = Callable[[_MacConfig, Any, Any, np.random.Generator], tuple[Any, Any]]


def _mac_random_beats(config: _MacConfig, rng: np.random.Generator, n_valid: int,
                      random_a: _Operand[_MacConfig], random_w: _Operand[_MacConfig],
                      random_psum: _Operand[_MacConfig], *,
                      cancel_psum: _PsumCancel[_MacConfig] | None = None,
                      cancel_lanes: _LaneCancel[_MacConfig] | None = None) -> list[Beat]:
    """At least ``n_valid`` valid beats in random accumulations, with idle cycles mixed in.

    Accumulations are 1-8 beats long. About a third reuse a preloaded weight register
    (weight-stationary use); the rest stream weights with ``load_w`` on every beat
    (output-stationary use). Valid beats are spaced by the config's beat cycles. For the
    floating-point PEs, one accumulation in five starts from a partial sum chosen by
    ``cancel_psum`` and one streamed beat in eight has lanes chosen by ``cancel_lanes``: random
    values almost never cancel, so the adders' normalisation (a leading one at any position)
    and ``inf - inf`` would otherwise go untested.
    """
    def idle() -> Beat:
        # Idle cycles carry junk operands: the PE must ignore everything without
        # `valid`/`load_w`.
        return Beat(a=random_a(config, rng), w=random_w(config, rng),
                    psum=random_psum(config, rng), **idle_flags(rng))

    beats: list[Beat] = []
    count = 0
    gap = config.timing().cycles - 1
    while count < n_valid:
        length = int(rng.integers(1, 9))
        stationary = rng.random() < 0.35
        w_fixed = random_w(config, rng)
        if stationary:
            beats.append(Beat(a=random_a(config, rng), w=w_fixed, load_w=True))
        cancel_first = cancel_psum is not None and rng.random() < 0.2
        for j in range(length):
            if rng.random() < 0.1:
                beats.append(idle())
            a, w = random_a(config, rng), w_fixed if stationary else random_w(config, rng)
            if cancel_lanes is not None and not stationary and rng.random() < 0.125:
                a, w = cancel_lanes(config, a, w, rng)
            psum = random_psum(config, rng)
            if j == 0 and cancel_first and cancel_psum is not None:
                chosen = cancel_psum(config, a, w, rng)
                psum = psum if chosen is None else chosen
            beats.append(Beat(
                a=a,
                w=w,
                psum=psum,
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


def _cancelling_psum(config: Fp16MacConfig | DequantMacConfig, a: tuple[int, ...], w: Any,
                     rng: np.random.Generator) -> int | None:
    """A partial sum that cancels the beat's FP32 product sum ``s``: ``-s`` moved by ``2^j``
    units in the last place (``j`` random, so the difference's leading one lands at any bit of
    the accumulator's adder), exactly ``-s`` (the sum is +0), or for an infinite ``s`` the
    infinity of the other sign (NaN). None for a NaN or zero ``s``."""
    s = (fp16_mac_step(config, 0, a, w) if isinstance(config, Fp16MacConfig)
         else dequant_mac_step(config, 0, a, w))
    neg, mag = s ^ 0x80000000, s & 0x7FFFFFFF
    if mag == 0 or mag > 0x7F800000:
        return None
    j = int(rng.integers(-1, 23))
    if mag == 0x7F800000 or j < 0:
        return neg
    moved = mag - (1 << j) if mag > (1 << j) and rng.random() < 0.5 else mag + (1 << j)
    return neg if moved >= 0x7F800000 else (neg & 0x80000000) | moved


def _partners(n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Lane pairs that meet in the adder tree: neighbours (its first level) or, half the time
    with four or more lanes, lane ``i`` and ``i + n/2`` (the level above: the two halves'
    sums then cancel, by a depth that varies with the lanes' relative sizes)."""
    if n >= 4 and rng.random() < 0.5:
        return [(i, i + n // 2) for i in range(n // 2)]
    return [(i, i + 1) for i in range(0, n - 1, 2)]


def _cancelling_pairs(a: tuple[int, ...], pairs: list[tuple[int, int]],
                      rng: np.random.Generator) -> tuple[int, ...]:
    """Activations whose second lane of each pair is the negated first, moved by up to 8
    units in the last place (or not at all): with equal weights the pair cancels in the
    tree."""
    out = list(a)
    for lane, partner in pairs:
        mag = (a[lane] & 0x7FFF) + (int(rng.integers(-8, 9)) if rng.random() < 0.5 else 0)
        if 0 <= mag <= 0x7C00:
            out[partner] = (a[lane] ^ 0x8000) & 0x8000 | mag
    return tuple(out)


def _paired(values: tuple[Any, ...], pairs: list[tuple[int, int]]) -> tuple[Any, ...]:
    out = list(values)
    for lane, partner in pairs:
        out[partner] = values[lane]
    return tuple(out)


def _fp16_cancel_lanes(config: Fp16MacConfig, a: tuple[int, ...], w: tuple[int, ...],
                       rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    pairs = _partners(len(a), rng)
    return _cancelling_pairs(a, pairs, rng), _paired(w, pairs)


def _fp16_random_beats(config: Fp16MacConfig, rng: np.random.Generator,
                       n_valid: int) -> list[Beat]:
    return _mac_random_beats(config, rng, n_valid, _fp16_lanes, _fp16_lanes, _fp32_psum,
                             cancel_psum=_cancelling_psum,
                             cancel_lanes=_fp16_cancel_lanes if config.lanes > 1 else None)


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
    ones = (0x3C00,) * lanes
    beats += _deepest_cancellations(config, ones, ones)
    return beats


def _deepest_cancellations(config: Fp16MacConfig | DequantMacConfig, a: tuple[int, ...], w: Any
                           ) -> list[Beat]:
    """Beats whose product sum ``s`` is a power of two, from partial sums of the other sign a
    few units below it (the next lower exponent): the sum's leading one at the lowest bits an
    FP32 adder's normaliser can see (random values never cancel that deep)."""
    s = (fp16_mac_step(config, 0, a, w) if isinstance(config, Fp16MacConfig)
         else dequant_mac_step(config, 0, a, w))
    assert s & 0x7FFFFF == 0, "the corner's product sum must be a power of two"
    return [b for d in (1, 2, 3, 5)
            for b in _single(config, a, w, ((s & 0x7FFFFFFF) - d) | (~s & 0x80000000))]


# --- dequantize-then-MAC -----------------------------------------------------------------------

def _dequant_w(config: DequantMacConfig, rng: np.random.Generator) -> DequantWeight:
    lo, hi = int_range(config.weight_bits, config.weight_signed)
    q = tuple(int(x) for x in rng.integers(lo, hi + 1, config.lanes))
    zero = int(rng.integers(lo, hi + 1)) if not config.weight_signed else 0
    r = rng.random()
    if r < 0.6:
        scale = int(np.float16(rng.uniform(0.5, 1.0) * 2.0 ** int(rng.integers(-10, 4)))
                    .view(np.uint16))
    elif r < 0.75:
        # A subnormal scale with its leading one at any bit, times a small code difference:
        # products whose leading one lands at every position of the dequantizer's normaliser.
        top = int(rng.integers(0, 10))
        scale = (1 << top) | int(rng.integers(0, 1 << top)) | (int(rng.integers(0, 2)) << 15)
        q = tuple(min(max(zero + int(rng.integers(-2, 3)), lo), hi) for _ in q)
    elif r < 0.9:
        scale = fp16_random(rng, 1)[0]
    else:
        scale = int(rng.choice(FP16_SPECIALS))
    return DequantWeight(q=q, scale=scale, zero=zero)


def _dequant_cancel_lanes(config: DequantMacConfig, a: tuple[int, ...], w: DequantWeight,
                          rng: np.random.Generator) -> tuple[tuple[int, ...], DequantWeight]:
    pairs = _partners(len(a), rng)
    return (_cancelling_pairs(a, pairs, rng),
            DequantWeight(q=_paired(w.q, pairs), scale=w.scale, zero=w.zero))


def _dequant_random(config: DequantMacConfig, rng: np.random.Generator,
                    n_valid: int) -> list[Beat]:
    return _mac_random_beats(config, rng, n_valid, _fp16_lanes, _dequant_w, _fp32_psum,
                             cancel_psum=_cancelling_psum,
                             cancel_lanes=_dequant_cancel_lanes if config.lanes > 1 else None)


def _dequant_corners(config: DequantMacConfig) -> list[Beat]:
    """Every FP16 special scale with the code extremes and zero points, over activations at the
    FP16 extremes."""
    lanes = config.lanes
    beats: list[Beat] = []
    lo, hi = int_range(config.weight_bits, config.weight_signed)
    zeros = (0,) if config.weight_signed else (lo, hi)
    # Every code at the zero point (signed-zero weights) from a -0 partial sum: the sum stays
    # -0 only if every product is -0, so the sign of a zero dequantized weight is checked.
    for z in zeros:
        for a in (0x3C00, 0xBC00):
            beats.extend(_single(config, (a,) * lanes, DequantWeight(q=(z,) * lanes,
                                                                     scale=0x3C00, zero=z),
                                 0x80000000))
    for scale in FP16_SPECIALS:
        for q in (lo, hi, 0):
            for z in zeros:
                w = DequantWeight(q=(q,) * lanes, scale=scale, zero=z)
                for a in (0x3C00, 0x7BFF, 0x0001, 0x8000):
                    beats.extend(_single(config, (a,) * lanes, w, 0))
    # Dequantized weights of exactly +-32768 (the exponent below infinity's, with infinity's
    # zero fraction): (zero +- 1 - zero) * 32768.
    for z in zeros:
        for q in (z + 1, z - 1):
            if lo <= q <= hi:
                w = DequantWeight(q=(q,) * lanes, scale=0x7800, zero=z)
                for a in (0x3C00, 0x0001, 0xBC00):
                    beats.extend(_single(config, (a,) * lanes, w, 0))
    # Dequantized weights of exactly 1.0: (zero + 1 - zero) * 1.0.
    z = zeros[0]
    one = DequantWeight(q=(z + 1,) * lanes, scale=0x3C00, zero=z)
    beats += _deepest_cancellations(config, (0x3C00,) * lanes, one)
    return beats


# --- whole GEMMs ---------------------------------------------------------------------------------

def _int_gemm(config: IntMacConfig, rng: np.random.Generator, m: int, k: int, n: int, *,
              extreme: bool = False) -> tuple[np.ndarray, QuantizedWeights]:
    """Activations and weights of the configured widths and signedness."""
    a = int_matrix(rng, (m, k), config.act_bits, config.act_signed, extreme)
    w = int_matrix(rng, (k, n), config.weight_bits, config.weight_signed, extreme)
    return a, QuantizedWeights(w)


def _with_specials(rng: np.random.Generator, a: np.ndarray, w: np.ndarray | None) -> None:
    """A few infinities and a NaN in place (``extreme`` GEMMs): +inf in the last row of
    ``a``, NaN in its first (when there are two), -inf in the last column of ``w``; the other
    outputs stay finite. Partial sums then carry infinities and NaNs through the array and
    its edge adders."""
    m, k = a.shape
    a[m - 1, int(rng.integers(k))] = 0x7C00
    if m > 1:
        a[0, int(rng.integers(k))] = 0x7E00
    if w is not None:
        w[int(rng.integers(k)), w.shape[1] - 1] = 0xFC00


def _fp16_gemm(config: Fp16MacConfig, rng: np.random.Generator, m: int, k: int, n: int, *,
               extreme: bool = False) -> tuple[np.ndarray, QuantizedWeights]:
    """FP16 activations and weights: finite, but for a few infinities and a NaN in extreme
    GEMMs (:func:`_with_specials`)."""
    a, w = fp_matrix(rng, (m, k), extreme=extreme), fp_matrix(rng, (k, n), extreme=extreme)
    if extreme:
        _with_specials(rng, a, w)
        _subnormals(rng, a, 0.1)
        _subnormals(rng, w, 0.1)
    return a, QuantizedWeights(w)


def _dequant_gemm(config: DequantMacConfig, rng: np.random.Generator, m: int, k: int, n: int,
                  *, extreme: bool = False) -> tuple[np.ndarray, QuantizedWeights]:
    """FP16 activations (with a few infinities and a NaN in extreme GEMMs); weight codes with
    an FP16 scale and (unsigned codes) a zero point per group."""
    g = config.group_size
    lo, hi = int_range(config.weight_bits, config.weight_signed)
    a = fp_matrix(rng, (m, k), extreme=extreme)
    scales = fp16_scales(rng, (k // g, n))
    if extreme:
        _with_specials(rng, a, None)
        # Subnormal activations and scales of every magnitude: dequantized weights then go
        # subnormal too, and subnormal x subnormal products lead at each low bit of the
        # multipliers' normalisers.
        _subnormals(rng, a, 0.1)
        _subnormals(rng, scales, 0.25)
    codes = int_matrix(rng, (k, n), config.weight_bits, config.weight_signed, extreme)
    zeros = (np.zeros((k // g, n), np.int64) if config.weight_signed
             else rng.integers(lo, hi + 1, (k // g, n)))
    return a, QuantizedWeights(codes, scales=scales, zeros=zeros)


def _subnormals(rng: np.random.Generator, x: np.ndarray, rate: float) -> None:
    """Replace a fraction ``rate`` of the finite FP16 codes ``x`` by random subnormals whose
    leading one is at a uniformly random bit (in place)."""
    pick = rng.random(x.shape) < rate
    pick &= (x & 0x7C00) != 0x7C00
    lead = rng.integers(0, 10, int(pick.sum()))
    mant = (1 << lead) | (rng.integers(0, 1 << 10, lead.size) & ((1 << lead) - 1))
    x[pick] = mant | (rng.integers(0, 2, lead.size) << 15)


INT_MAC = FamilyStimulus(random_beats=_int_random, corner_beats=_int_corners,
                         random_gemm=_int_gemm)
FP16_MAC = FamilyStimulus(random_beats=_fp16_random_beats, corner_beats=_fp16_corners,
                          random_gemm=_fp16_gemm)
DEQUANT_MAC = FamilyStimulus(random_beats=_dequant_random, corner_beats=_dequant_corners,
                             random_gemm=_dequant_gemm)
