"""One golden GEMM for every PE family: ``gemm(config, A, W)`` bit-exact as the PE computes it.

For every registered family (its default config, and for the bit-serial and LUT families presets
covering their weight formats, FP16/BF16 activations and signed scales), on random operands:

* ``gemm`` equals an independent replay: the beat stream of each output (of each LUT tile), one
  Beat per cycle with the idle cycles the PE's timing asks for, through ``run_contract``;
* integer activations: ``gemm`` equals the exact product computed from the weight formats'
  definitions (and wraps at ``acc_bits`` exactly when that overflows);
* FP16 activations: its norm-wise relative error against the exact rational reference is small;
* malformed operands are rejected with clear messages.
"""

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from mpgemm.pe_designs.bitserial import BitSerialConfig
from mpgemm.pe_designs.lut import LutConfig
from mpgemm.pe_designs.presets import PRESETS
from mpgemm.pe_designs.registry import families
from mpgemm.sim.golden import lut as L
from mpgemm.sim.golden.bitserial import BitSerialWeight
from mpgemm.sim.golden.contract import (
    Beat,
    QuantizedWeights,
    gemm,
    run_contract,
    wrap_signed,
)
from mpgemm.sim.golden.formats import get_weight_format, int_range
from mpgemm.sim.golden.fp import f16_value, f32_value
from mpgemm.sim.golden.mac import DequantWeight
from mpgemm.sim.golden.mixpe import MixPEWeight, exact_gemm
from mpgemm.sim.golden.reference import error_stats, exact_mpgemm
from mpgemm.sim.golden.terms import frac_bits, weight_int

KINDS = tuple(families())

#: Presets beside the default configs: every bit-serial format over INT8, INT16, FP16 and BF16
#: activations, signed scales, bit-plane terms; every LUT format with and without
#: symmetrization, binary weights, INT8 and FP16 tables.
BITSERIAL_PRESETS = ("bitserial_all_a8", "bitserial_mix_a16", "bitserial_int4_bitplane_a8",
                     "bitserial_bitmod_fp4_a8", "bitserial_mix_fp16", "bitserial_all_fp16",
                     "bitserial_all_bf16")
LUT_PRESETS = ("lut_all_a8", "lut_all_a16_nosym", "lut_w1_a8", "lut_w2_fp16", "lut_all_fp16",
               "lut_w2_fp16_fp16tab", "lut_all_fp16_fp16tab_nosym")

CONFIGS = {**{f"{kind}-default": families()[kind].config() for kind in KINDS},
           **{name: PRESETS[name] for name in BITSERIAL_PRESETS + LUT_PRESETS}}

IDLE = Beat(a=None, w=None)


# --- operands ------------------------------------------------------------------------------------

def _fp_bits(rng, shape, fmt="fp16", extreme=False):
    """FP16/BF16 bit patterns (int64): values ~ N(0, 1) spread over a few octaves, some zeros;
    with ``extreme`` also subnormals and the largest finite values."""
    x = rng.standard_normal(shape) * 2.0 ** rng.integers(-4, 5, shape)
    x[rng.random(shape) < 0.05] = 0.0
    if fmt == "fp16":
        bits = x.astype(np.float16).view(np.uint16).astype(np.int64)
        corners = [0x0001, 0x83FF, 0x0400, 0x7BFF, 0xFBFF, 0x8000]
    else:  # BF16: the top half of an FP32 (truncation, so every pattern is a BF16 value)
        bits = (x.astype(np.float32).view(np.uint32) >> 16).astype(np.int64)
        corners = [0x0001, 0x807F, 0x0080, 0x7F7F, 0xFF7F, 0x8000]
    if extreme:
        pick = rng.random(shape) < 0.1
        bits[pick] = rng.choice(corners, int(pick.sum()))
    return bits


def _int_acts(rng, shape, bits, extreme=False):
    lo, hi = int_range(bits, True)
    a = rng.integers(lo, hi + 1, shape)
    if extreme:
        pick = rng.random(shape) < 0.2
        a[pick] = rng.choice([lo, hi, 0, -1], int(pick.sum()))
    return a


def _codes(fmt, rng, shape, extreme=False):
    """Valid codes of a weight format (ternary never uses its reserved code 0b10)."""
    if fmt == "ternary":
        return rng.choice([0, 1, 3], shape)
    bits = get_weight_format(fmt).bits
    if extreme:
        return rng.choice(sorted({0, (1 << bits) - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1}),
                          shape)
    return rng.integers(0, 1 << bits, shape)


def _grouped_weights(config, rng, k, n, *, extreme=False, tile_cols=1, scale_lo=0):
    """Codes, per-group data types, zero points, special values and scale codes of the
    bit-serial and LUT families. A group's data type is shared by ``tile_cols`` neighbouring
    columns (a LUT tile takes one data type per beat)."""
    g = config.group_size
    fmts = config.weight_formats
    n_tiles = -(-n // tile_cols)
    dtypes = np.repeat(rng.integers(0, len(fmts), (k // g, n_tiles)), tile_cols, axis=1)[:, :n]
    codes = np.zeros((k, n), np.int64)
    zeros = np.zeros((k // g, n), np.int64)
    specials = np.zeros((k // g, n), np.int64)
    for gi in range(k // g):
        for j in range(n):
            fmt = fmts[dtypes[gi, j]]
            codes[gi * g:(gi + 1) * g, j] = _codes(fmt, rng, g, extreme and rng.random() < 0.5)
            if fmt.startswith("uint"):
                zeros[gi, j] = rng.integers(0, 1 << get_weight_format(fmt).bits)
            if fmt.startswith("bitmod"):
                specials[gi, j] = rng.integers(0, 4)
    scales = rng.integers(scale_lo, 1 << config.scale_bits, (k // g, n))
    if extreme:
        scales[rng.random(scales.shape) < 0.2] = (1 << config.scale_bits) - 1
    return codes, dtypes, zeros, specials, scales


def _fp16_scales(rng, shape):
    return np.float16(rng.uniform(0.005, 0.02, shape)).view(np.uint16).astype(np.int64)


def operands(config, rng, m, k, n, *, extreme=False, per_column_dtypes=False):
    """Random valid ``(A, QuantizedWeights)`` of ``config``'s family."""
    kind = config.kind
    if kind == "int_mac":
        a_lo, a_hi = int_range(config.act_bits, config.act_signed)
        w_lo, w_hi = int_range(config.weight_bits, config.weight_signed)
        return (rng.integers(a_lo, a_hi + 1, (m, k)),
                QuantizedWeights(rng.integers(w_lo, w_hi + 1, (k, n))))
    if kind == "fp16_mac":
        return (_fp_bits(rng, (m, k), extreme=extreme),
                QuantizedWeights(_fp_bits(rng, (k, n), extreme=extreme)))
    if kind == "dequant_mac":
        g = config.group_size
        lo, hi = int_range(config.weight_bits, config.weight_signed)
        zeros = (np.zeros((k // g, n), np.int64) if config.weight_signed
                 else rng.integers(lo, hi + 1, (k // g, n)))
        return (_fp_bits(rng, (m, k), extreme=extreme),
                QuantizedWeights(rng.integers(lo, hi + 1, (k, n)),
                                 scales=_fp16_scales(rng, (k // g, n)), zeros=zeros))
    if kind == "mixpe":
        g, b = config.group_size, config.weight_bits
        a = (_fp_bits(rng, (m, k), extreme=extreme) if config.is_fp
             else _int_acts(rng, (m, k), config.act_bits, extreme))
        zeros = (np.zeros((k // g, n), np.int64) if config.weight_signed
                 else rng.integers(0, 1 << b, (k // g, n)))
        scales = (_fp16_scales(rng, (k // g, n)) if config.is_fp
                  else rng.integers(0, 1 << config.scale_bits, (k // g, n)))
        return a, QuantizedWeights(rng.integers(0, 1 << b, (k, n)), scales=scales, zeros=zeros)
    if kind in ("bitserial", "lut"):
        if config.is_fp:
            a = _fp_bits(rng, (m, k), config.act_format, extreme)
        else:
            a = _int_acts(rng, (m, k), config.act_bits, extreme)
        tile_cols = config.cols if kind == "lut" and not per_column_dtypes else 1
        codes, dtypes, zeros, specials, scales = _grouped_weights(
            config, rng, k, n, extreme=extreme, tile_cols=tile_cols)
        return a, QuantizedWeights(codes, scales=scales, zeros=zeros, dtypes=dtypes,
                                   specials=specials if kind == "bitserial" else None)
    raise KeyError(f"no operand generator for the {kind!r} family: add one to this test")


# --- the independent replay: each output's beats through run_contract ----------------------------

def _field(w, name, g, n):
    v = getattr(w, name)
    return 0 if v is None else int(v[g, n])


def _weight_operand(config, w, g, n, ks):
    """One beat's weight operand of a lanes-per-beat family: lanes codes of column ``n``."""
    q = tuple(int(c) for c in w.codes[ks, n])
    kind = config.kind
    if kind in ("int_mac", "fp16_mac"):
        return q
    if kind == "dequant_mac":
        return DequantWeight(q=q, scale=_field(w, "scales", g, n), zero=_field(w, "zeros", g, n))
    if kind == "mixpe":
        return MixPEWeight(q=q, zero=_field(w, "zeros", g, n), scale=_field(w, "scales", g, n))
    if kind == "bitserial":
        return BitSerialWeight(codes=q, scale=_field(w, "scales", g, n),
                               dtype=_field(w, "dtypes", g, n), zero=_field(w, "zeros", g, n),
                               special=_field(w, "specials", g, n))
    raise KeyError(f"no beat builder for the {kind!r} family: add one to this test")


def _dq_cycles(config):
    """Cycles a closed group keeps the family's dequantizer busy (0: it never stalls)."""
    return {"bitserial": getattr(config, "scale_bits", 0),
            "lut": getattr(config, "dq_cycles", 0)}.get(config.kind, 0)


def schedule(config, valid):
    """One Beat per cycle: every valid beat, then idle cycles until the PE takes the next one,
    ``timing(fmt).cycles - 1`` of them, more after a ``group_end`` if the dequantizer is still
    busy with the previous group (it takes ``_dq_cycles`` from the group's last cycle)."""
    beats, dq_free = [], 0
    for b in valid:
        t = len(beats)
        beats.append(b)
        ready = t + config.timing(config.golden.weight_format(config, b.w)).cycles
        if b.group_end:
            ready = max(ready, dq_free)
            dq_free = ready + _dq_cycles(config)
        beats.extend([IDLE] * (ready - t - 1))
    return beats


def replay_output(config, a, w, m, n):
    """Output ``(m, n)`` as one accumulation over K: the PE's beat stream through
    ``run_contract``, which must produce exactly one result."""
    k = a.shape[1]
    lanes = config.lanes
    g = config.group_size or k
    valid = [Beat(a=tuple(int(x) for x in a[m, k0:k0 + lanes]),
                  w=_weight_operand(config, w, k0 // g, n, slice(k0, k0 + lanes)), psum=0,
                  valid=True, load_w=True, first=k0 == 0, last=k0 + lanes == k,
                  group_end=(k0 + lanes) % g == 0)
             for k0 in range(0, k, lanes)]
    results = run_contract(config, schedule(config, valid))
    assert len(results) == 1
    return results[0][1]


def replay_tile(config, a, w, rows, cols):
    """One LUT tile pass: ``rows`` (indices into A, None for an idle row of zeros) times
    ``cols`` (indices into W, None for an idle column), ``rows * cols`` results row-major."""
    k = a.shape[1]
    g, tk = config.group_size, config.table_k
    live = [n for n in cols if n is not None]
    valid = []
    for k0 in range(0, k, tk):
        gi = k0 // g
        dtype = {_field(w, "dtypes", gi, n) for n in live}
        assert len(dtype) == 1, "a tile's columns share the beat's data type"
        lw = L.LutWeight(
            codes=tuple(tuple(int(c) for c in w.codes[k0:k0 + tk, n]) if n is not None
                        else (0,) * tk for n in cols),
            scale=tuple(_field(w, "scales", gi, n) if n is not None else 0 for n in cols),
            zero=tuple(_field(w, "zeros", gi, n) if n is not None else 0 for n in cols),
            dtype=dtype.pop())
        acts = tuple(tuple(int(x) for x in a[m, k0:k0 + tk]) if m is not None else (0,) * tk
                     for m in rows)
        valid.append(Beat(a=acts, w=lw, psum=(0,) * (config.rows * config.cols), valid=True,
                          load_w=True, first=k0 == 0, last=k0 + tk == k,
                          group_end=(k0 + tk) % g == 0))
    results = run_contract(config, schedule(config, valid))
    assert len(results) == 1
    return results[0][1]


def _tiles(total, size):
    """Index lists of ``size`` (the last one padded with None)."""
    return [[i if i < total else None for i in range(s, s + size)] for s in range(0, total, size)]


def _shape(config):
    """``(M, K, N)`` of a replay check: two groups, partial LUT tiles in both M and N."""
    k = 2 * (config.group_size or 64)
    if config.kind == "lut":
        return config.rows + 1, k, config.cols + 1
    return 2, k, 3


@pytest.mark.parametrize("name", list(CONFIGS))
def test_gemm_equals_the_contract_replay(name, rng):
    config = CONFIGS[name]
    m, k, n = _shape(config)
    a, w = operands(config, rng, m, k, n, extreme=rng.random() < 0.5)
    y = gemm(config, a, w)
    assert y.shape == (m, n)
    if config.kind in ("bitserial", "lut"):
        assert y.dtype == (np.uint32 if config.act_format in ("fp16", "bf16") else np.int64)
    if config.kind == "lut":
        for rows in _tiles(m, config.rows):
            for cols in _tiles(n, config.cols):
                tile = replay_tile(config, a, w, rows, cols)
                for i, mi in enumerate(rows):
                    for j, nj in enumerate(cols):
                        if mi is not None and nj is not None:
                            assert int(y[mi, nj]) == tile[i * config.cols + j], (mi, nj)
    else:
        for mi in range(m):
            for nj in range(n):
                assert int(y[mi, nj]) == replay_output(config, a, w, mi, nj), (mi, nj)


@pytest.mark.parametrize("name", ["lut_all_a8", "lut_all_fp16", "lut_all_fp16_fp16tab_nosym"])
def test_lut_columns_of_one_tile_may_differ_in_data_type(name, rng):
    """QuantizedWeights give every column its own data type per group; the tile takes one per
    beat, so such columns are computed in separate passes, and an output does not depend on
    its neighbours: each column equals a tile pass whose columns all are that column."""
    config = PRESETS[name]
    m, k, n = config.rows, 2 * config.group_size, 3
    a, w = operands(config, rng, m, k, n, per_column_dtypes=True)
    y = gemm(config, a, w)
    for nj in range(n):
        tile = replay_tile(config, a, w, list(range(m)), [nj] * config.cols)
        for i in range(m):
            assert {tile[i * config.cols + j] for j in range(config.cols)} == {int(y[i, nj])}


@pytest.mark.parametrize("name", ["bitserial-default", "bitserial_mix_fp16", "lut-default",
                                  "lut_w2_fp16", "lut_all_fp16_fp16tab_nosym", "mixpe-default"])
def test_gemm_does_not_depend_on_tiling(name, rng):
    """An output is the same whichever other rows and columns are computed with it (for the
    LUT tile: the INT8 tables' exponent and the activation sums are per row, the codes, zero
    points and scales per column)."""
    config = CONFIGS[name]
    m, n = 5, 6
    k = 2 * config.group_size
    a, w = operands(config, rng, m, k, n)
    y = gemm(config, a, w)
    for _ in range(3):
        rows = np.sort(rng.choice(m, int(rng.integers(1, m + 1)), replace=False))
        cols = np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False))
        g = config.group_size
        sub = QuantizedWeights(
            w.codes[:, cols], scales=w.scales[:, cols],
            zeros=None if w.zeros is None else w.zeros[:, cols],
            dtypes=None if w.dtypes is None else w.dtypes[:, cols],
            specials=None if w.specials is None else w.specials[:, cols])
        assert sub.group_field("scales", g).shape == (k // g, len(cols))
        assert np.array_equal(gemm(config, a[rows], sub), y[np.ix_(rows, cols)])


# --- integer activations: the exact product ------------------------------------------------------

def _scale_value(config, code):
    return wrap_signed(int(code), config.scale_bits) if config.scale_signed else int(code)


def exact_int_gemm(config, a, w):
    """The exact ``Y`` from the weight formats' definitions (Python ints, no wrap-around), in
    the unit of the PE's output (the bit-serial PE aligns every format to the common binary
    point, ``2^-config.frac_bits``)."""
    kind = config.kind
    if kind == "int_mac":
        return a.astype(object) @ w.codes.astype(object)
    if kind == "mixpe":
        zeros = np.zeros_like(w.scales) if w.zeros is None else w.zeros
        y = exact_gemm(config, a, w.codes, zeros, w.scales)
        assert all(v.denominator == 1 for v in y.flat)
        return np.vectorize(int, otypes=[object])(y)
    g = config.group_size
    k, n = w.shape
    y = np.zeros((a.shape[0], n), object)
    for gi in range(k // g):
        ks = slice(gi * g, (gi + 1) * g)
        for j in range(n):
            fmt = config.weight_formats[_field(w, "dtypes", gi, j)]
            zero = _field(w, "zeros", gi, j)
            if kind == "bitserial":
                vals = [Fraction(weight_int(fmt, int(c), zero=zero,
                                            special=_field(w, "specials", gi, j)),
                                 1 << frac_bits(fmt)) * (1 << config.frac_bits)
                        for c in w.codes[ks, j]]
            else:
                vals = [L.weight_value(fmt, int(c), zero) for c in w.codes[ks, j]]
            col = np.array(vals, dtype=object)
            y[:, j] += _scale_value(config, w.scales[gi, j]) * (a[:, ks].astype(object) @ col)
    assert all(Fraction(v).denominator == 1 for v in y.flat)
    return np.vectorize(int, otypes=[object])(y)


INT_CONFIGS = [name for name, c in CONFIGS.items()
               if c.act_format not in ("fp16", "bf16")]


@pytest.mark.parametrize("name", INT_CONFIGS)
def test_integer_gemm_equals_the_exact_product(name, rng):
    config = CONFIGS[name]
    m, n = 3, 5
    k = 4 * (config.group_size or 64)
    a, w = operands(config, rng, m, k, n, extreme=True)
    want = exact_int_gemm(config, a, w)
    half = 1 << (config.acc_bits - 1)
    assert all(-half <= v < half for v in want.flat), "the config's acc_bits holds K <= k_max"
    assert np.array_equal(gemm(config, a, w).astype(object), want)
    if config.kind == "lut" and len(config.weight_formats) == 1 and not config.scale_signed:
        # The family's own exact reference agrees (one format, unsigned scales).
        ref = L.lut_gemm(a.tolist(), w.codes.tolist(), config.weight_formats[0],
                         w.scales.tolist(), w.zeros.tolist(), config.group_size)
        assert np.array_equal(np.array(ref, dtype=object), want)


@pytest.mark.parametrize("config", [
    BitSerialConfig(weight_formats=("int8", "uint4"), group_size=32, k_max=32,
                    acc_bits=BitSerialConfig(group_size=32, k_max=32,
                                             weight_formats=("int8", "uint4")).required_acc_bits),
    LutConfig(weight_formats=("int8", "uint4"), group_size=64, scale_signed=True, k_max=64,
              acc_bits=LutConfig(weight_formats=("int8", "uint4"), group_size=64,
                                 scale_signed=True, k_max=64).required_acc_bits),
], ids=["bitserial", "lut"])
def test_integer_gemm_wraps_at_acc_bits(config, rng):
    """K beyond k_max overflows the accumulator: the output is the exact product wrapped to
    acc_bits two's complement, as the register holds it (and as the replay has it)."""
    m, n, k = 2, 3, 16 * config.group_size
    a, w = operands(config, rng, m, k, n)
    a[:] = -(1 << (config.act_bits - 1))          # every product as large as it gets
    w = QuantizedWeights(np.where(w.dtypes.repeat(config.group_size, 0) == 0, 0x80, 0),
                         scales=np.full(w.scales.shape, 1 << (config.scale_bits - 1)),
                         zeros=np.where(w.dtypes == 1, 15, 0), dtypes=w.dtypes)
    want = exact_int_gemm(config, a, w)
    assert any(abs(v) >= 1 << (config.acc_bits - 1) for v in want.flat)
    y = gemm(config, a, w)
    assert [int(v) for v in y.flat] == [wrap_signed(v, config.acc_bits) for v in want.flat]
    if config.kind == "lut":
        tile = replay_tile(config, a, w, list(range(config.rows)), [0] * config.cols)
        assert tile[0] == int(y[0, 0])
    else:
        assert replay_output(config, a, w, 0, 0) == int(y[0, 0])


# --- FP16 activations: error against the exact result --------------------------------------------

def _act_values(config, a):
    if config.act_format == "bf16":
        return (a.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return f16_value(a).astype(np.float64)


def dequantized(config, w):
    """``W`` as the exact values the PE multiplies by (float64, exact), in its output's unit."""
    kind = config.kind
    if kind == "fp16_mac":
        return f16_value(w.codes).astype(np.float64)
    g = config.group_size
    k, n = w.shape
    if kind in ("dequant_mac", "mixpe"):
        codes = w.codes
        if kind == "mixpe" and config.weight_signed:
            codes = np.vectorize(lambda c: wrap_signed(int(c), config.weight_bits))(codes)
        zeros = np.repeat(w.zeros, g, axis=0) if w.zeros is not None else 0
        return (codes - zeros) * np.repeat(f16_value(w.scales).astype(np.float64), g, axis=0)
    out = np.zeros((k, n))
    for gi in range(k // g):
        for j in range(n):
            fmt = config.weight_formats[_field(w, "dtypes", gi, j)]
            zero = _field(w, "zeros", gi, j)
            s = _scale_value(config, w.scales[gi, j])
            for kk in range(gi * g, (gi + 1) * g):
                c = int(w.codes[kk, j])
                if kind == "bitserial":
                    v = weight_int(fmt, c, zero=zero, special=_field(w, "specials", gi, j)) \
                        << config.extra_shift(fmt)
                else:
                    v = L.weight_value(fmt, c, zero)
                out[kk, j] = s * v
    return out


#: name -> largest norm-wise relative error allowed (max |Y - exact| / max |exact|) on one
#: random GEMM of M=4, K=1024, N=8, A ~ N(0, 1) * 2^[-4, 4] (FP16/BF16): about 4x the largest
#: value measured over seeds 0-39 (the comments give that largest value and the median).
FP_ERROR_BOUNDS = {
    # FP32 accumulation of exact FP16 products: measured 1.2e-6 (median 6.5e-7).
    "fp16_mac-default": 5e-6,
    # Weights rounded to FP16 before the FP16 MAC: measured 4.6e-4 (median 2.2e-4).
    "dequant_mac-default": 2e-3,
    # MixPE W4A16 (4 guard bits): measured 6.6e-5 (median 3.5e-5).
    "mixpe_w4a16": 3e-4,
    # Bit-serial, FP16: per term cycle the lanes are aligned with 4 guard bits (truncation) and
    # summed into FP32: measured 5.6e-5 (int4), 6.2e-5 (BitMoD FP4), 6.8e-5 (mixed types,
    # signed scale), 8.6e-5 (every format); medians 2.6e-5 - 3.0e-5.
    "bitserial_int4_fp16": 3e-4,
    "bitserial_bitmod_fp4_fp16": 3e-4,
    "bitserial_mix_fp16": 3e-4,
    "bitserial_all_fp16": 3e-4,
    # Bit-serial, BF16 (8-bit significands aligned with 4 guard bits): measured 8.0e-4
    # (median 1.9e-4).
    "bitserial_all_bf16": 3e-3,
    # LUT, INT8 tables (activations aligned to the chunk's largest exponent, each entry rounded
    # to 7 bits + sign; the paper's table quantization): measured 2.2e-2 (uint2, median 1.3e-2)
    # and 3.8e-2 (every format, signed scales, median 1.1e-2).
    "lut_w2_fp16": 0.15,
    "lut_all_fp16": 0.15,
    # LUT, FP16 tables (FP16 additions build the entries, FP32 accumulation): measured 6.2e-4
    # (uint2, median 3.3e-4) and 8.7e-4 (every format, plain tables, median 3.9e-4).
    "lut_w2_fp16_fp16tab": 3e-3,
    "lut_all_fp16_fp16tab_nosym": 3e-3,
}


def _fp_config(name):
    return CONFIGS[name] if name in CONFIGS else PRESETS[name]


def test_every_fp_design_has_an_error_bound():
    fp = {name for name, c in CONFIGS.items() if c.act_format in ("fp16", "bf16")}
    assert fp <= set(FP_ERROR_BOUNDS)


def measure_fp_error(config, rng, k=1024, m=4, n=8):
    """Norm-wise relative error of ``gemm`` against ``exact_mpgemm`` on one random GEMM."""
    if config.kind in ("bitserial", "lut"):
        # Non-zero unsigned scales keep the exact result away from cancelling to nothing.
        a = _fp_bits(rng, (m, k), config.act_format)
        codes, dtypes, zeros, specials, scales = _grouped_weights(
            config, rng, k, n, tile_cols=getattr(config, "cols", 1), scale_lo=1)
        w = QuantizedWeights(codes, scales=scales, zeros=zeros, dtypes=dtypes,
                             specials=specials if config.kind == "bitserial" else None)
    else:
        a, w = operands(config, rng, m, k, n)
    got = f32_value(gemm(config, a, w)).astype(np.float64)
    exact = exact_mpgemm(_act_values(config, a), dequantized(config, w))
    return error_stats(got, exact)


@pytest.mark.parametrize("name", list(FP_ERROR_BOUNDS))
def test_fp_gemm_error_against_exact(name, rng):
    config = _fp_config(name)
    stats = measure_fp_error(config, rng)
    print(f"{name}: {stats}")
    assert stats.max_rel <= FP_ERROR_BOUNDS[name], stats
    assert stats.max_abs > 0                                  # rounding does happen


# --- malformed operands --------------------------------------------------------------------------

def _qw(w, **changes):
    fields = {f: getattr(w, f) for f in ("codes", "scales", "zeros", "dtypes", "specials")}
    fields.update(changes)
    return QuantizedWeights(**fields)


BS = BitSerialConfig(weight_formats=("int4", "uint4", "ternary", "bitmod_fp3"), group_size=32)
BS_FP = replace(BS, act_format="fp16")
LT = LutConfig(weight_formats=("int4", "uint4", "ternary"), group_size=32, acc_bits=40)
LT_FP = replace(LT, act_format="fp16", table_format="int8")


def _set(arr, idx, value):
    arr = np.array(arr, copy=True)
    arr[idx] = value
    return arr


#: (config, change, message): ``change(a, w)`` returns the malformed ``(a, w)``.
BAD_OPERANDS = [
    (BS, lambda a, w: (a[:, :48], _qw(w, codes=w.codes[:48], scales=w.scales[:1],
                                      zeros=w.zeros[:1], dtypes=w.dtypes[:1],
                                      specials=w.specials[:1])),
     "K a positive multiple of group_size=32"),
    (BS, lambda a, w: (a, _qw(w, scales=None)), "needs scales"),
    (BS, lambda a, w: (a, _qw(w, scales=w.scales[:1])), "scales has 1 groups"),
    (BS, lambda a, w: (a, _qw(w, scales=_set(w.scales, (0, 0), 256))),
     r"scales must be scale_bits=8 codes in \[0, 255\]; got 256"),
    (BS, lambda a, w: (a, _qw(w, dtypes=_set(w.dtypes, (1, 1), 4))),
     "dtypes must index weight_formats"),
    (BS, lambda a, w: (a, _qw(w, dtypes=np.zeros_like(w.dtypes), specials=None,
                              zeros=_set(np.zeros_like(w.zeros), (0, 1), 3))),
     r"zeros must be 0 for int4 groups \(only unsigned formats have a zero point\)"),
    (BS, lambda a, w: (a, _qw(w, dtypes=np.ones_like(w.dtypes),
                              zeros=_set(np.zeros_like(w.zeros), (0, 1), 16),
                              specials=np.zeros_like(w.specials))),
     r"zeros must be in \[0, 15\] for uint4 groups; got 16"),
    (BS, lambda a, w: (a, _qw(w, dtypes=np.zeros_like(w.dtypes), zeros=None,
                              specials=_set(np.zeros_like(w.specials), (1, 0), 1))),
     "specials must be 0 for int4 groups"),
    (BS, lambda a, w: (a, _qw(w, dtypes=np.full_like(w.dtypes, 3), zeros=None,
                              specials=_set(np.zeros_like(w.specials), (1, 0), 4))),
     r"specials must be in \[0, 3\] for bitmod_fp3 groups"),
    (BS, lambda a, w: (a, _qw(w, dtypes=np.full_like(w.dtypes, 2), zeros=None, specials=None,
                              codes=_set(np.zeros_like(w.codes), (40, 2), 2))),
     r"codes\[40, 2\] = 2 is not a code of ternary \(group 1, column 2\)"),
    (BS, lambda a, w: (a, _qw(w, dtypes=np.zeros_like(w.dtypes), zeros=None, specials=None,
                              codes=_set(np.zeros_like(w.codes), (3, 0), 16))),
     r"codes\[3, 0\] = 16 is not a code of int4"),
    (BS, lambda a, w: (_set(a, (1, 5), 128), w), r"activations must be int8 values in \[-128, "),
    (BS, lambda a, w: (a.astype(np.float64), w), "activations must be integers"),
    (BS_FP, lambda a, w: (_set(a, (0, 7), 0x7C00), w), "is inf or NaN"),
    (BS_FP, lambda a, w: (_set(a, (0, 7), 0x10000), w), r"bit patterns in \[0, 0xFFFF\]"),
    (LT, lambda a, w: (a[:, :48], _qw(w, codes=w.codes[:48], scales=w.scales[:1],
                                      zeros=w.zeros[:1], dtypes=w.dtypes[:1])),
     "K a positive multiple of group_size=32"),
    (LT, lambda a, w: (a, _qw(w, scales=None)), "needs scales"),
    (LT, lambda a, w: (a, _qw(w, specials=np.ones_like(w.dtypes))), "has no special values"),
    (LT, lambda a, w: (a, _qw(w, dtypes=np.zeros_like(w.dtypes),
                              zeros=_set(np.zeros_like(w.zeros), (0, 1), 3))),
     "zeros must be 0 for int4 groups"),
    (LT, lambda a, w: (a, _qw(w, dtypes=np.ones_like(w.dtypes),
                              zeros=_set(np.zeros_like(w.zeros), (0, 1), 16))),
     r"zeros must be in \[0, 15\] for uint4 groups; got 16"),
    (LT, lambda a, w: (a, _qw(w, dtypes=np.full_like(w.dtypes, 2), zeros=None,
                              codes=_set(np.zeros_like(w.codes), (33, 1), 2))),
     r"codes\[33, 1\] = 2 is not a code of ternary"),
    (LT, lambda a, w: (a, _qw(w, dtypes=_set(w.dtypes, (0, 0), -1))),
     "dtypes must index weight_formats"),
    (LT, lambda a, w: (a, _qw(w, scales=_set(w.scales, (1, 2), -1))),
     r"scales must be scale_bits=8 codes"),
    (LT, lambda a, w: (_set(a, (0, 0), -129), w), r"activations must be int8 values"),
    (LT_FP, lambda a, w: (_set(a, (1, 3), 0x7E00), w), "INT8 tables hold finite values only"),
]


@pytest.mark.parametrize("config, change, message", BAD_OPERANDS,
                         ids=[f"{c.kind}-{c.act_format}-{i}"
                              for i, (c, _, _) in enumerate(BAD_OPERANDS)])
def test_bad_operands_are_rejected(config, change, message, rng):
    a, w = operands(config, rng, 2, 64, 3)
    gemm(config, a, w)                                   # the unchanged operands are fine
    bad_a, bad_w = change(a, w)
    with pytest.raises(ValueError, match=message):
        gemm(config, bad_a, bad_w)


@pytest.mark.parametrize("config, beat", [(BS, "lanes=4"), (LT, "table_k=4")],
                         ids=["bitserial", "lut"])
def test_group_size_must_hold_whole_beats(config, beat, rng):
    """Configs enforce it; a config changed behind the validation is still rejected."""
    a, w = operands(config, rng, 1, 64, 2)
    odd = replace(config)
    object.__setattr__(odd, "group_size", 30)
    with pytest.raises(ValueError, match=f"group_size=30 must be a multiple of {beat}"):
        gemm(odd, a[:, :60], QuantizedWeights(w.codes[:60], scales=w.scales))


# --- the vectorised alignment adder against its scalar definition ---------------------------------

def _aligned_sum_definition(config, lanes):
    """FP32 bits of one term cycle's lane sum, lane by lane with Python integers: the active
    lanes (non-zero significand) aligned to their largest exponent with ``align_guard_bits``
    guard bits, truncated, summed exactly and rounded once."""
    exp_bits, man_bits = config.act_fields
    bias, guard = (1 << (exp_bits - 1)) - 1, config.align_guard_bits
    active = [(s, e, m) for s, e, m in lanes if m]
    if not active:
        return 0
    top = max(e for _, e, _ in active)
    total = sum((-1) ** s * ((m << guard) >> (top - e)) for s, e, m in active)
    with np.errstate(over="ignore"):
        return int(np.float32(float(total) * 2.0 ** (top - bias - man_bits - guard))
                   .view(np.uint32))


@pytest.mark.parametrize("act_format, guard", [("fp16", 0), ("fp16", 4), ("fp16", 12),
                                               ("bf16", 4)])
def test_alignment_adder_arrays_equal_the_definition(act_format, guard, rng):
    from mpgemm.sim.golden.bitserial import bitserial_fp_align_sum

    config = BitSerialConfig(act_format=act_format, align_guard_bits=guard, lanes=8,
                             weight_formats=("int8", "fp4_e2m1"), group_size=64)
    exp_bits, man_bits = config.act_fields
    shape = (6, 5, config.lanes)
    sign = rng.integers(0, 2, shape)
    exp = rng.integers(1, (1 << exp_bits) - 1, shape) + rng.integers(0, config.max_shift, shape)
    exp[rng.random(shape) < 0.5] = rng.integers(10, 14)         # close exponents: truncation
    sig = rng.integers(1 << man_bits, 1 << (man_bits + 1), shape)
    sig[rng.random(shape) < 0.2] = 0                                # inactive lanes
    sig[rng.random(shape) < 0.1] = rng.integers(1, 1 << man_bits)   # subnormal significands
    sig[0, 0] = 0                                                   # a cycle without any lane
    got = bitserial_fp_align_sum(config, sign, exp, sig)
    assert got.shape == shape[:-1] and got.dtype == np.uint32
    for idx in np.ndindex(*shape[:-1]):
        lanes = list(zip(sign[idx].tolist(), exp[idx].tolist(), sig[idx].tolist(), strict=True))
        assert int(got[idx]) == _aligned_sum_definition(config, lanes), idx
