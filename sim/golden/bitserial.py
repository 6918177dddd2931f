"""Golden model of the bit-serial PE family (:mod:`mpgemm.pe_designs.bitserial`).

Every weight becomes bit-serial terms (:mod:`.terms`), one per cycle. Integer activations: the
group sum is exact; FP16/BF16 activations: each term cycle's lanes are aligned to their largest
exponent, truncated, summed exactly and rounded once to FP32, then accumulated in FP32. A closed
group is dequantized one scale bit per cycle (:func:`bitserial_fp_dequant` in FP32).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from .contract import (
    Beat,
    GoldenModel,
    QuantizedWeights,
    check_group_rules,
    check_operands,
    contract_beats,
    wrap_signed,
)
from .formats import get_weight_format
from .fp import f32_bits, f32_value, finite_fp_fields, fp32_add
from .terms import n_terms, weight_int, weight_terms

__all__ = [
    "BitSerialWeight", "bitserial_beat_sum", "bitserial_fp_term_sum", "bitserial_fp_align_sum",
    "bitserial_fp_dequant", "run_bitserial", "bitserial_gemm", "BitSerialModel", "BITSERIAL",
]


@dataclass(frozen=True)
class BitSerialWeight:
    """One beat's weight operand of the bit-serial PE (the ``i_w`` struct).

    ``codes`` per lane; ``dtype`` indexes the config's ``weight_formats``; ``zero`` (unsigned
    formats) and ``special`` (BitMoD FP4/FP3) belong to the group; ``scale`` is the group's
    unsigned scale, used from the beat that closes the group.
    """

    codes: tuple[int, ...]
    scale: int = 0
    dtype: int = 0
    zero: int = 0
    special: int = 0


def bitserial_beat_sum(config: Any, a: Sequence[int], w: BitSerialWeight) -> int:
    """Exact ``sum_l a[l] * w_int[l] * 2^extra``: what the beat's terms add to the group sum."""
    fmt = config.weight_formats[w.dtype]
    zero = w.zero if fmt.startswith("uint") else 0
    special = w.special if fmt.startswith("bitmod") else 0
    shift = config.extra_shift(fmt)
    return sum(int(x) * (weight_int(fmt, int(c), zero=zero, special=special) << shift)
               for x, c in zip(a, w.codes, strict=True))


def bitserial_fp_term_sum(config: Any, a: Sequence[int], w: Any, step: int) -> int:
    """FP32 bits of one term cycle's lane sum for FP16/BF16 activations.

    Exponent match: each active lane's product exponent is ``e_a + shift`` (activation exponent
    field plus the term's shift); ``E`` is their maximum. Alignment: every lane's significand,
    extended by ``config.align_guard_bits`` zero bits, is shifted right by ``E - e`` and the
    bits shifted out are dropped (truncation of the magnitude, toward zero). The signed aligned
    values are added exactly, and the sum ``S * 2^(E - bias - man_bits - guard)`` is rounded
    once to FP32 (RNE). The sum has at most ``man_bits + 1 + guard + ceil(log2(lanes)) + 1``
    bits, so for FP16 activations with ``guard + ceil(log2(lanes)) <= 12`` the conversion is
    exact and the FP32 accumulate is the only rounding.
    """
    exp_bits, man_bits = config.act_fields
    fmt = config.weight_formats[w.dtype]
    zero = w.zero if fmt.startswith("uint") else 0
    special = w.special if fmt.startswith("bitmod") else 0
    extra = config.extra_shift(fmt)
    sign, exp, sig = [], [], []
    for x, code in zip(a, w.codes, strict=True):
        sa, ea, ma = finite_fp_fields(int(x), exp_bits, man_bits)
        term = weight_terms(fmt, weight_int(fmt, int(code), zero=zero, special=special),
                            config.term_mode)[step]
        sign.append(sa ^ term.sign)
        exp.append(ea + term.shift + extra)
        sig.append(ma if term.man else 0)
    return int(bitserial_fp_align_sum(config, sign, exp, sig))


def bitserial_fp_align_sum(config: Any, sign: Any, exp: Any, sig: Any) -> np.ndarray:
    """The alignment adder of :func:`bitserial_fp_term_sum` on arrays (lanes on the last axis).

    Lane ``l`` contributes ``(-1)^sign[l] * sig[l] * 2^(exp[l] - bias - man_bits)``; a lane whose
    ``sig`` is 0 (a zero activation or a zero term) is inactive and takes no part in the
    exponent match. Returns the FP32 bits (uint32) of every lane sum, aligned to the largest
    active exponent with truncation and rounded once, over the leading axes.
    """
    exp_bits, man_bits = config.act_fields
    bias = (1 << (exp_bits - 1)) - 1
    guard = config.align_guard_bits
    sign, exp, sig = np.broadcast_arrays(*(np.asarray(x, dtype=np.int64)
                                           for x in (sign, exp, sig)))
    active = sig != 0
    # Inactive lanes sit below every exponent, so the maximum is over the active ones (a row
    # without any has a zero sum whatever its exponent).
    exp = np.where(active, exp, exp.min(initial=0) - 1)
    top = exp.max(axis=-1)
    # A shift beyond 63 bits leaves nothing of a (man_bits + 1 + guard)-bit value either.
    aligned = (sig << guard) >> np.minimum(top[..., None] - exp, 63)
    total = np.where(sign & 1, -aligned, aligned).sum(axis=-1)
    value = np.ldexp(total.astype(np.float64), top - bias - man_bits - guard)  # exact
    with np.errstate(over="ignore"):  # BF16 sums can exceed FP32's range: infinity, as IEEE
        return f32_bits(value.astype(np.float32))


def bitserial_fp_dequant(config: Any, base: Any, group: Any, scale: Any) -> Any:
    """Bit-serial dequantization in FP32: ``out += bit_j ? group * 2^j : +0`` for each scale bit.

    ``group * 2^j`` is exact (an exponent increment; it overflows to infinity like IEEE), and
    each addition rounds to nearest even. Scalars give an int; arrays (FP32 bits of ``base`` and
    ``group``, scale codes; broadcast together) give the uint32 bits of every output.
    """
    scalar = all(np.ndim(x) == 0 for x in (base, group, scale))
    out = np.asarray(base, dtype=np.uint32)
    with np.errstate(invalid="ignore"):  # a signalling NaN group stays a NaN
        g = f32_value(np.asarray(group, dtype=np.uint32)).astype(np.float64)
    scale = np.asarray(scale, dtype=np.int64)
    for j in range(config.scale_bits):
        # A signed scale's top bit weighs -2^j: the same magnitude with the sign flipped.
        sign = -1.0 if config.scale_signed and j == config.scale_bits - 1 else 1.0
        with np.errstate(all="ignore"):
            term = np.where((scale >> j) & 1, (sign * g * 2.0 ** j).astype(np.float32),
                            np.float32(0.0))
        out = fp32_add(out, f32_bits(term))
    return int(out) if scalar else out


def _check_bitserial_weight(config: Any, w: Any, t: int) -> None:
    """Reject weight operands the bit-serial PE cannot mean (a clear error at the boundary)."""
    n = len(config.weight_formats)
    if not isinstance(w.dtype, int) or not 0 <= w.dtype < n:
        raise ValueError(f"beat at cycle {t}: dtype={w.dtype!r} must index weight_formats "
                         f"(0..{n - 1})")
    fmt = config.weight_formats[w.dtype]
    if len(w.codes) != config.lanes:
        raise ValueError(f"beat at cycle {t}: {len(w.codes)} weight codes for "
                         f"lanes={config.lanes}")
    if not (isinstance(w.scale, int) and 0 <= w.scale < (1 << config.scale_bits)):
        raise ValueError(f"beat at cycle {t}: scale code {w.scale!r} does not fit "
                         f"scale_bits={config.scale_bits} (codes 0..{(1 << config.scale_bits) - 1}"
                         f"{', two' + chr(39) + 's complement' if config.scale_signed else ''})")
    if w.special and not fmt.startswith("bitmod"):
        raise ValueError(f"beat at cycle {t}: special={w.special} given for {fmt} weights; "
                         f"only bitmod_fp4 and bitmod_fp3 have a special value")
    if w.zero and not fmt.startswith("uint"):
        raise ValueError(f"beat at cycle {t}: zero={w.zero} given for {fmt} weights; only "
                         f"unsigned formats have a zero point")


def run_bitserial(config: Any, beats: Sequence[Beat], *, w_reset: Any,
                  not_ready: list[int] | None = None) -> list[tuple[int, int]]:
    """The bit-serial PE's contract behaviour (see :mod:`pe_designs.bitserial`).

    Integer activations: group sums are exact (a register of ``config.group_acc_bits``); each
    closed group adds ``scale * group_sum`` to the output accumulator (wrapping at
    ``acc_bits``). FP16/BF16 activations: every term cycle adds its aligned lane sum
    (:func:`bitserial_fp_term_sum`) to an FP32 group accumulator, and dequantization runs in
    FP32 (:func:`bitserial_fp_dequant`). The output starts from the ``i_psum`` of the group's
    ``first`` beat, which must be the group's first beat; a group keeps one data type, zero
    point and special value, and its scale is the one of its ``group_end`` beat.

    Timing: a beat accepted at cycle ``t`` works on its terms in cycles ``t+1 .. t+n``
    (``n = config.timing(dtype).cycles``). A group closes in its last term cycle ``h``; if the
    dequantizer is still busy with the previous group (it finishes in cycle ``h_prev +
    scale_bits``), the PE stalls in that last term cycle until it is free, so ``h =
    max(t + n, h_prev + scale_bits)``. The output closed by a ``last`` beat appears at
    ``h + scale_bits + 1`` (``t + config.timing(dtype).latency`` without a stall). The cycles in
    which ``o_ready`` is low are appended to ``not_ready`` when it is given. Beats offered
    while the PE is not ready are rejected, not silently modelled.
    """
    group = 0
    grp_first, grp_psum, grp_key, grp_beats = False, 0, None, 0
    out = 0
    results: list[tuple[int, int]] = []
    ready_at = 0           # first cycle a new beat may be accepted
    dq_free = 0            # first cycle a new group may be handed to the dequantizer
    for t, b, w in contract_beats(beats, w_reset):
        if t < ready_at:
            raise ValueError(f"beat at cycle {t} arrives while the PE is busy until {ready_at}")
        _check_bitserial_weight(config, w, t)
        check_operands(config, t, b, w)
        key = (w.dtype, w.zero, w.special)
        if grp_beats and key != grp_key:
            raise ValueError(f"beat at cycle {t} changes the data type, zero point or special "
                             f"value inside a group: {grp_key} -> {key}")
        check_group_rules(config, t, b, grp_beats)
        grp_key, grp_beats = key, grp_beats + 1
        cycles = config.timing(w.dtype).cycles
        if config.is_fp:
            for step in range(cycles):
                group = int(fp32_add(np.uint32(group), np.uint32(
                    bitserial_fp_term_sum(config, b.a, w, step))))
        else:
            group = wrap_signed(group + bitserial_beat_sum(config, b.a, w),
                                config.group_acc_bits)
        if b.first:
            grp_first, grp_psum = True, b.psum
        ready_at = t + cycles
        if b.group_end:
            ready_at = max(t + cycles, dq_free)   # stall in the last term cycle if busy
            dq_free = ready_at + config.scale_bits
            base = grp_psum if grp_first else out
            if config.is_fp:
                out = bitserial_fp_dequant(config, base, group, int(w.scale))
            else:
                scale = (wrap_signed(int(w.scale), config.scale_bits) if config.scale_signed
                         else int(w.scale))
                out = wrap_signed(base + scale * group, config.acc_bits)
            if b.last:
                results.append((ready_at + config.scale_bits + 1, out))
            group, grp_first, grp_beats = 0, False, 0
        if not_ready is not None:
            not_ready.extend(range(t + 1, ready_at))
    return results


# --- the whole GEMM, as one PE computes each output ----------------------------------------------

def int_array(x: Any, name: str) -> np.ndarray:
    """``x`` as an int64 array; anything but integers is a ValueError naming ``name``."""
    arr = np.asarray(x)
    if arr.dtype == object and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                   for v in arr.flat):
        if arr.size and (min(arr.flat) < -(1 << 63) or max(arr.flat) >= 1 << 63):
            raise ValueError(f"{name} must be integers of at most 64 bits")
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, not {arr.dtype} values")
    if arr.dtype == np.uint64 and arr.size and arr.max() >= 1 << 63:
        raise ValueError(f"{name} must be integers of at most 64 bits")
    return arr.astype(np.int64)


def gemm_group_field(w: QuantizedWeights, name: str, group_size: int, kind: str, *,
                     required: bool = False) -> np.ndarray:
    """A per-group field of ``w`` as an int64 ``[K / group_size, N]`` array (zeros if absent)."""
    v = w.group_field(name, group_size)
    if v is None:
        if required:
            raise ValueError(f"the {kind} GEMM needs {name} (one per group of group_size="
                             f"{group_size} along K and column)")
        return np.zeros((w.shape[0] // group_size, w.shape[1]), np.int64)
    return int_array(v, name)


def check_gemm_shape(config: Any, a: np.ndarray, w: QuantizedWeights, per_beat: int,
                     beat_name: str) -> tuple[int, int, int]:
    """``(M, K, N)`` of a quantized GEMM, K whole groups of whole beats (else a ValueError)."""
    m, k = a.shape
    n = w.shape[1]
    g = config.group_size
    if g % per_beat:
        raise ValueError(f"group_size={g} must be a multiple of {beat_name}={per_beat}")
    if k == 0 or k % g:
        raise ValueError(f"the {config.kind} GEMM needs K a positive multiple of group_size={g} "
                         f"(an output accumulates whole groups); got K={k}")
    return m, k, n


def check_scale_codes(config: Any, scales: np.ndarray) -> None:
    top = (1 << config.scale_bits) - 1
    if scales.size and (scales.min() < 0 or scales.max() > top):
        bad = scales[(scales < 0) | (scales > top)].flat[0]
        raise ValueError(f"scales must be scale_bits={config.scale_bits} codes in [0, {top}]"
                         f"{' (two' + chr(39) + 's complement)' if config.scale_signed else ''}"
                         f"; got {bad}")


def check_int_acts(config: Any, a: np.ndarray) -> None:
    lo, hi = -(1 << (config.act_bits - 1)), (1 << (config.act_bits - 1)) - 1
    if a.size and (a.min() < lo or a.max() > hi):
        raise ValueError(f"activations must be {config.act_format} values in [{lo}, {hi}]; got "
                         f"{a[(a < lo) | (a > hi)].flat[0]}")


def check_fp_bits(config: Any, a: np.ndarray) -> None:
    if a.size and (a.min() < 0 or a.max() > 0xFFFF):
        raise ValueError(f"{config.act_format} activations must be bit patterns in "
                         f"[0, 0xFFFF]; got {a[(a < 0) | (a > 0xFFFF)].flat[0]}")


def wrap_array(x: np.ndarray, bits: int) -> np.ndarray:
    """:func:`wrap_signed` of every element (an object array of Python ints)."""
    return np.frompyfunc(lambda v: wrap_signed(int(v), bits), 1, 1)(x)


@cache
def _code_table(fmt: str, zero: int, special: int, mode: str
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every code of ``fmt`` in a group with ``zero`` and ``special``: ``(valid, w_int, sign,
    shift, man)``, the last three per term (:func:`terms.weight_terms`)."""
    n = 1 << get_weight_format(fmt).bits
    steps = n_terms(fmt, mode)
    valid = np.zeros(n, bool)
    w_int = np.zeros(n, np.int64)
    sign, shift, man = (np.zeros((n, steps), np.int64) for _ in range(3))
    for code in range(n):
        try:
            v = weight_int(fmt, code, zero=zero, special=special)
        except ValueError:          # a reserved code (ternary's 0b10)
            continue
        valid[code], w_int[code] = True, v
        for s, t in enumerate(weight_terms(fmt, v, mode)):
            sign[code, s], shift[code, s], man[code, s] = t.sign, t.shift, t.man
    return valid, w_int, sign, shift, man


def _bitserial_operands(config: Any, a: Any, w: QuantizedWeights):
    """Validated operands of :func:`bitserial_gemm` and the per-(group, column) code tables."""
    a = int_array(a, "activations")
    m, k, n = check_gemm_shape(config, a, w, config.lanes, "lanes")
    g = config.group_size
    codes = int_array(w.codes, "codes")
    scales = gemm_group_field(w, "scales", g, config.kind, required=True)
    dtypes = gemm_group_field(w, "dtypes", g, config.kind)
    zeros = gemm_group_field(w, "zeros", g, config.kind)
    specials = gemm_group_field(w, "specials", g, config.kind)
    check_scale_codes(config, scales)
    n_fmt = len(config.weight_formats)
    if dtypes.size and (dtypes.min() < 0 or dtypes.max() >= n_fmt):
        raise ValueError(f"dtypes must index weight_formats {config.weight_formats} (0.."
                         f"{n_fmt - 1}); got {dtypes[(dtypes < 0) | (dtypes >= n_fmt)].flat[0]}")
    # One table of code meanings per distinct (data type, zero point, special value).
    keys, key_id = np.unique(np.stack([dtypes, zeros, specials], -1).reshape(-1, 3), axis=0,
                             return_inverse=True)
    key_id = key_id.reshape(dtypes.shape)
    tables = []
    for dtype, zero, special in keys.tolist():
        fmt = config.weight_formats[dtype]
        top = (1 << get_weight_format(fmt).bits) - 1
        if fmt.startswith("uint"):
            if not 0 <= zero <= top:
                raise ValueError(f"zeros must be in [0, {top}] for {fmt} groups; got {zero}")
        elif zero:
            raise ValueError(f"zeros must be 0 for {fmt} groups (only unsigned formats have a "
                             f"zero point); got {zero}")
        if fmt.startswith("bitmod"):
            if not 0 <= special <= 3:
                raise ValueError(f"specials must be in [0, 3] for {fmt} groups; got {special}")
        elif special:
            raise ValueError(f"specials must be 0 for {fmt} groups (only bitmod_fp4 and "
                             f"bitmod_fp3 have a special value); got {special}")
        tables.append(_code_table(fmt, zero, special, config.term_mode))
    width = max(len(t[0]) for t in tables)
    steps = max(t[2].shape[1] for t in tables)

    def stack(i: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        out = np.zeros((len(tables), *shape), dtype)
        for j, t in enumerate(tables):
            index: tuple[int | slice, ...] = (j, *(slice(0, s) for s in t[i].shape))
            out[index] = t[i]
        return out

    valid = stack(0, (width,), bool)
    key_k = np.repeat(key_id, g, axis=0)                        # [K, N]: each weight's table
    in_range = (codes >= 0) & (codes < width)
    ok = in_range & valid[key_k, np.where(in_range, codes, 0)]
    if not ok.all():
        kk, nn = (int(i[0]) for i in np.nonzero(~ok))
        fmt = config.weight_formats[int(dtypes[kk // g, nn])]
        raise ValueError(f"codes[{kk}, {nn}] = {int(codes[kk, nn])} is not a code of {fmt} "
                         f"(group {kk // g}, column {nn})")
    shifts = np.array([config.extra_shift(config.weight_formats[d]) for d in keys[:, 0]],
                      np.int64)
    cycles = np.array([config.timing(int(d)).cycles for d in keys[:, 0]], np.int64)
    t_sign, t_shift, t_man = (stack(i, (width, steps), np.int64) for i in (2, 3, 4))
    # Every format's weights are aligned to the common binary point (config.extra_shift).
    terms = (t_sign, t_shift + shifts[:, None, None], t_man)
    w_int = stack(1, (width,), np.int64) << shifts[:, None]
    return a, codes, scales, key_id, w_int, cycles, terms


def bitserial_gemm(config: Any, a: Any, w: QuantizedWeights) -> np.ndarray:
    """``Y[M, N] = A[M, K] x W[K, N]``, every output one accumulation of the bit-serial PE.

    K is split into groups of ``config.group_size`` and each group into beats of ``lanes``
    consecutive k; group ``g`` of column ``n`` has data type ``w.dtypes[g, n]`` (default 0),
    zero point ``w.zeros[g, n]`` (unsigned formats), special value ``w.specials[g, n]`` (BitMoD
    formats) and scale code ``w.scales[g, n]``; ``w.codes`` are the format's codes. Integer
    activations: the exact group sums (a register of ``group_acc_bits``), ``scale * group``
    accumulated wrapping at ``acc_bits`` (int64 results). FP16/BF16 activations (bit patterns):
    every beat's term cycles, in order, add their aligned lane sum
    (:func:`bitserial_fp_align_sum`) to the FP32 group accumulator, which
    :func:`bitserial_fp_dequant` adds to the output (uint32 FP32 bits). This is what
    :func:`run_bitserial` computes for the beats of one output, vectorised over M and N.

    Like the PE, the result is in units of ``2^-config.frac_bits``: every format's weights are
    aligned to the common binary point, so with an FP4 format among ``weight_formats`` an
    output is twice ``sum s * a * w``.
    """
    a, codes, scales, key_id, w_int, cycles, terms = _bitserial_operands(config, a, w)
    m, k = a.shape
    n = codes.shape[1]
    g, lanes = config.group_size, config.lanes
    if not config.is_fp:
        check_int_acts(config, a)
        if config.scale_signed:
            scales = wrap_array(scales, config.scale_bits)
        w_k = w_int[np.repeat(key_id, g, axis=0), codes]            # [K, N], aligned w_int
        # The group sums are exact in int64 whenever the PE's own group register is narrower.
        dt = np.int64 if config.group_acc_bits <= 63 else object
        out = np.zeros((m, n), object)
        for gi in range(k // g):
            ks = slice(gi * g, (gi + 1) * g)
            group = a[:, ks].astype(dt) @ w_k[ks].astype(dt)
            out = out + scales[gi].astype(object) * wrap_array(group, config.group_acc_bits)
        # Wrapping is modular: wrapping once equals wrapping after every group.
        return wrap_array(out, config.acc_bits).astype(np.int64)
    check_fp_bits(config, a)
    exp_bits, man_bits = config.act_fields
    vals, inv = np.unique(a.ravel(), return_inverse=True)
    fields = np.array([finite_fp_fields(int(v), exp_bits, man_bits) for v in vals],
                      np.int64).reshape(-1, 3)
    sa, ea, ma = (fields[inv, i].reshape(m, k) for i in range(3))
    t_sign, t_shift, t_man = terms
    steps = t_sign.shape[-1]
    beats = g // lanes
    block = max(1, (1 << 20) // max(1, m * n * lanes * steps))   # beats per vectorised block
    out = np.zeros((m, n), np.uint32)
    for gi in range(k // g):
        ks = slice(gi * g, (gi + 1) * g)
        kid = key_id[gi][None, :]
        # [N, beats, steps, lanes] terms of the group's weights; [M, 1, beats, 1, lanes] acts.
        ts, tsh, tm = (t[kid, codes[ks]].reshape(beats, lanes, n, steps).transpose(2, 0, 3, 1)
                       for t in (t_sign, t_shift, t_man))
        asg, aex, asig = (x[:, ks].reshape(m, 1, beats, 1, lanes) for x in (sa, ea, ma))
        ncyc = cycles[key_id[gi]]
        group = np.zeros((m, n), np.uint32)
        for b0 in range(0, beats, block):
            bs = slice(b0, min(b0 + block, beats))
            sums = bitserial_fp_align_sum(config, asg[:, :, bs] ^ ts[:, bs],
                                          aex[:, :, bs] + tsh[:, bs],
                                          np.where(tm[:, bs] != 0, asig[:, :, bs], 0))
            for j in range(sums.shape[2]):
                for s in range(steps):
                    new = fp32_add(group, sums[:, :, j, s])
                    # A data type with fewer term cycles has no cycle ``s``.
                    group = new if (ncyc > s).all() else np.where(ncyc > s, new, group)
        out = bitserial_fp_dequant(config, out, group, scales[gi])
    return out


class BitSerialModel(GoldenModel):
    """The bit-serial family's golden model (weight operands are :class:`BitSerialWeight`)."""

    checks_gemm_operands = True

    def w_reset(self, config: Any) -> BitSerialWeight:
        return BitSerialWeight(codes=(0,) * config.lanes)

    def weight_format(self, config: Any, w: BitSerialWeight) -> str:
        return config.weight_formats[w.dtype]

    def weight_fields(self, config: Any, w: BitSerialWeight) -> dict[str, Any]:
        return {"code": w.codes, "scale": w.scale, "zero": w.zero, "dtype": w.dtype,
                "special": w.special}

    def dequant_busy_cycles(self, config: Any) -> int:
        # One scale bit per cycle (see run_bitserial).
        return config.scale_bits

    def beat_weight(self, config: Any, w: QuantizedWeights, cols: Sequence[int],
                    k: slice) -> BitSerialWeight:
        """The codes of rows ``k`` of the column with its group's scale, data type, zero point
        and special value."""
        (n,) = cols
        k0 = k.start
        return BitSerialWeight(codes=tuple(int(c) for c in w.codes[k, n]),
                               scale=w.group_value("scales", k0, n),
                               dtype=w.group_value("dtypes", k0, n),
                               zero=w.group_value("zeros", k0, n),
                               special=w.group_value("specials", k0, n))

    def run(self, config: Any, beats: Sequence[Beat], *, w_reset: Any,
            not_ready: list[int] | None = None) -> list[tuple[int, int]]:
        return run_bitserial(config, beats, w_reset=w_reset, not_ready=not_ready)

    def gemm(self, config: Any, a: np.ndarray, w: QuantizedWeights) -> np.ndarray:
        return bitserial_gemm(config, a, w)


BITSERIAL = BitSerialModel()
