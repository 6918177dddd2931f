"""Stimulus of the MixPE PE (:mod:`mpgemm.pe_designs.mixpe`), registered as the family's
``MIXPE``: the amaranth.sim tests and the cocotb testbench drive the same transactions. Pure
numpy."""

import numpy as np

from mpgemm.pe_designs.mixpe import MixPEConfig
from mpgemm.sim.golden.contract import Beat, QuantizedWeights
from mpgemm.sim.golden.formats import int_range
from mpgemm.sim.golden.mixpe import MixPEWeight

from .base import FamilyStimulus, fp16_scales, fp_matrix, idle_flags, int_matrix

__all__ = ["MIXPE", "random_beats", "corner_beats", "random_gemm", "group_beats",
           "cancelling_lanes",
           "FP16_EXTREMES", "FP16_SCALE_SPECIALS", "FP32_PSUMS"]

#: FP16 activation extremes: +-0, smallest and largest subnormals, smallest normal, +-1,
#: +-65504 (largest finite), +-32768 (the largest power of two: the exponent below
#: infinity's, with a zero fraction, as infinity has).
FP16_EXTREMES = (0x0000, 0x8000, 0x0001, 0x83FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF,
                 0x7800, 0xF800)
#: FP16 scales at the corners: zeros, a subnormal, the largest finite, infinities and NaN.
FP16_SCALE_SPECIALS = (0x0000, 0x8000, 0x0001, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00)
#: FP32 partial sums at the corners: +-0, largest finite, infinity, NaN, smallest subnormal.
FP32_PSUMS = (0x00000000, 0x80000000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0x7FC00000, 0x00000001)


def _acts(config: MixPEConfig, rng: np.random.Generator, extreme: bool) -> tuple[int, ...]:
    n = config.lanes
    if config.is_fp:
        if extreme:
            return tuple(int(x) for x in rng.choice(FP16_EXTREMES, n))
        if rng.random() < 0.8:
            # Exponents near one another, as in an activation vector: alignment keeps most bits.
            vals = rng.uniform(-2.0, 2.0, n) * 2.0 ** rng.integers(-4, 5, n)
            return tuple(int(np.float16(v).view(np.uint16)) for v in vals)
        # Any finite code: wide exponent spreads make the truncating alignment drop bits.
        return tuple(int(rng.integers(0, 0x7C00)) | int(rng.integers(0, 2)) << 15
                     for _ in range(n))
    lo, hi = int_range(config.act_bits, True)
    vals = rng.choice([lo, hi, 0, -1], n) if extreme else rng.integers(lo, hi + 1, n)
    return tuple(int(x) for x in vals)


def _codes(config: MixPEConfig, rng: np.random.Generator, extreme: bool) -> tuple[int, ...]:
    b = config.weight_bits
    if extreme:
        vals = rng.choice(sorted({0, (1 << b) - 1, 1 << (b - 1), (1 << (b - 1)) - 1}),
                          config.lanes)
    else:
        vals = rng.integers(0, 1 << b, config.lanes)
    return tuple(int(x) for x in vals)


def _zero(config: MixPEConfig, rng: np.random.Generator, extreme: bool) -> int:
    if not config.has_zero:
        return 0
    top = (1 << config.weight_bits) - 1
    return int(rng.choice([0, top])) if extreme else int(rng.integers(0, top + 1))


def _scale(config: MixPEConfig, rng: np.random.Generator, extreme: bool) -> int:
    if config.is_fp:
        # Non-finite scales make the whole output inf/NaN: rare here, every one in the corners.
        if extreme and rng.random() < 0.1:
            return int(rng.choice(FP16_SCALE_SPECIALS))
        v = rng.uniform(0.5, 1.0) * 2.0 ** int(rng.integers(-12, 4)) * rng.choice([-1.0, 1.0])
        return int(np.float16(v).view(np.uint16))
    bits = config.scale_bits
    if extreme:
        return int(rng.choice([0, 1, (1 << bits) - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1]))
    return int(rng.integers(0, 1 << bits))


def _psum(config: MixPEConfig, rng: np.random.Generator, extreme: bool = False) -> int:
    if config.is_fp:
        if extreme and rng.random() < 0.1:
            return int(rng.choice(FP32_PSUMS))
        if rng.random() < 0.5:
            return 0
        return int(np.float32(rng.uniform(-2.0, 2.0) * 2.0 ** int(rng.integers(-8, 12)))
                   .view(np.uint32))
    lo, hi = int_range(config.acc_bits, True)
    if extreme:
        return int(rng.choice([0, lo, hi, hi - 1]))
    if rng.random() < 0.5:
        return 0
    return int(rng.integers(lo, hi + 1, dtype=np.int64))


def _random_w(config: MixPEConfig, rng: np.random.Generator, extreme: bool = False) -> MixPEWeight:
    return MixPEWeight(q=_codes(config, rng, extreme), zero=_zero(config, rng, extreme),
                       scale=_scale(config, rng, extreme))


def w_reset(config: MixPEConfig) -> MixPEWeight:
    """The weight register's reset value in golden-model form."""
    return config.golden.w_reset(config)


def _idle(config: MixPEConfig, rng: np.random.Generator, load_w: bool = False) -> Beat:
    # Idle cycles carry junk operands: the PE must ignore everything without valid/load_w
    # (with load_w it latches i_w into the weight register, and nothing else).
    return Beat(a=_acts(config, rng, False), w=_random_w(config, rng), psum=_psum(config, rng),
                load_w=load_w, **idle_flags(rng))


def group_beats(config: MixPEConfig, rng: np.random.Generator, *, first: bool, last: bool,
                psum: int, n_beats: int | None = None, extreme: bool = False,
                zero: int | None = None, scale: int | None = None,
                acts: int | tuple[int, ...] | None = None,
                codes: int | tuple[int, ...] | None = None, idle: float = 0.1) -> list[Beat]:
    """One quantization group: ``n_beats`` beats (default a full group of ``group_size /
    lanes``), idle cycles mixed in at rate ``idle``. ``acts`` / ``codes`` fix every lane's
    value (one value for all lanes, or a tuple of one per lane); otherwise they are random
    (extreme values with ``extreme``). The zero point and scale are the group's (read from
    its last beat)."""
    n = config.beats_per_group if n_beats is None else n_beats
    zero = _zero(config, rng, extreme) if zero is None else zero
    scale = _scale(config, rng, extreme) if scale is None else scale
    out: list[Beat] = []
    reused = False
    for j in range(n):
        a = _acts(config, rng, extreme) if acts is None else _per_lane(config, acts)
        q = _codes(config, rng, extreme) if codes is None else _per_lane(config, codes)
        w = MixPEWeight(q=q, zero=zero, scale=scale)
        # Now and then a beat reuses the weight register (weight-stationary use): i_w then
        # carries junk the PE must ignore, and the beat computes with the stored weights.
        reuse = j > 0 and not reused and rng.random() < 0.1
        if reuse:
            w = _random_w(config, rng)
        reused = reuse
        out.append(Beat(a=a, w=w, psum=psum if j == 0 else _psum(config, rng), valid=True,
                        load_w=not reuse, first=first and j == 0, last=last and j == n - 1,
                        group_end=j == n - 1))
        while rng.random() < idle:
            # Now and then an idle cycle preloads the weight register (a weight-stationary
            # array loading ahead): a following beat without load_w computes with it.
            out.append(_idle(config, rng, load_w=rng.random() < 0.2))
    return out


def _per_lane(config: MixPEConfig, value: int | tuple[int, ...]) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else (value,) * config.lanes


def cancelling_lanes(config: MixPEConfig) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """FP16 MixPEs: ``(acts, codes)`` of beats whose two first lanes cancel to one unit of the
    smaller activation's grid, ``c0 * 2^e - c1 * |a1| = 2^(e - d - 10)`` with ``a0 = 2^e``
    and ``|a1|`` a normal number ``d`` binades below it, for every alignment distance ``d``
    the weight codes allow (``c1 * s1 = c0 * 2^(d + 10) - 1`` with a significand ``s1`` in
    [1024, 2047]); the other lanes are zero. The beat's integer sum of aligned products then
    leads at the lowest bits its normaliser has: the deepest cancellations a beat can make."""
    if not config.is_fp or config.lanes < 2:
        return []
    # The largest positive code (signed codes are two's complement).
    top = (1 << (config.weight_bits - config.weight_signed)) - 1
    out = []
    for d in range(11):
        found = next(((c0, c1, (c0 << (d + 10)) - 1) for c1 in range(1, top + 1, 2)
                      for c0 in range(1, top + 1)
                      if ((c0 << (d + 10)) - 1) % c1 == 0
                      and 1024 <= ((c0 << (d + 10)) - 1) // c1 <= 2047), None)
        if found is None:
            continue
        c0, c1, num = found
        s1 = num // c1
        for e in (15, 20, 5 + d):   # a0 = 1, 32 and a small power of two (biased exponents)
            a0 = e << 10
            a1 = 0x8000 | ((e - d) << 10) | (s1 - 1024)
            rest = (0,) * (config.lanes - 2)
            out.append(((a0, a1) + rest, (c0, c1) + rest))
    return out


def random_beats(config: MixPEConfig, rng: np.random.Generator, n_valid: int) -> list[Beat]:
    """At least ``n_valid`` valid beats: outputs of 1-3 groups, mostly full groups, some
    shorter ones (a one-beat group makes the dequantizer take a group every cycle), 15 % of the
    groups with extreme values."""
    beats: list[Beat] = []
    count = 0
    while count < n_valid:
        n_groups = int(rng.integers(1, 4))
        psum = _psum(config, rng)
        for gi in range(n_groups):
            short = rng.random() < 0.25
            n = int(rng.integers(1, config.beats_per_group + 1)) if short else None
            grp = group_beats(config, rng, first=gi == 0, last=gi == n_groups - 1, psum=psum,
                              n_beats=n, extreme=rng.random() < 0.15)
            beats += grp
            count += sum(1 for b in grp if b.valid)
    return beats


def corner_beats(config: MixPEConfig) -> list[Beat]:
    """Deterministic corner cases: zero points at both extremes, extreme scales and partial
    sums, the largest group sums (every lane at the product extreme for a whole group), all
    zeros, back-to-back one-beat groups, and a whole-K output of extreme groups."""
    rng = np.random.default_rng(0)    # the corner groups are fixed; their fillers need not vary
    b = config.weight_bits
    zeros = (0, (1 << b) - 1) if config.has_zero else (0,)
    scales: tuple[int, ...]
    psums: tuple[int, ...]
    if config.is_fp:
        scales = (0x3C00, 0xBC00, 0x7BFF, 0x0001, 0x0000, 0x7C00, 0x7E00)
        psums = FP32_PSUMS
        a_ext = (0xFBFF, 0x7BFF, 0x0001, 0x3C00)
    else:
        top = (1 << config.scale_bits) - 1
        # The largest |s| is the top code, or -2^(bits-1) for a two's complement scale.
        big = 1 << (config.scale_bits - 1) if config.scale_signed else top
        scales = (0, 1, big, top if config.scale_signed else 1 << (config.scale_bits - 1))
        lo, hi = int_range(config.acc_bits, True)
        psums = (0, lo, hi)
        alo, ahi = int_range(config.act_bits, True)
        a_ext = (alo, ahi, -1, 1)
    q_ext = sorted({0, (1 << b) - 1, 1 << (b - 1), (1 << (b - 1)) - 1})
    beats: list[Beat] = []
    # Saturating sums: a whole group of the same extreme activation and code, so P, A and D
    # reach the bounds their widths were sized for.
    for a in a_ext:
        for q in q_ext:
            for z in zeros:
                beats += group_beats(config, rng, first=True, last=True, psum=0, acts=a,
                                     codes=q, zero=z, scale=scales[2], idle=0.0)
    for z in zeros:
        for s in scales:
            for p in psums:
                beats += group_beats(config, rng, first=True, last=True, psum=p, extreme=True,
                                     zero=z, scale=s, idle=0.0)
    # Every code at the zero point (every dequantized weight a signed zero) from +0 and -0
    # partial sums, positive and negative scales: the sign of a zero result.
    for z in zeros:
        for p in (psums[:2] if config.is_fp else psums[:1]):
            for s in (scales[:2] if config.is_fp else scales[1:2]):
                beats += group_beats(config, rng, first=True, last=True, psum=p, codes=z,
                                     zero=z, scale=s, idle=0.0)
    # Lanes that cancel to one unit at every alignment distance (FP16 activations).
    for acts, codes in cancelling_lanes(config):
        for z in zeros:
            beats += group_beats(config, rng, first=True, last=True, psum=0, acts=acts,
                                 codes=codes, zero=z, scale=scales[0], idle=0.0)
    # All zeros: activations, codes and partial sum.
    beats += group_beats(config, rng, first=True, last=True, psum=0, acts=0, codes=0, zero=0,
                         scale=scales[1], idle=0.0)
    # Back-to-back one-beat groups into one output: the dequantizer takes a group per cycle.
    for gi in range(6):
        beats += group_beats(config, rng, first=gi == 0, last=gi == 5, psum=psums[0],
                             n_beats=1, extreme=gi % 2 == 0, idle=0.0)
    # An output over many extreme groups, accumulated near the top of the output range.
    for gi in range(4):
        beats += group_beats(config, rng, first=gi == 0, last=gi == 3, psum=psums[-1],
                             extreme=True, zero=zeros[-1], scale=scales[2], idle=0.0)
    return beats


def random_gemm(config: MixPEConfig, rng: np.random.Generator, m: int, k: int, n: int, *,
                extreme: bool = False) -> tuple[np.ndarray, QuantizedWeights]:
    """A whole GEMM's operands: integer or finite FP16 activations, ``weight_bits`` codes (with
    ``extreme``, 20 % of them the corner codes), per group a zero point (unsigned weights) and a
    scale (an integer code, or FP16 for FP16 activations)."""
    g, b = config.group_size, config.weight_bits
    if config.is_fp:
        a = fp_matrix(rng, (m, k), "fp16", extreme)
    else:
        a = int_matrix(rng, (m, k), config.act_bits, True, extreme)
    codes = rng.integers(0, 1 << b, (k, n))
    if extreme:
        pick = rng.random(codes.shape) < 0.2
        codes[pick] = rng.choice(sorted({0, (1 << b) - 1, 1 << (b - 1), (1 << (b - 1)) - 1}),
                                 int(pick.sum()))
    zeros = (np.zeros((k // g, n), np.int64) if config.weight_signed
             else rng.integers(0, 1 << b, (k // g, n)))
    scales = (fp16_scales(rng, (k // g, n)) if config.is_fp
              else rng.integers(0, 1 << config.scale_bits, (k // g, n)))
    return a, QuantizedWeights(codes, scales=scales, zeros=zeros)


MIXPE = FamilyStimulus(random_beats=random_beats, corner_beats=corner_beats,
                       random_gemm=random_gemm)
