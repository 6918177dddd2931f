"""Stimulus of the LUT tensor core tile (:mod:`mpgemm.pe_designs.lut`), registered as the
family's ``LUT``: the amaranth.sim tests and the cocotb testbench drive the same transactions.
Pure numpy."""

from dataclasses import replace

import numpy as np

from mpgemm.pe_designs.lut import LutConfig
from mpgemm.sim.golden.contract import Beat, QuantizedWeights
from mpgemm.sim.golden.formats import int_range
from mpgemm.sim.golden.lut import LutWeight, is_unsigned, n_planes

from .base import FamilyStimulus, fp_matrix, grouped_weights, idle_flags, int_matrix

__all__ = ["LUT", "random_beats", "corner_beats", "random_gemm", "idle_beat", "FP16_EXTREMES"]


#: FP16 activation corner values: +-0, subnormals, smallest normal, 1, largest finite.
FP16_EXTREMES = (0x0000, 0x8000, 0x0001, 0x83FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF)
#: Non-finite FP16 values, which only FP16 tables accept (IEEE propagation).
FP16_NONFINITE = (0x7C00, 0xFC00, 0x7E00)
#: FP32 partial sums at the corners: +-0, largest finite, infinity, NaN, smallest subnormal.
FP32_PSUMS = (0x00000000, 0x80000000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0x7FC00000, 0x00000001)


def _fp16_act(config: LutConfig, rng: np.random.Generator, extreme: bool) -> int:
    if extreme:
        # One non-finite value poisons a whole group's outputs, so FP16 tables see them rarely.
        if config.table_format == "fp16" and rng.random() < 0.002:
            return int(rng.choice(FP16_NONFINITE))
        # FP16 tables overflow to infinity on a chunk of large values (and inf - inf is NaN),
        # which poisons the group's outputs: for them the largest values are rare and half the
        # values moderate, so most corner outputs stay finite and still check every bit.
        if config.table_format != "fp16":
            return int(rng.choice(FP16_EXTREMES))
        if rng.random() < 0.5:
            small = [x for x in FP16_EXTREMES if x & 0x7FFF != 0x7BFF]
            return int(rng.choice(FP16_EXTREMES if rng.random() < 0.02 else small))
    if rng.random() < 0.997:
        # Exponents near one another, as in an activation vector: alignment keeps most bits.
        return int(np.float16(rng.uniform(-2.0, 2.0) * 2.0 ** int(rng.integers(-4, 5)))
                   .view(np.uint16))
    # Any finite code, large ones included (FP16 tables of several of them overflow).
    return int(rng.integers(0, 0x7C00)) | int(rng.integers(0, 2)) << 15


def _acts(config: LutConfig, rng: np.random.Generator, extreme: bool) -> tuple:
    shape = (config.rows, config.table_k)
    if config.is_fp:
        return tuple(tuple(_fp16_act(config, rng, extreme) for _ in range(shape[1]))
                     for _ in range(shape[0]))
    lo, hi = int_range(config.act_bits, True)
    if extreme:
        vals = rng.choice([lo, hi, 0, -1], shape)
    else:
        vals = rng.integers(lo, hi + 1, shape)
    return tuple(tuple(int(x) for x in row) for row in vals)


def _codes(fmt: str, rng: np.random.Generator, shape: tuple[int, int], extreme: bool) -> tuple:
    bits = n_planes(fmt)
    if fmt == "ternary":
        vals = rng.choice([0, 1, 3], shape)       # 0b10 is reserved
    elif extreme:
        vals = rng.choice(sorted({0, (1 << bits) - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1}),
                          shape)
    else:
        vals = rng.integers(0, 1 << bits, shape)
    return tuple(tuple(int(x) for x in col) for col in vals)


def _random_w(config: LutConfig, rng: np.random.Generator) -> LutWeight:
    dtype = int(rng.integers(len(config.weight_formats)))
    fmt = config.weight_formats[dtype]
    top = (1 << n_planes(fmt)) - 1 if is_unsigned(fmt) else 0
    return LutWeight(codes=_codes(fmt, rng, (config.cols, config.table_k), False),
                     scale=tuple(int(s) for s in rng.integers(0, 1 << config.scale_bits,
                                                              config.cols)),
                     zero=tuple(int(z) for z in rng.integers(0, top + 1, config.cols)),
                     dtype=dtype)


def _random_psum(config: LutConfig, rng: np.random.Generator) -> tuple:
    n = config.rows * config.cols
    if rng.random() < 0.5:
        return (0,) * n
    if config.is_fp:
        vals = []
        for _ in range(n):
            r = rng.random()
            if r < 0.95:
                vals.append(int(np.float32(rng.uniform(-2.0, 2.0) * 2.0 ** int(
                    rng.integers(-8, 9))).view(np.uint32)))
            else:
                vals.append(int(rng.choice(FP32_PSUMS)))
        return tuple(vals)
    lo, hi = int_range(config.acc_bits, True)
    return tuple(int(x) for x in rng.integers(lo, hi + 1, n, dtype=np.int64))


def w_reset(config: LutConfig) -> LutWeight:
    """The weight register's reset value in golden-model form."""
    return config.golden.w_reset(config)


def idle_beat(config: LutConfig, rng: np.random.Generator) -> Beat:
    """An idle cycle with junk operands, which the tile must ignore."""
    return Beat(a=_acts(config, rng, False), w=_random_w(config, rng),
                psum=_random_psum(config, rng), **idle_flags(rng))


def _group(config: LutConfig, rng: np.random.Generator, out: list[Beat], *, first: bool, last: bool,
           psum: tuple, dtype: int | None = None, extreme: bool = False,
           scale: tuple | None = None, beats: int | None = None, preload: bool = False,
           acts: tuple | None = None, codes: tuple | None = None) -> None:
    """Append one quantization group to ``out``: ``beats`` chunks (default a full group), each
    followed by its plane cycles, and after the group's last chunk any cycles it stalls for
    the dequantizer (:func:`_dq_free` tracks when the previous group's dequantization ends).

    ``preload``: the first chunk's weights (with the new group's scales and zero points) are
    loaded into the weight register during an idle cycle after the previous beat, while that
    beat's planes or dequantization are still under way, and the chunk itself reuses the
    register: the tile must take a beat's scale, zero point and planes when it accepts it.
    ``acts`` / ``codes``: every chunk's activations (rows x table_k) / weight codes (cols x
    table_k), else random ones."""
    dtype = int(rng.integers(len(config.weight_formats))) if dtype is None else dtype
    fmt = config.weight_formats[dtype]
    top = (1 << n_planes(fmt)) - 1 if is_unsigned(fmt) else 0
    if extreme:
        zero = tuple(int(z) for z in rng.choice([0, top], config.cols))
    else:
        zero = tuple(int(z) for z in rng.integers(0, top + 1, config.cols))
    if scale is None:
        scale = tuple(int(s) for s in rng.integers(0, 1 << config.scale_bits, config.cols))
    n = config.beats_per_group if beats is None else beats
    w_prev = None
    for j in range(n):
        w = LutWeight(codes=(_codes(fmt, rng, (config.cols, config.table_k), extreme)
                             if codes is None else codes),
                      scale=scale, zero=zero, dtype=dtype)
        # Now and then keep the weight register (weight-stationary reuse): i_w carries junk.
        reuse = w_prev is not None and rng.random() < 0.2
        trailing = _trailing_idle(out)
        if j == 0 and preload and trailing:
            at = trailing[int(rng.integers(len(trailing)))]
            out[at] = replace(out[at], w=w, load_w=True)
            reuse = True
        if reuse:
            w = _random_w(config, rng)
        else:
            w_prev = w
        out.append(Beat(a=_acts(config, rng, extreme) if acts is None else acts, w=w,
                        psum=psum if j == 0 else _random_psum(config, rng), valid=True,
                        load_w=not reuse, first=first and j == 0, last=last and j == n - 1,
                        group_end=j == n - 1))
        t = len(out) - 1
        ready = t + config.timing(dtype).cycles
        if j == n - 1:
            ready = max(ready, _dq_free(config, out))
        gap = ready - t - 1 + (int(rng.integers(0, 3)) if rng.random() < 0.1 else 0)
        out.extend(idle_beat(config, rng) for _ in range(gap))


def _trailing_idle(beats: list[Beat]) -> list[int]:
    """Indices of the idle beats after the last valid one (all of them if none is valid)."""
    idle: list[int] = []
    for t in range(len(beats) - 1, -1, -1):
        if beats[t].valid:
            break
        idle.append(t)
    return idle


def _dq_free(config: LutConfig, beats: list[Beat]) -> int:
    """First cycle at which the dequantizer can take a group closing in ``beats``' last beat.

    Replays the tile's timing (only the group-closing cycles matter): a group closing in its
    last plane cycle ``h`` keeps the dequantizer busy until ``h + dq_cycles``.
    """
    free = 0
    w_reg = w_reset(config)
    for t, b in enumerate(beats[:-1]):
        if b.load_w:
            w_reg = b.w
        if b.valid and b.group_end:
            free = max(t + config.timing(w_reg.dtype).cycles, free) + config.dq_cycles
    return free


def random_beats(config: LutConfig, rng: np.random.Generator, n_valid: int) -> list[Beat]:
    """Outputs of 1-3 groups with random data types, zero points and scales, until at least
    ``n_valid`` valid beats; one group in ten is partial (the tail of a K that is not a
    multiple of the group size), which may stall on the dequantizer."""
    out: list[Beat] = []
    while sum(b.valid for b in out) < n_valid:
        n_groups = int(rng.integers(1, 4))
        psum = _random_psum(config, rng)
        for g in range(n_groups):
            partial = rng.random() < 0.1 and config.beats_per_group > 1
            _group(config, rng, out, first=g == 0, last=g == n_groups - 1, psum=psum,
                   extreme=rng.random() < 0.15,
                   beats=int(rng.integers(1, config.beats_per_group)) if partial else None,
                   preload=rng.random() < 0.2)
    return _drained(config, rng, out)


def _drained(config: LutConfig, rng: np.random.Generator, out: list[Beat]) -> list[Beat]:
    """``out`` plus idle cycles until its last dequantization is over, so that any stimulus can
    follow it (each generator schedules as if the tile were idle at its start)."""
    out.extend(idle_beat(config, rng) for _ in range(config.dq_cycles))
    return out


def corner_beats(config: LutConfig) -> list[Beat]:
    """Every data type with extreme activations, codes and zero points: the largest scale from
    every corner partial sum (the accumulator's extremes, so it wraps; FP32 specials), scales 0
    and 1, and a three-group output."""
    rng = np.random.default_rng(0)
    top = (1 << config.scale_bits) - 1
    cells = config.rows * config.cols
    lo, hi = int_range(config.acc_bits, True)
    psums = FP32_PSUMS if config.is_fp else (0, hi, lo)
    out: list[Beat] = []
    for dtype in range(len(config.weight_formats)):
        # The largest scale against every corner partial sum; scales 0 and 1 from zero.
        for s, p in [(top, p) for p in psums] + [(0, 0), (1, 0)]:
            _group(config, rng, out, first=True, last=True, psum=(p,) * cells,
                   dtype=dtype, extreme=True, scale=(s,) * config.cols)
        for g in range(3):
            _group(config, rng, out, first=g == 0, last=g == 2, psum=(0,) * cells,
                   dtype=dtype, extreme=True, scale=(top - g,) * config.cols)
        # Chunks of one activation with the largest significand (+-(2 - 2^-10)): the table's
        # all-same-sign entries reach the largest sums a chunk can make (an INT8 table's
        # quantizer rounds them to +-128, just past its clamps).
        # Codes of all ones look those entries up (every plane's index all ones).
        if config.is_fp:
            ones = (1 << n_planes(config.weight_formats[dtype])) - 1
            for a in (0x3BFF, 0xBBFF):
                _group(config, rng, out, first=True, last=True, psum=(0,) * cells,
                       dtype=dtype, extreme=True, scale=(top,) * config.cols,
                       acts=((a,) * config.table_k,) * config.rows,
                       codes=((ones,) * config.table_k,) * config.cols)
    return _drained(config, rng, out)


def random_gemm(config: LutConfig, rng: np.random.Generator, m: int, k: int, n: int, *,
                extreme: bool = False, per_column_dtypes: bool = False,
                nonzero_scales: bool = False) -> tuple[np.ndarray, QuantizedWeights]:
    """A whole GEMM's operands: integer or finite FP16 activations; per group and column a
    random data type with its codes, zero point (unsigned formats) and scale code (non-zero
    with ``nonzero_scales``). A tile takes one data type per beat, so each block of ``cols``
    columns (``0 .. cols-1``, ``cols .. 2 cols-1``, ...) shares its groups' data types, unless
    ``per_column_dtypes``."""
    if config.is_fp:
        a = fp_matrix(rng, (m, k), "fp16", extreme)
    else:
        a = int_matrix(rng, (m, k), config.act_bits, True, extreme)
    return a, grouped_weights(config, rng, k, n, extreme=extreme,
                              dtype_cols=1 if per_column_dtypes else config.cols,
                              nonzero_scales=nonzero_scales)


LUT = FamilyStimulus(random_beats=random_beats, corner_beats=corner_beats,
                     random_gemm=random_gemm)
