"""Bit-exact golden models of the PEs, at the level of the PE contract (:mod:`hw.contract`).

A PE family is described by a *step* function ``step(config, base, a, w) -> acc`` that performs one
beat's arithmetic exactly as the hardware does (widths, wrap-around, rounding), and
:func:`run_contract` replays a cycle-by-cycle stimulus through the contract's control semantics
(weight register, ``first``/``last``, result latency). amaranth.sim tests and the cocotb tests of
the generated Verilog both compare against these functions.

Only numpy is imported here; configs are read duck-typed (their fields and properties).
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .fp import f32_bits, f32_value, fp16_mul_fp32, fp32_add, int_scale_fp16

__all__ = [
    "Beat", "wrap_signed",
    "int_mac_step", "fp16_mac_step", "dequant_mac_step", "dequantize_fp16",
    "STEPS", "step_for", "contract_beats", "check_group_rules", "run_contract", "pe_gemm",
    "DequantWeight", "finite_fp_fields",
    "BitSerialWeight", "bitserial_beat_sum", "bitserial_fp_term_sum", "bitserial_fp_dequant",
    "run_bitserial",
]


def wrap_signed(x: int, bits: int) -> int:
    """Two's complement wrap-around of ``x`` to ``bits`` bits, as a register of that width does."""
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def int_mac_step(config: Any, base: int, a: Sequence[int], w: Sequence[int]) -> int:
    """One beat of the integer MAC: ``wrap(base + sum_l a[l] * w[l], acc_bits)``.

    The products and their sum are exact; only the accumulator register wraps.
    """
    dot = sum(int(x) * int(y) for x, y in zip(a, w, strict=True))
    return wrap_signed(int(base) + dot, config.acc_bits)


def _fp32_tree(values: list[int]) -> int:
    """Balanced FP32 adder tree, adjacent pairs first: the order of the hardware's tree."""
    vals = [np.uint32(v) for v in values]
    while len(vals) > 1:
        vals = [fp32_add(vals[i], vals[i + 1]) for i in range(0, len(vals), 2)]
    return int(vals[0])


def fp16_mac_step(config: Any, base: int, a: Sequence[int], w: Sequence[int]) -> int:
    """One beat of the FP16 MAC on bit patterns: exact FP32 products, tree, then accumulate."""
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


def dequant_mac_step(config: Any, base: int, a: Sequence[int], w: DequantWeight) -> int:
    """One beat of the dequantize-then-MAC PE."""
    return fp16_mac_step(config.mac, base, a, dequantize_fp16(w.q, w.scale, w.zero))


STEPS: dict[str, Callable[..., int]] = {
    "int_mac": int_mac_step,
    "fp16_mac": fp16_mac_step,
    "dequant_mac": dequant_mac_step,
}


def step_for(config: Any) -> Callable[[int, Any, Any], int]:
    """The step function of ``config``'s family, bound to the config."""
    try:
        fn = STEPS[config.kind]
    except (AttributeError, KeyError):
        raise ValueError(f"no golden model for config {config!r}; "
                         f"known kinds: {', '.join(sorted(STEPS))}") from None
    return lambda base, a, w: fn(config, base, a, w)


@dataclass(frozen=True)
class Beat:
    """The contract inputs of one clock cycle."""

    a: Any
    w: Any
    psum: int = 0
    valid: bool = False
    load_w: bool = False
    first: bool = False
    last: bool = False
    group_end: bool = False


def contract_beats(beats: Sequence[Beat], w_reset: Any) -> Iterator[tuple[int, Beat, Any]]:
    """``(cycle, beat, w)`` for every valid beat, ``w`` being the weight operand it computes
    with: ``i_w`` when ``load_w`` is set, else the weight register, which ``load_w`` loads
    with or without ``valid`` (from ``w_reset`` after reset)."""
    w_reg = w_reset
    for t, b in enumerate(beats):
        w = b.w if b.load_w else w_reg
        if b.load_w:
            w_reg = b.w
        if b.valid:
            yield t, b, w


def check_group_rules(t: int, beat: Beat, beats_in_group: int) -> None:
    """The contract's rules for PEs that dequantize per group: ``first`` only on a group's first
    beat, and ``last`` only with ``group_end`` (an output accumulates whole groups)."""
    if beat.first and beats_in_group:
        raise ValueError(f"beat at cycle {t}: `first` must be on a group's first beat")
    if beat.last and not beat.group_end:
        raise ValueError(f"beat at cycle {t}: `last` must come with `group_end` "
                         f"(an output accumulates whole groups)")


def run_contract(config: Any, beats: Sequence[Beat], *, w_reset: Any) -> list[tuple[int, int]]:
    """Replay ``beats`` (one per cycle, from reset) through the PE contract.

    Returns ``(cycle, value)`` for every result: the accumulation closed by a valid ``last`` beat
    at cycle ``t`` with weight ``w`` appears on ``o_psum`` with ``o_valid`` at cycle
    ``t + config.beat_timing(w)[1]``.
    ``w_reset`` is the weight register's reset value (all-zero fields). Multi-cycle PEs
    (``cycles_per_beat > 1``) must be fed beats no faster than that; this is checked.
    """
    if getattr(config, "kind", None) == "bitserial":
        return run_bitserial(config, beats, w_reset=w_reset)
    if getattr(config, "kind", None) == "lut":
        from .lut import run_lut

        return run_lut(config, beats, w_reset=w_reset)
    if getattr(config, "kind", None) == "mixpe":
        from .mixpe import run_mixpe

        return run_mixpe(config, beats, w_reset=w_reset)
    step = step_for(config)
    acc = 0
    out: list[tuple[int, int]] = []
    last_beat = None
    for t, b, w in contract_beats(beats, w_reset):
        if last_beat is not None and t - last_beat < config.cycles_per_beat:
            raise ValueError(f"beat at cycle {t} comes {t - last_beat} cycles after the "
                             f"previous one; the PE needs {config.cycles_per_beat}")
        latency = config.beat_timing(w)[1]
        last_beat = t
        acc = step(b.psum if b.first else acc, b.a, w)
        if b.last:
            out.append((t + latency, acc))
    return out


def pe_gemm(config: Any, a: np.ndarray, w: Any, psum0: np.ndarray | None = None) -> np.ndarray:
    """Every output of ``A[M, K] @ W[K, N]`` as one PE computes it (vectorised over M and N).

    Output ``(m, n)`` is one accumulation of ``K / lanes`` beats; lane ``l`` of beat ``j`` holds
    ``k = j * lanes + l``; the first beat starts from ``psum0[m, n]`` (default zero).

    Operands by family: ``int_mac``: integer values; ``fp16_mac``: FP16 bit patterns;
    ``dequant_mac``: ``a`` FP16 bit patterns and ``w = (codes[K, N], scale_bits[K/G, N],
    zeros[K/G, N])``. Results: wrapped integers, or FP32 bit patterns.
    """
    kind = getattr(config, "kind", None)
    a = np.asarray(a)
    if kind == "dequant_mac":
        codes, scale_bits, zeros = (np.asarray(x) for x in w)
        g = config.group_size
        if codes.shape[0] % g:
            raise ValueError(f"K={codes.shape[0]} is not a multiple of group_size={g}")
        z = np.repeat(zeros.astype(np.int64), g, axis=0)
        s = np.repeat(scale_bits.astype(np.uint16), g, axis=0)
        w = int_scale_fp16(codes.astype(np.int64) - z, s)
        kind, config = "fp16_mac", config.mac
    w = np.asarray(w)
    m_, k_ = a.shape
    k2, n_ = w.shape
    lanes = config.lanes
    if k_ != k2 or k_ % lanes:
        raise ValueError(f"pe_gemm needs [M, K] x [K, N] with lanes={lanes} dividing K; "
                         f"got {a.shape} x {w.shape}")
    if kind == "int_mac":
        base = np.zeros((m_, n_), np.int64) if psum0 is None else np.asarray(psum0, np.int64)
        total = base + a.astype(np.int64) @ w.astype(np.int64)
        # Wrap-around is modular, so wrapping once at the end equals wrapping every beat.
        bits = config.acc_bits
        return ((total + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1))
    if kind != "fp16_mac":
        raise ValueError(f"no vectorised golden GEMM for kind {kind!r}")
    acc = np.zeros((m_, n_), np.uint32) if psum0 is None else np.asarray(psum0, np.uint32)
    a16 = a.astype(np.uint16)
    w16 = w.astype(np.uint16)
    for j in range(k_ // lanes):
        prods = [fp16_mul_fp32(a16[:, j * lanes + l, None], w16[None, j * lanes + l, :])
                 for l in range(lanes)]
        while len(prods) > 1:
            prods = [fp32_add(prods[i], prods[i + 1]) for i in range(0, len(prods), 2)]
        acc = fp32_add(acc, prods[0])
    return acc


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
    from .terms import weight_int

    fmt = config.weight_formats[w.dtype]
    zero = w.zero if fmt.startswith("uint") else 0
    special = w.special if fmt.startswith("bitmod") else 0
    shift = config.extra_shift(fmt)
    return sum(int(x) * (weight_int(fmt, int(c), zero=zero, special=special) << shift)
               for x, c in zip(a, w.codes, strict=True))


def finite_fp_fields(bits: int, exp_bits: int, man_bits: int) -> tuple[int, int, int]:
    """(sign, effective exponent field, significand with hidden bit) of a finite float:
    subnormals get exponent field 1 and no hidden bit, so the value is
    ``(-1)^sign * m * 2^(e - bias - man_bits)``. Inf and NaN are rejected (the alignment
    datapaths of the bit-serial and MixPE PEs take finite values only)."""
    sign = (bits >> (exp_bits + man_bits)) & 1
    efield = (bits >> man_bits) & ((1 << exp_bits) - 1)
    frac = bits & ((1 << man_bits) - 1)
    if efield == (1 << exp_bits) - 1:
        raise ValueError(f"activation {bits:#x} is inf or NaN: the FP alignment datapath "
                         f"takes finite values only")
    if efield == 0:
        return sign, 1, frac
    return sign, efield, frac | (1 << man_bits)


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
    from .terms import weight_int, weight_terms

    exp_bits, man_bits = config.act_fields
    bias = (1 << (exp_bits - 1)) - 1
    guard = config.align_guard_bits
    fmt = config.weight_formats[w.dtype]
    zero = w.zero if fmt.startswith("uint") else 0
    special = w.special if fmt.startswith("bitmod") else 0
    lanes = []
    for x, code in zip(a, w.codes, strict=True):
        sa, ea, ma = finite_fp_fields(int(x), exp_bits, man_bits)
        term = weight_terms(fmt, weight_int(fmt, int(code), zero=zero, special=special),
                            config.term_mode)[step]
        if term.man and ma:
            lanes.append((sa ^ term.sign, ea + term.shift + config.extra_shift(fmt), ma))
    if not lanes:
        return 0
    top = max(e for _, e, _ in lanes)
    total = sum((-1) ** s * ((m << guard) >> (top - e)) for s, e, m in lanes)
    value = float(total) * 2.0 ** (top - bias - man_bits - guard)  # exact in float64
    with np.errstate(over="ignore"):  # BF16 sums can exceed FP32's range: infinity, as IEEE
        return int(f32_bits(np.float32(value)))


def bitserial_fp_dequant(config: Any, base: int, group: int, scale: int) -> int:
    """Bit-serial dequantization in FP32: ``out += bit_j ? group * 2^j : +0`` for each scale bit.

    ``group * 2^j`` is exact (an exponent increment; it overflows to infinity like IEEE), and
    each addition rounds to nearest even.
    """
    out = np.uint32(base)
    g = float(f32_value(np.uint32(group)))
    for j in range(config.scale_bits):
        # A signed scale's top bit weighs -2^j: the same magnitude with the sign flipped.
        sign = -1.0 if config.scale_signed and j == config.scale_bits - 1 else 1.0
        with np.errstate(all="ignore"):
            term = np.float32(sign * g * 2.0 ** j) if (scale >> j) & 1 else np.float32(0.0)
        out = fp32_add(out, f32_bits(term))
    return int(out)


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
    (``n = config.beat_cycles(dtype)``). A group closes in its last term cycle ``h``; if the
    dequantizer is still busy with the previous group (it finishes in cycle ``h_prev +
    scale_bits``), the PE stalls in that last term cycle until it is free, so ``h =
    max(t + n, h_prev + scale_bits)``. The output closed by a ``last`` beat appears at
    ``h + scale_bits + 1`` (``t + config.latency_for(dtype)`` without a stall). The cycles in
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
        key = (w.dtype, w.zero, w.special)
        if grp_beats and key != grp_key:
            raise ValueError(f"beat at cycle {t} changes the data type, zero point or special "
                             f"value inside a group: {grp_key} -> {key}")
        check_group_rules(t, b, grp_beats)
        grp_key, grp_beats = key, grp_beats + 1
        cycles = config.beat_cycles(w.dtype)
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
