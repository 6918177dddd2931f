"""Stimulus of the bit-serial PE family (:mod:`mpgemm.pe_designs.bitserial`): whole groups of
one data type (with its zero point and special value), each beat followed by its term cycles,
sometimes computing from the weight register; FP activations are finite (the alignment datapath
takes finite values only)."""

from dataclasses import replace

import numpy as np

from mpgemm.pe_designs.bitserial import BitSerialConfig
from mpgemm.sim.golden.bitserial import BitSerialWeight, run_bitserial
from mpgemm.sim.golden.contract import Beat, QuantizedWeights
from mpgemm.sim.golden.formats import get_weight_format, int_range

from .base import (
    FamilyStimulus,
    count_valid,
    fp32_random,
    fp_matrix,
    grouped_weights,
    idle_flags,
    int_matrix,
)

__all__ = ["BITSERIAL", "random_gemm"]


def _random_a(config: BitSerialConfig, rng: np.random.Generator) -> tuple[int, ...]:
    if config.is_fp:
        return _fp_act_random(config, rng, config.lanes, False)
    lo, hi = -(1 << (config.act_bits - 1)), (1 << (config.act_bits - 1)) - 1
    return tuple(int(x) for x in rng.integers(lo, hi + 1, config.lanes))


def _random_w(config: BitSerialConfig, rng: np.random.Generator) -> BitSerialWeight:
    dtype = int(rng.integers(len(config.weight_formats)))
    fmt = config.weight_formats[dtype]
    return BitSerialWeight(codes=tuple(_bitserial_codes(fmt, rng, config.lanes, False)),
                           scale=int(rng.integers(0, 1 << config.scale_bits)), dtype=dtype)


def _random_psum(config: BitSerialConfig, rng: np.random.Generator) -> int:
    if config.is_fp:
        return fp32_random(rng)
    if rng.random() < 0.5:
        return 0
    lo, hi = int_range(config.acc_bits, True)
    return int(rng.integers(lo, hi + 1))


def _idle(config: BitSerialConfig, rng: np.random.Generator, load_w: bool = False) -> Beat:
    # Idle cycles carry junk operands: the PE must ignore everything without `valid`/`load_w`
    # (with `load_w` it latches i_w into the weight register, and nothing else).
    return Beat(a=_random_a(config, rng), w=_random_w(config, rng),
                psum=_random_psum(config, rng), load_w=load_w, **idle_flags(rng))


def _fp_act_random(config: BitSerialConfig, rng: np.random.Generator, n: int,
                   extreme: bool) -> tuple:
    """Finite FP16/BF16 activations (the bit-serial FP datapath aligns finite values only)."""
    exp_bits, man_bits = config.act_fields
    top_exp = (1 << exp_bits) - 1
    out = []
    for _ in range(n):
        sign = int(rng.integers(0, 2)) << (exp_bits + man_bits)
        if extreme:
            # Largest finite, smallest subnormal, smallest normal, zero.
            mag = int(rng.choice([((top_exp - 1) << man_bits) | ((1 << man_bits) - 1), 1,
                                  1 << man_bits, 0]))
        elif rng.random() < 0.6:
            # Exponents near one another: alignment keeps most bits, truncation matters.
            mid = (1 << (exp_bits - 1)) - 1
            mag = (int(rng.integers(mid - 6, mid + 7)) << man_bits) | int(
                rng.integers(0, 1 << man_bits))
        else:
            mag = int(rng.integers(0, top_exp << man_bits))
        out.append(sign | mag)
    return tuple(out)


def _bitserial_codes(fmt: str, rng: np.random.Generator, n: int, extreme: bool) -> list[int]:
    """Valid codes of a bit-serial weight format (ternary avoids its reserved code)."""
    if fmt == "ternary":
        return [int(x) for x in rng.choice([0, 1, 3], n)]
    bits = get_weight_format(fmt).bits
    if extreme:
        return [int(x) for x in rng.choice([0, (1 << bits) - 1, 1 << (bits - 1),
                                            (1 << (bits - 1)) - 1], n)]
    return [int(x) for x in rng.integers(0, 1 << bits, n)]


def _bitserial_group(config: BitSerialConfig, rng: np.random.Generator, *, first: bool, last: bool,
                     psum: int, dtype: int | None = None, extreme: bool = False,
                     scale: int | None = None, n_beats: int | None = None,
                     prior: list[Beat] | None = None, sparse: bool = False) -> list[Beat]:
    """One quantization group: ``n_beats`` beats (default ``group_size / lanes``; fewer for
    the tail of a K that is not a multiple of the group), each followed by its term cycles.
    When the group follows ``prior``, its closing beat also waits for the dequantizer to take
    it (a short group closes while the previous one is still being dequantized: the PE
    stalls, and the next beat comes exactly when it is ready again). ``sparse``: every
    activation is zero but lane 0 of the first beat, which is one, so the group sum is one
    weight value (a power of two for many codes: an exact FP32 value whose fraction is 0)."""
    dtype = int(rng.integers(len(config.weight_formats))) if dtype is None else dtype
    fmt = config.weight_formats[dtype]
    zero = 0
    if fmt.startswith("uint"):
        top = (1 << get_weight_format(fmt).bits) - 1
        zero = int(rng.choice([0, top])) if extreme else int(rng.integers(0, top + 1))
    special = int(rng.integers(4)) if fmt.startswith("bitmod") else 0
    if scale is None:
        scale = int(rng.integers(0, 1 << config.scale_bits))
    lo, hi = -(1 << (config.act_bits - 1)), (1 << (config.act_bits - 1)) - 1
    beats: list[Beat] = []
    n = config.group_size // config.lanes if n_beats is None else n_beats
    w_prev = None
    for j in range(n):
        if sparse:
            exp_bits, man_bits = config.act_fields if config.is_fp else (1, 0)
            one = ((1 << (exp_bits - 1)) - 1) << man_bits if config.is_fp else 1
            a = tuple(one if j == 0 and lane == 0 else 0 for lane in range(config.lanes))
        elif config.is_fp:
            a = _fp_act_random(config, rng, config.lanes, extreme)
        elif extreme:
            a = tuple(int(x) for x in rng.choice([lo, hi, 0, -1], config.lanes))
        else:
            a = tuple(int(x) for x in rng.integers(lo, hi + 1, config.lanes))
        w = BitSerialWeight(codes=tuple(_bitserial_codes(fmt, rng, config.lanes, extreme)),
                            scale=scale, dtype=dtype, zero=zero, special=special)
        # Now and then reuse the weight register (weight-stationary use): i_w then carries
        # junk that the PE must ignore.
        reuse = w_prev is not None and rng.random() < 0.2
        if reuse:
            w = _random_w(config, rng)
        else:
            w_prev = w
        beats.append(Beat(a=a, w=w, psum=psum if j == 0 else _random_psum(config, rng),
                          valid=True, load_w=not reuse, first=first and j == 0,
                          last=last and j == n - 1, group_end=j == n - 1))
        gap = config.timing(dtype).cycles - 1
        if j == n - 1 and prior is not None:
            t = len(prior) + len(beats) - 1
            gap = max(t + config.timing(dtype).cycles, _dq_free(config, prior + beats[:-1])) - t - 1
        gap += int(rng.integers(0, 3)) if rng.random() < 0.1 else 0
        # Now and then a cycle while the beat's terms run loads junk into the weight register
        # (a weight-stationary array loading ahead): the beat must keep what it accepted, its
        # scale included. The next beat then loads its own weights.
        idle = [_idle(config, rng, load_w=rng.random() < 0.15) for _ in range(gap)]
        if any(b.load_w for b in idle):
            w_prev = None
        beats.extend(idle)
    return beats


def _dq_free(config: BitSerialConfig, beats: list[Beat]) -> int:
    """First cycle at which the dequantizer can take a group closing after ``beats``: replays
    the PE's timing (:func:`mpgemm.sim.golden.bitserial` documents it); a group closing in
    cycle ``h`` keeps the dequantizer busy until ``h + scale_bits``."""
    free = 0
    w_reg = config.golden.w_reset(config)
    for t, b in enumerate(beats):
        if b.load_w:
            w_reg = b.w
        if b.valid and b.group_end:
            free = max(t + config.timing(w_reg.dtype).cycles, free) + config.scale_bits
    return free


def _bitserial_random(config: BitSerialConfig, rng: np.random.Generator,
                      n_valid: int) -> list[Beat]:
    beats: list[Beat] = []
    while count_valid(beats) < n_valid:
        n_groups = int(rng.integers(1, 4))
        psum = _random_psum(config, rng)
        n = config.group_size // config.lanes
        for g in range(n_groups):
            short = int(rng.integers(1, n)) if n > 1 and rng.random() < 0.3 else None
            beats += _bitserial_group(config, rng, first=g == 0, last=g == n_groups - 1,
                                      psum=psum, extreme=rng.random() < 0.15, n_beats=short,
                                      prior=beats)
    return _drained(config, rng, beats)


def _drained(config: BitSerialConfig, rng: np.random.Generator, beats: list[Beat]) -> list[Beat]:
    """``beats`` plus idle cycles until the last group's dequantization is over, so that any
    stimulus can follow (each generator schedules as if the PE were idle at its start)."""
    return beats + [_idle(config, rng) for _ in range(config.scale_bits + 1)]


def _cancelling_group(config: BitSerialConfig, rng: np.random.Generator, *, dtype: int,
                      sparse: bool, depth: int | None, prior: list[Beat]) -> list[Beat]:
    """FP activations: a one-group output at scale 1 whose partial sum cancels the group's
    value ``g`` in the output adder: ``-g`` moved by ``2^j`` units in the last place (``j``
    random), or, for ``depth`` and a power-of-two ``g``, ``depth`` units below ``|g|`` (the
    sum's leading one at the lowest bits the adder's normaliser sees). Random groups never
    cancel that deep. The group's value is the golden model's, from a partial sum of +0
    (the group follows ``prior`` as :func:`_bitserial_group` schedules it)."""
    beats = _bitserial_group(config, rng, first=True, last=True, psum=0, dtype=dtype,
                             scale=1, sparse=sparse, prior=prior)
    (_, g), = run_bitserial(config, beats, w_reset=config.golden.w_reset(config))
    mag = g & 0x7FFFFFFF
    if mag == 0 or mag >= 0x7F800000:
        return beats
    neg = ~g & 0x80000000
    if depth is not None and g & 0x7FFFFF == 0 and mag > depth:
        psum = neg | (mag - depth)
    else:
        j = int(rng.integers(0, 23))
        moved = mag - (1 << j) if mag > (1 << j) and rng.random() < 0.5 else mag + (1 << j)
        psum = neg | min(moved, 0x7F7FFFFF)
    return [replace(beats[0], psum=psum)] + beats[1:]


def _corner_beats(config: BitSerialConfig) -> list[Beat]:
    """Every data type's extreme groups at scales 0, 1 and the largest, from every corner
    partial sum, and a three-group output exercising every scale bit."""
    rng = np.random.default_rng(0)  # corner groups are fixed; their fillers need not vary
    top = (1 << config.scale_bits) - 1
    if config.is_fp:
        psums: tuple[int, ...] = (0, 0x80000000, 0x7F7FFFFF, 0x7F800000, 0x7FC00000, 0x00000001)
    else:
        psums = (0, (1 << (config.acc_bits - 1)) - 1, -(1 << (config.acc_bits - 1)))
    beats: list[Beat] = []
    for dtype in range(len(config.weight_formats)):
        for scale in (0, 1, top):
            for psum in psums:
                beats += _bitserial_group(config, rng, first=True, last=True, psum=psum,
                                          dtype=dtype, extreme=True, scale=scale,
                                          prior=beats)
        # Group sums that are single weight values (exact powers of two for many codes) scaled
        # by every scale bit.
        for _ in range(4):
            beats += _bitserial_group(config, rng, first=True, last=True, psum=0, dtype=dtype,
                                      scale=top, sparse=True, prior=beats)
        # Several groups into one output, every scale bit exercised.
        for g in range(3):
            beats += _bitserial_group(config, rng, first=g == 0, last=g == 2, psum=0,
                                      dtype=dtype, extreme=True, scale=top - g, prior=beats)
        if config.is_fp:
            # Partial sums that cancel the group's value, to every depth.
            for i in range(12):
                beats += _cancelling_group(config, rng, dtype=dtype, sparse=i >= 8,
                                           depth=(1, 2, 3, 5)[i - 8] if i >= 8 else None,
                                           prior=beats)
    return _drained(config, rng, beats)


def random_gemm(config: BitSerialConfig, rng: np.random.Generator, m: int, k: int, n: int, *,
                extreme: bool = False, nonzero_scales: bool = False
                ) -> tuple[np.ndarray, QuantizedWeights]:
    """A whole GEMM's operands: integer or finite FP16/BF16 activations; per group and column a
    random data type with its codes, zero point (unsigned formats), special value (BitMoD
    formats) and scale code (non-zero with ``nonzero_scales``)."""
    if config.is_fp:
        a = fp_matrix(rng, (m, k), config.act_format, extreme)
    else:
        a = int_matrix(rng, (m, k), config.act_bits, True, extreme)
    return a, grouped_weights(config, rng, k, n, extreme=extreme, specials=True,
                              nonzero_scales=nonzero_scales)


BITSERIAL = FamilyStimulus(random_beats=_bitserial_random, corner_beats=_corner_beats,
                           random_gemm=random_gemm)
