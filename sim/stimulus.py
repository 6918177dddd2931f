"""Stimulus for PE verification: random and corner-case beats, and their port encodings.

Shared by the amaranth.sim unit tests and the cocotb testbenches, so both simulate the same
transactions and compare with the same golden model (:func:`sim.golden.pe.run_contract`).
Pure numpy; configs are read duck-typed.
"""

from collections.abc import Iterator
from typing import Any

import numpy as np

from . import lut_stimulus as _lut
from . import mixpe_stimulus as _mixpe
from .encoding import pack
from .golden.formats import int_range
from .golden.pe import Beat, BitSerialWeight, DequantWeight

__all__ = [
    "random_beats", "corner_beats", "w_reset", "encode_beat", "decode_psum", "count_valid",
    "CTL_BITS", "FP16_SPECIALS", "FP32_SPECIALS",
]

#: Bit positions of the PE contract's control struct (field order of hw.contract.PEControl).
CTL_BITS = {"valid": 0, "load_w": 1, "first": 2, "last": 3, "group_end": 4}

FP16_SPECIALS = [
    0x0000, 0x8000,  # +-0
    0x0001, 0x8001, 0x03FF, 0x83FF,  # smallest and largest subnormals
    0x0400, 0x8400,  # smallest normals
    0x3C00, 0xBC00, 0x3C01, 0x3BFF,  # 1, -1, 1 + ulp, 1 - ulp/2
    0x7BFF, 0xFBFF,  # +-65504 (max finite)
    0x7C00, 0xFC00,  # +-inf
    0x7E00, 0x7C01, 0xFFFF,  # NaNs (quiet, signalling, negative)
]
FP32_SPECIALS = [
    0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007FFFFF, 0x00800000, 0x3F800000,
    0xBF800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001,
    0x4F800000, 0xCF800000,  # +-2^32, the magnitude of the largest FP16 x FP16 product
]


def _fp16_random(rng: np.random.Generator, n: int) -> list[int]:
    """FP16 bit patterns mixing moderate values, all finite codes, subnormals and specials."""
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.5:
            # Moderate magnitudes: sums of these exercise FP32 rounding, not just overflow.
            v = rng.uniform(-2.0, 2.0) * 2.0 ** int(rng.integers(-8, 9))
            out.append(int(np.float16(v).view(np.uint16)))
        elif r < 0.8:
            out.append(int(rng.integers(0, 0x7C00)) | (int(rng.integers(0, 2)) << 15))
        elif r < 0.9:
            out.append(int(rng.integers(0, 0x400)) | (int(rng.integers(0, 2)) << 15))
        else:
            out.append(int(rng.choice(FP16_SPECIALS)))
    return out


def _fp32_random(rng: np.random.Generator) -> int:
    r = rng.random()
    if r < 0.4:
        return 0
    if r < 0.8:
        v = rng.uniform(-2.0, 2.0) * 2.0 ** int(rng.integers(-12, 13))
        return int(np.float32(v).view(np.uint32))
    if r < 0.9:
        return int(rng.integers(0, 1 << 32))
    return int(rng.choice(FP32_SPECIALS))


def _random_a(config: Any, rng: np.random.Generator) -> tuple[int, ...]:
    if config.kind == "bitserial":
        if config.is_fp:
            return _fp_act_random(config, rng, config.lanes, False)
        lo, hi = -(1 << (config.act_bits - 1)), (1 << (config.act_bits - 1)) - 1
        return tuple(int(x) for x in rng.integers(lo, hi + 1, config.lanes))
    if config.kind == "int_mac":
        lo, hi = int_range(config.act_bits, config.act_signed)
        if rng.random() < 0.2:
            return tuple(int(rng.choice([lo, hi, 0])) for _ in range(config.lanes))
        return tuple(int(x) for x in rng.integers(lo, hi + 1, config.lanes))
    return tuple(_fp16_random(rng, config.lanes))


def _random_w(config: Any, rng: np.random.Generator) -> Any:
    if config.kind == "bitserial":
        dtype = int(rng.integers(len(config.weight_formats)))
        fmt = config.weight_formats[dtype]
        return BitSerialWeight(codes=tuple(_bitserial_codes(fmt, rng, config.lanes, False)),
                               scale=int(rng.integers(0, 1 << config.scale_bits)), dtype=dtype)
    if config.kind == "int_mac":
        lo, hi = int_range(config.weight_bits, config.weight_signed)
        if rng.random() < 0.2:
            return tuple(int(rng.choice([lo, hi, 0])) for _ in range(config.lanes))
        return tuple(int(x) for x in rng.integers(lo, hi + 1, config.lanes))
    if config.kind == "fp16_mac":
        return tuple(_fp16_random(rng, config.lanes))
    if config.kind == "dequant_mac":
        lo, hi = int_range(config.weight_bits, config.weight_signed)
        q = tuple(int(x) for x in rng.integers(lo, hi + 1, config.lanes))
        zero = int(rng.integers(lo, hi + 1)) if not config.weight_signed else 0
        r = rng.random()
        if r < 0.7:
            scale = int(np.float16(rng.uniform(0.5, 1.0) * 2.0 ** int(rng.integers(-10, 4)))
                        .view(np.uint16))
        elif r < 0.9:
            scale = _fp16_random(rng, 1)[0]
        else:
            scale = int(rng.choice(FP16_SPECIALS))
        return DequantWeight(q=q, scale=scale, zero=zero)
    raise ValueError(f"no stimulus for config kind {config.kind!r}")


def _random_psum(config: Any, rng: np.random.Generator) -> int:
    if config.kind == "int_mac" or (config.kind == "bitserial" and not config.is_fp):
        if rng.random() < 0.5:
            return 0
        lo, hi = int_range(config.acc_bits, True)
        return int(rng.integers(lo, hi + 1))
    return _fp32_random(rng)


def w_reset(config: Any) -> Any:
    """The weight register's reset value in golden-model form."""
    if config.kind == "lut":
        return _lut.w_reset(config)
    if config.kind == "mixpe":
        return _mixpe.w_reset(config)
    if config.kind == "bitserial":
        return BitSerialWeight(codes=(0,) * config.lanes)
    if config.kind == "dequant_mac":
        return DequantWeight(q=(0,) * config.lanes, scale=0, zero=0)
    return (0,) * config.lanes


def _idle(config: Any, rng: np.random.Generator) -> Beat:
    # Idle cycles carry junk operands: the PE must ignore everything without `valid`/`load_w`.
    return Beat(a=_random_a(config, rng), w=_random_w(config, rng),
                psum=_random_psum(config, rng))


def _fp_act_random(config: Any, rng: np.random.Generator, n: int, extreme: bool) -> tuple:
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
    from .golden.formats import get_weight_format

    if fmt == "ternary":
        return [int(x) for x in rng.choice([0, 1, 3], n)]
    bits = get_weight_format(fmt).bits
    if extreme:
        return [int(x) for x in rng.choice([0, (1 << bits) - 1, 1 << (bits - 1),
                                            (1 << (bits - 1)) - 1], n)]
    return [int(x) for x in rng.integers(0, 1 << bits, n)]


def _bitserial_group(config: Any, rng: np.random.Generator, *, first: bool, last: bool,
                     psum: int, dtype: int | None = None, extreme: bool = False,
                     scale: int | None = None) -> list[Beat]:
    """One quantization group: ``group_size / lanes`` beats, each followed by its term cycles."""
    from .golden.formats import get_weight_format

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
    n = config.group_size // config.lanes
    w_prev = None
    for j in range(n):
        if config.is_fp:
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
        gap = config.beat_cycles(dtype) - 1 + (int(rng.integers(0, 3)) if rng.random() < 0.1
                                               else 0)
        beats.extend(_idle(config, rng) for _ in range(gap))
    return beats


def _bitserial_random(config: Any, rng: np.random.Generator, n_valid: int) -> list[Beat]:
    beats: list[Beat] = []
    while count_valid(beats) < n_valid:
        n_groups = int(rng.integers(1, 4))
        psum = _random_psum(config, rng)
        for g in range(n_groups):
            beats += _bitserial_group(config, rng, first=g == 0, last=g == n_groups - 1,
                                      psum=psum, extreme=rng.random() < 0.15)
    return beats


def random_beats(config: Any, rng: np.random.Generator, n_valid: int) -> list[Beat]:
    """At least ``n_valid`` valid beats in random accumulations, with idle cycles mixed in.

    Accumulations are 1-8 beats long. About a third reuse a preloaded weight register
    (weight-stationary use); the rest stream weights with ``load_w`` on every beat
    (output-stationary use). Valid beats are spaced ``cycles_per_beat`` apart.
    """
    if config.kind == "bitserial":
        return _bitserial_random(config, rng, n_valid)
    if config.kind == "lut":
        return _lut.random_beats(config, rng, n_valid)
    if config.kind == "mixpe":
        return _mixpe.random_beats(config, rng, n_valid)
    beats: list[Beat] = []
    count = 0
    gap = config.cycles_per_beat - 1
    while count < n_valid:
        length = int(rng.integers(1, 9))
        stationary = rng.random() < 0.35
        w_fixed = _random_w(config, rng)
        if stationary:
            beats.append(Beat(a=_random_a(config, rng), w=w_fixed, load_w=True))
        for j in range(length):
            if rng.random() < 0.1:
                beats.append(_idle(config, rng))
            beats.append(Beat(
                a=_random_a(config, rng),
                w=w_fixed if stationary else _random_w(config, rng),
                psum=_random_psum(config, rng),
                valid=True,
                load_w=not stationary,
                first=j == 0,
                last=j == length - 1,
            ))
            beats.extend(_idle(config, rng) for _ in range(gap))
            count += 1
    return beats


def _single(config: Any, a: Any, w: Any, psum: int) -> Iterator[Beat]:
    yield Beat(a=a, w=w, psum=psum, valid=True, load_w=True, first=True, last=True)
    for _ in range(config.cycles_per_beat - 1):
        yield Beat(a=a, w=w)


def corner_beats(config: Any) -> list[Beat]:
    """Deterministic corner cases: extremes, zeros, specials, wrap-around, long accumulations."""
    if config.kind == "lut":
        return _lut.corner_beats(config)
    if config.kind == "mixpe":
        return _mixpe.corner_beats(config)
    lanes = config.lanes
    beats: list[Beat] = []
    if config.kind == "int_mac":
        alo, ahi = int_range(config.act_bits, config.act_signed)
        wlo, whi = int_range(config.weight_bits, config.weight_signed)
        plo, phi = int_range(config.acc_bits, True)
        avals = sorted({alo, ahi, 0, min(1, ahi), max(-1, alo)})
        wvals = sorted({wlo, whi, 0, min(1, whi), max(-1, wlo)})
        for a in avals:
            for w in wvals:
                for p in (0, phi, plo):
                    beats.extend(_single(config, (a,) * lanes, (w,) * lanes, p))
        # A long run of the largest products: the accumulator reaches its extreme (and wraps
        # when started near the top of its range).
        big = max(((a, w) for a in avals for w in wvals), key=lambda aw: aw[0] * aw[1])
        for start in (0, phi - 1):
            for j in range(16):
                beats.append(Beat(a=(big[0],) * lanes, w=(big[1],) * lanes, psum=start,
                                  valid=True, load_w=True, first=j == 0, last=j == 15))
                beats.extend(Beat(a=(0,) * lanes, w=(0,) * lanes)
                             for _ in range(config.cycles_per_beat - 1))
        return beats
    if config.kind == "fp16_mac":
        for a in FP16_SPECIALS:
            for w in FP16_SPECIALS:
                beats.extend(_single(config, (a,) * lanes, (w,) * lanes, 0))
        for p in FP32_SPECIALS:
            for a in (0x0000, 0x8000, 0x3C00, 0x7C00, 0x7E00, 0x0001):
                beats.extend(_single(config, (a,) * lanes, (0x3C00,) * lanes, p))
        # Exact cancellation: x * 1 + (-x) = +0, and lanes that cancel within the tree.
        for x in (0x3C00, 0x0001, 0x7BFF):
            prod = int(np.float32(np.uint16(x).view(np.float16)).view(np.uint32))
            beats.extend(_single(config, (x,) * lanes, (0x3C00,) * lanes, prod ^ 0x80000000))
        if lanes > 1:
            a = tuple(0x3C00 if l % 2 == 0 else 0xBC00 for l in range(lanes))
            beats.extend(_single(config, a, (0x4000,) * lanes, 0))
        return beats
    if config.kind == "dequant_mac":
        lo, hi = int_range(config.weight_bits, config.weight_signed)
        zeros = (0,) if config.weight_signed else (lo, hi)
        for scale in FP16_SPECIALS:
            for q in (lo, hi, 0):
                for z in zeros:
                    w = DequantWeight(q=(q,) * lanes, scale=scale, zero=z)
                    for a in (0x3C00, 0x7BFF, 0x0001, 0x8000):
                        beats.extend(_single(config, (a,) * lanes, w, 0))
        return beats
    if config.kind == "bitserial":
        rng = np.random.default_rng(0)  # corner groups are fixed; their fillers need not vary
        top = (1 << config.scale_bits) - 1
        if config.is_fp:
            psums = (0, 0x80000000, 0x7F7FFFFF, 0x7F800000, 0x7FC00000, 0x00000001)
        else:
            psums = (0, (1 << (config.acc_bits - 1)) - 1, -(1 << (config.acc_bits - 1)))
        for dtype in range(len(config.weight_formats)):
            for scale in (0, 1, top):
                for psum in psums:
                    beats += _bitserial_group(config, rng, first=True, last=True, psum=psum,
                                              dtype=dtype, extreme=True, scale=scale)
            # Several groups into one output, every scale bit exercised.
            for g in range(3):
                beats += _bitserial_group(config, rng, first=g == 0, last=g == 2, psum=0,
                                          dtype=dtype, extreme=True, scale=top - g)
        return beats
    raise ValueError(f"no corner cases for config kind {config.kind!r}")


def count_valid(beats: list[Beat]) -> int:
    return sum(1 for b in beats if b.valid)


def encode_beat(config: Any, beat: Beat) -> dict[str, int]:
    """The integer value of each contract input port for ``beat`` (lane 0 in the LSBs)."""
    ctl = sum(int(bool(getattr(beat, f))) << bit for f, bit in CTL_BITS.items())
    if config.kind == "lut":
        return _lut.encode_beat(config, beat, ctl)
    if config.kind == "mixpe":
        return _mixpe.encode_beat(config, beat, ctl)
    if config.kind == "int_mac":
        return {
            "i_a": pack(beat.a, config.act_bits),
            "i_w": pack(beat.w, config.weight_bits),
            "i_psum": int(beat.psum) & ((1 << config.acc_bits) - 1),
            "i_ctl": ctl,
        }
    if config.kind == "fp16_mac":
        return {"i_a": pack(beat.a, 16), "i_w": pack(beat.w, 16),
                "i_psum": int(beat.psum), "i_ctl": ctl}
    if config.kind == "bitserial":
        w = beat.w
        fields = [(pack(w.codes, config.code_bits), config.lanes * config.code_bits),
                  (w.scale, config.scale_bits)]
        if config.has_zero:
            fields.append((w.zero, config.code_bits))
        if config.dtype_bits:
            fields.append((w.dtype, config.dtype_bits))
        if config.has_special:
            fields.append((w.special, 2))
        word, offset = 0, 0
        for value, width in fields:
            word |= (int(value) & ((1 << width) - 1)) << offset
            offset += width
        return {"i_a": pack(beat.a, config.act_bits), "i_w": word,
                "i_psum": int(beat.psum) & ((1 << config.psum_bits) - 1), "i_ctl": ctl}
    if config.kind == "dequant_mac":
        b = config.weight_bits
        w = beat.w
        word = (pack(w.q, b) | (int(w.scale) << (config.lanes * b))
                | ((int(w.zero) & ((1 << b) - 1)) << (config.lanes * b + 16)))
        return {"i_a": pack(beat.a, 16), "i_w": word, "i_psum": int(beat.psum), "i_ctl": ctl}
    raise ValueError(f"no port encoding for config kind {config.kind!r}")


def decode_psum(config: Any, raw: int) -> int:
    """``o_psum``'s raw unsigned value -> golden-model value (signed for integer PEs)."""
    if config.kind == "lut":
        return _lut.decode_psum(config, raw)
    if config.kind == "mixpe":
        return _mixpe.decode_psum(config, raw)
    if config.kind == "int_mac" or (config.kind == "bitserial" and not config.is_fp):
        bits = config.acc_bits
        raw &= (1 << bits) - 1
        return raw - (1 << bits) if raw >> (bits - 1) else raw
    return raw & ((1 << config.psum_bits) - 1)
