"""Bit-exact golden model of the LUT tensor core (LUT Tensor Core, ISCA 2025; T-MAC).

The unit multiplies activations by low-bit weights without multipliers. For each group of
``table_k`` activations ``a_0 .. a_{K-1}`` (one *chunk*) a table holds the partial sums a
``K``-bit weight pattern selects; a weight of ``B`` bits is processed as ``B`` bit-planes, one per
cycle: plane ``b`` of ``K`` weights is a ``K``-bit index into the table, and the looked-up value,
shifted by ``2^b``, is accumulated.

* **Symmetrized tables** read every weight bit as -1/+1: entry ``j`` is
  ``T[j] = sum_i (2 j_i - 1) a_i``. As ``T[~j] = -T[j]``, only the ``2^(K-1)`` entries with the
  top index bit set are stored; a pattern with that bit clear looks up its complement and negates.
  Summing planes gives ``sum_i a_i q'_i`` with ``q' = 2q - (2^B - 1)``, so
  ``a.q = (acc + (2^B - 1) sum a) / 2``.
* **Plain tables** (symmetrization off) store all ``2^K`` entries ``T[j] = sum_i j_i a_i``.

Weights: ``uint1``-``uint8`` with a zero point, ``int2``-``int8`` (two's complement: the top
plane weighs ``-2^(B-1)``), ``ternary`` (read as int2) and ``binary`` (+-1, code ``2w - 1``).
Per quantization group (``group_size`` weights along K, one scale and zero point per output
column) the unit turns the plane sums into ``D = sum_k a_k w_k`` (``w = q - z`` for unsigned
formats) with one correction ``D = ((acc << p) + c * sum_k a_k) >> h`` (:func:`correction`), and
dequantizes ``out += s * D``.

FP16 activations (``config.table_format``):

* ``"int8"`` (the paper's table quantization): a chunk's activations are aligned to their
  largest exponent field ``E`` (significands shifted right, the bits shifted out dropped: the
  magnitude is truncated toward zero onto the grid ``2^(E - 25)``), the table is built exactly
  on that grid, and each entry is rounded to ``s = config.table_shift`` fewer bits (round to
  nearest, ties to even) and clamped to [-127, 127]: INT8 entries with the chunk's exponent.
  The tile adds ``entry << (b + E - 1)`` exactly into wide integer accumulators, so the group
  sum and the correction are exact; the corrected group value is rounded once to FP32 (RNE)
  and dequantized in FP32 (:func:`sim.golden.bitserial.bitserial_fp_dequant`: one RNE addition per
  scale bit).
* ``"fp16"``: entries kept in FP16, each node of the plan an FP16 addition (RNE, overflow to
  infinity); every plane adds ``+-entry * 2^b`` (exact in FP32) to an FP32 accumulator (RNE),
  the row's activation sum accumulates the all-ones entries in FP32, the correction adds
  ``+-(sum a) * 2^j`` per bit of ``c`` in FP32 (RNE) and halves exactly, then the same FP32
  dequantization.

The table is built by a fixed *plan* of additions (:func:`table_plan`): the golden model, the
RTL generator (:mod:`pe_designs.lut`) and the cost model all read the same plan, so the adders
the cost model counts are the ones the hardware has.

Plain Python integers (exact at any width) and numpy's IEEE float16/float32 (as
:mod:`sim.golden.fp`); configs are read duck-typed.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from .bitserial import (
    bitserial_fp_dequant,
    check_fp_bits,
    check_gemm_shape,
    check_int_acts,
    check_scale_codes,
    gemm_group_field,
    int_array,
    wrap_array,
)
from .contract import (
    Beat,
    GoldenModel,
    QuantizedWeights,
    check_group_rules,
    check_operands,
    contract_beats,
)
from .formats import BinaryFormat, IntFormat, get_format, signed_bits_for_range
from .fp import f16_bits, f16_value, f32_bits, f32_value, fp32_add

__all__ = [
    "LUT_WEIGHT_FORMATS", "n_planes", "is_unsigned", "plane_negative", "weight_value", "correction",
    "correction_bits", "TableNode", "table_plan", "table_adders", "build_table", "lookup",
    "plane_index", "plane_lookups", "chunk_sum", "chunk_sums", "planes_fp32", "add_act_sum",
    "build_tables", "LutWeight", "lut_group_value", "run_lut", "lut_tile_gemm", "lut_gemm",
    "Table", "rne_shift", "fp16_align", "fp16_table_shift", "plane_value_fp32",
    "lut_fp_group_value", "int_to_fp32", "LutModel", "LUT",
]

#: Weight formats the LUT tensor core supports: any precision 1-8 bits.
LUT_WEIGHT_FORMATS = (
    *(f"uint{b}" for b in range(1, 9)),
    *(f"int{b}" for b in range(2, 9)),
    "ternary", "binary",
)


def _check(fmt: str) -> None:
    if fmt not in LUT_WEIGHT_FORMATS:
        raise ValueError(f"weight format must be one of {', '.join(LUT_WEIGHT_FORMATS)}, "
                         f"not {fmt!r}")


@cache
def n_planes(fmt: str) -> int:
    """Bit-planes (= cycles per chunk) of a weight format: its bit width."""
    _check(fmt)
    return get_format(fmt).bits


def is_unsigned(fmt: str) -> bool:
    """Unsigned integer formats carry a zero point."""
    _check(fmt)
    f = get_format(fmt)
    return isinstance(f, IntFormat) and not f.signed


def plane_negative(fmt: str, b: int) -> bool:
    """Whether plane ``b`` weighs ``-2^b``: the top plane of two's complement formats."""
    _check(fmt)
    f = get_format(fmt)
    signed = not isinstance(f, BinaryFormat) and f.signed
    return signed and b == f.bits - 1


def weight_value(fmt: str, code: int, zero: int = 0) -> int:
    """The integer weight ``w`` a code stands for (``q - zero`` for unsigned formats)."""
    _check(fmt)
    f = get_format(fmt)
    code = int(code)
    if isinstance(f, BinaryFormat):
        return 2 * code - 1
    if is_unsigned(fmt):
        return code - int(zero)
    return int(f.decode([code])[0])


def correction(fmt: str, zero: int, symmetric: bool) -> tuple[int, int, int]:
    """``(p, c, h)`` with ``sum_k a_k w_k = ((acc << p) + c * sum_k a_k) >> h`` for a group.

    ``acc`` is the group's sum of shifted table values. Symmetrized tables give
    ``acc = 2 a.q - (sum_b +-2^b) sum a``; plain tables give ``acc = a.q``, except binary
    weights, whose bits mean -1/+1, so ``a.w = 2 acc - sum a``.
    """
    _check(fmt)
    bits = n_planes(fmt)
    if fmt == "binary":
        return (0, 0, 0) if symmetric else (1, -1, 0)
    if is_unsigned(fmt):
        return (0, (1 << bits) - 1 - 2 * zero, 1) if symmetric else (0, -zero, 0)
    return (0, -1, 1) if symmetric else (0, 0, 0)


def correction_bits(fmt: str, symmetric: bool) -> int:
    """Two's complement width of the correction constant ``c`` (0 when it is always 0)."""
    _check(fmt)
    return _correction_bits(fmt, bool(symmetric))


@cache
def _correction_bits(fmt: str, symmetric: bool) -> int:
    # Configs ask for it once per format on every beat the golden model runs.
    top = (1 << n_planes(fmt)) - 1 if is_unsigned(fmt) else 0
    cs = [correction(fmt, z, symmetric)[1] for z in (0, top)]
    if not any(cs):
        return 0
    return signed_bits_for_range(min(cs), max(cs))


# --- table construction -----------------------------------------------------------------------

@dataclass(frozen=True)
class TableNode:
    """One value of the table's construction: ``act`` (activation ``x``), ``zero``, or
    ``add`` / ``sub`` of two earlier nodes ``x`` and ``y``."""

    op: str
    x: int = 0
    y: int = 0


@cache
def table_plan(k: int, symmetric: bool) -> tuple[tuple[TableNode, ...], tuple[int, ...]]:
    """``(nodes, entries)``: how the precompute unit builds a table from ``k`` activations.

    ``entries[j]`` is the node holding stored entry ``j``. Symmetrized (``2^(k-1)`` entries,
    stored entry ``j`` is ``T[j | 2^(k-1)]``): with ``H_n`` the entries over the first ``n``
    activations whose top bit is set, ``H_1 = {a_0}`` and ``H_{n+1} = {a_n + h, a_n - h}`` over
    ``h`` in ``H_n``, so the table costs ``2^k - 2`` adders/subtractors. Plain (``2^k``
    entries): ``T[j + 2^n] = T[j] + a_n``, ``2^k - k - 1`` adders.
    """
    nodes: list[TableNode] = [TableNode("act", i) for i in range(k)]
    if symmetric:
        # half[j] over activations 0..n-1 = a_{n-1} + sum_{i<n-1} (2 j_i - 1) a_i.
        half = [0]
        for n in range(1, k):
            new = [0] * (1 << n)
            for j, h in enumerate(half):
                lo = len(nodes)
                nodes.append(TableNode("sub", n, h))
                nodes.append(TableNode("add", n, h))
                # Bit n-1 clear: the complement pattern's value is -h, so a_n - h sits at
                # the index whose low bits are j's complement.
                new[j ^ ((1 << (n - 1)) - 1)] = lo
                new[j | (1 << (n - 1))] = lo + 1  # bit n-1 set: a_n + h
            half = new
        return tuple(nodes), tuple(half)
    nodes.append(TableNode("zero"))
    full = [len(nodes) - 1]
    for n in range(k):
        upper = []
        for j, t in enumerate(full):
            if j == 0:
                upper.append(n)                   # 0 + a_n needs no adder
            else:
                nodes.append(TableNode("add", t, n))
                upper.append(len(nodes) - 1)
        full = full + upper
    return tuple(nodes), tuple(full)


def table_adders(k: int, symmetric: bool) -> int:
    """Adders/subtractors of the precompute unit's table (per activation row)."""
    nodes, _ = table_plan(k, symmetric)
    return sum(1 for n in nodes if n.op in ("add", "sub"))


def _eval_plan(k: int, symmetric: bool, acts: np.ndarray) -> np.ndarray:
    """The plan's entries of integer chunks ``acts[..., k]`` (exact: int64 or object)."""
    nodes, entries = table_plan(k, symmetric)
    vals: list[Any] = []
    for n in nodes:
        if n.op == "act":
            vals.append(acts[..., n.x])
        elif n.op == "zero":
            vals.append(np.zeros_like(acts[..., 0]))
        elif n.op == "add":
            vals.append(vals[n.x] + vals[n.y])
        else:
            vals.append(vals[n.x] - vals[n.y])
    return np.stack([vals[e] for e in entries], axis=-1)


@dataclass(frozen=True)
class Table:
    """A row's stored table: ``entries`` (integers, INT8 codes, or FP16 bit patterns) and, for
    INT8 tables of FP16 activations, the chunk's exponent field ``exp`` (entry ``q`` stands for
    ``q * 2^(exp + table_shift - 25)``; 0 otherwise)."""

    entries: tuple[int, ...]
    exp: int = 0


def rne_shift(x: Any, s: int) -> Any:
    """``x / 2^s`` rounded to the nearest integer, ties to even (exact for any integer, or
    element-wise for an integer array)."""
    if s <= 0:
        return x << -s
    q = x >> s
    rem = x - (q << s)
    half = 1 << (s - 1)
    return q + ((rem > half) | ((rem == half) & (q & 1 == 1)))


def fp16_table_shift(k: int) -> int:
    """Bits an INT8 table entry drops: an exact entry is below ``k * 2^11`` on the chunk's grid."""
    return max(0, (k * ((1 << 11) - 1)).bit_length() - 7)


def fp16_align(acts: Sequence[int]) -> tuple[int, list[int]]:
    """``(E, v)``: the chunk's largest exponent field and every activation on its grid.

    ``v_i = (-1)^sign * (sig_i >> (E - e_i))`` with ``e_i`` the exponent field (1 for
    subnormals) and ``sig_i`` the significand with its hidden bit, so ``a_i ~ v_i * 2^(E - 25)``,
    truncated toward zero. Non-finite activations are rejected.
    """
    top, v = _fp16_align(np.array([int(x) for x in acts], np.int64))
    return int(top), [int(x) for x in v]


def _fp16_align(acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fp16_align` of every chunk ``acts[..., k]`` (FP16 bit patterns, int64)."""
    sign, ef, frac = acts >> 15 & 1, acts >> 10 & 0x1F, acts & 0x3FF
    if np.any(ef == 0x1F):
        x = int(acts[ef == 0x1F].flat[0])
        raise ValueError(f"activation {x:#06x} is inf or NaN: INT8 tables hold finite "
                         f"values only")
    e = np.maximum(ef, 1)
    sig = frac | np.where(ef != 0, 0x400, 0)
    top = e.max(axis=-1)
    return top, np.where(sign == 1, -1, 1) * (sig >> (top[..., None] - e))


def _fp16_add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return f16_bits(f16_value(x) + f16_value(y))


def build_table(config: Any, acts: Sequence[int]) -> Table:
    """The stored table of one row's chunk of ``table_k`` activations."""
    k = config.table_k
    if len(acts) != k:
        raise ValueError(f"a table is built from table_k={k} activations, not {len(acts)}")
    entries, exp = build_tables(config, np.array([int(x) for x in acts], np.int64))
    return Table(tuple(int(e) for e in entries), int(exp))


def build_tables(config: Any, acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(entries[..., table_entries], exp[...])``: :func:`build_table` of every chunk
    ``acts[..., table_k]`` (integers, or FP16 bit patterns, as int64); ``exp`` is 0 but for
    INT8 tables."""
    k = config.table_k
    acts = np.asarray(acts, np.int64)
    fmt = getattr(config, "table_format", "exact")
    no_exp = np.zeros(acts.shape[:-1], np.int64)
    if fmt == "exact":
        return _eval_plan(k, config.symmetric, acts), no_exp
    if fmt == "int8":
        top, v = _fp16_align(acts)
        s = fp16_table_shift(k)
        return np.clip(rne_shift(_eval_plan(k, config.symmetric, v), s), -127, 127), top
    # FP16 entries: every add/sub node of the plan is one FP16 addition.
    nodes, entries = table_plan(k, config.symmetric)
    vals: list[np.ndarray] = []
    for n in nodes:
        if n.op == "act":
            vals.append(acts[..., n.x].astype(np.uint16))
        elif n.op == "zero":
            vals.append(np.zeros(acts.shape[:-1], np.uint16))
        else:
            vals.append(_fp16_add(vals[n.x], vals[n.y] ^ np.uint16(0x8000 if n.op == "sub"
                                                                   else 0)))
    return np.stack([vals[e] for e in entries], axis=-1).astype(np.int64), no_exp


def lookup(config: Any, table: Sequence[int], index: int) -> tuple[int, bool]:
    """``(entry, negate)``: the stored entry a ``table_k``-bit weight pattern reads, and whether
    the look-up negates it (the complement's entry, when symmetrized)."""
    k = config.table_k
    if not config.symmetric:
        return table[index], False
    top = index >> (k - 1) & 1
    low = index & ((1 << (k - 1)) - 1)
    return (table[low], False) if top else (table[low ^ ((1 << (k - 1)) - 1)], True)


def plane_index(codes: Sequence[int], b: int) -> int:
    """Bit-plane ``b`` of a chunk's weight codes as a table index (weight ``i`` is bit ``i``)."""
    return sum(((int(c) >> b) & 1) << i for i, c in enumerate(codes))


@cache
def _lookup_map(k: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(stored, negate)`` of every ``k``-bit pattern: :func:`lookup` as index arrays."""
    config = _TableShape(k, symmetric)
    looked = [lookup(config, range(1 << k), j) for j in range(1 << k)]
    return (np.array([e for e, _ in looked], np.int64), np.array([n for _, n in looked], bool))


@dataclass(frozen=True)
class _TableShape:
    table_k: int
    symmetric: bool


def plane_lookups(config: Any, fmt: str, codes: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(stored[B, ...], negate[B, ...])`` for the chunks ``codes[..., table_k]`` (a column's
    codes along the last axis): per plane ``b``, the stored entry its pattern reads and
    whether the value is negated (the complement's look-up, or the top plane of a two's
    complement format)."""
    codes = np.asarray(codes, np.int64)
    stored, negate = _lookup_map(config.table_k, config.symmetric)
    bit = np.arange(codes.shape[-1])
    idx = np.stack([(((codes >> b) & 1) << bit).sum(axis=-1) for b in range(n_planes(fmt))])
    neg = negate[idx] ^ np.array([plane_negative(fmt, b) for b in range(n_planes(fmt))]
                                 ).reshape((-1,) + (1,) * (idx.ndim - 1))
    return stored[idx], neg


def chunk_sums(entries: np.ndarray, exps: np.ndarray, stored: np.ndarray,
               negate: np.ndarray) -> np.ndarray:
    """:func:`chunk_sum` of rows' tables ``entries[M, E]`` (INT8 exponents ``exps[M]``) for
    columns' look-ups ``stored[B, N]``, ``negate[B, N]`` (:func:`plane_lookups`): ``[M, N]``."""
    vals = entries[:, stored]                                          # [M, B, N]
    planes = np.arange(stored.shape[0]).reshape(1, -1, 1)
    total = (np.where(negate, -vals, vals) << planes).sum(axis=1)
    return total << np.maximum(exps - 1, 0)[:, None]


def chunk_sum(config: Any, table: Table, codes: Sequence[int], fmt: str) -> int:
    """``sum_b +-2^b T[plane_b]`` of one column's chunk (integer tables): what its planes add to
    the group accumulator; INT8 tables of FP16 activations add it shifted by ``E - 1``."""
    stored, negate = plane_lookups(config, fmt, [int(c) for c in codes])
    return int(chunk_sums(np.array([table.entries], np.int64), np.array([table.exp]),
                          stored[:, None], negate[:, None])[0, 0])


def planes_fp32(entries: np.ndarray, negate: np.ndarray, b: int) -> np.ndarray:
    """FP32 bits of plane ``b``'s ``+-entry * 2^b`` for FP16 table entries (arrays)."""
    with np.errstate(all="ignore"):
        v = f16_value(entries).astype(np.float32) * np.float32(1 << b)
    return f32_bits(np.where(negate, -v, v))


def plane_value_fp32(config: Any, table: Table, codes: Sequence[int], fmt: str, b: int) -> int:
    """FP32 bits of plane ``b``'s ``+-entry * 2^b`` for FP16 tables (exact: an FP16 value with
    its exponent raised by ``b``; infinities and NaN pass through)."""
    stored, negate = plane_lookups(config, fmt, [int(c) for c in codes])
    return int(planes_fp32(np.asarray(table.entries[int(stored[b])]), negate[b], b))


def add_act_sum(config: Any, act_sum: Any, ones: Any, exp: Any) -> Any:
    """A row's activation sum after a chunk: ``+ ones`` (the all-ones entry) shifted like the
    chunk's sums (integer tables), or its FP32 addition (FP16 tables; bits). Element-wise."""
    if getattr(config, "table_format", "exact") == "fp16":
        return fp32_add(np.asarray(act_sum, np.uint32),
                        f32_bits(f16_value(np.asarray(ones, np.uint16)).astype(np.float32)))
    shift = np.maximum(exp - 1, 0)
    return act_sum + (ones << (int(shift) if np.ndim(shift) == 0 else shift))


def lut_group_value(config: Any, fmt: str, acc: Any, act_sum: Any, zero: int) -> Any:
    """``D = sum_k a_k w_k`` of a group from its plane sum ``acc`` and activation sum (integers,
    or element-wise for integer arrays)."""
    p, c, h = correction(fmt, zero, config.symmetric)
    num = (acc << p) + c * act_sum
    if np.any(num % (1 << h)):
        raise AssertionError(f"correction of acc={acc}, sum a={act_sum} is not exact")
    return num >> h


def int_to_fp32(num: int, exp: int) -> int:
    """FP32 bits of ``num * 2^exp`` rounded once (RNE) for any integer ``num``."""
    sign, mag = num < 0, abs(num)
    extra = max(mag.bit_length() - 24, 0)
    sig = rne_shift(mag, extra)           # at most 2^24: exact in float64, as is the power
    value = float(sig) * 2.0 ** (exp + extra)
    return _f32(-value if sign else value)


def _f32(x: float) -> int:
    with np.errstate(all="ignore"):
        return int(f32_bits(np.float32(x)))


def lut_fp_group_value(config: Any, fmt: str, acc: Any, act_sum: Any, zero: int) -> Any:
    """FP32 bits of a group's corrected value ``D`` for FP16 activations.

    INT8 tables: ``acc`` and ``act_sum`` are exact integers on the grid ``2^lsb``
    (``lsb = table_shift - 24``); ``D = RNE_fp32(((acc << p) + c * act_sum) * 2^(lsb - h))``.
    FP16 tables: ``acc`` and ``act_sum`` are FP32 bits; ``D = acc * 2^p``, then for each bit
    ``j`` of ``c`` (two's complement, ``corr_bits`` wide) ``D += bit ? +-act_sum * 2^j : +0``
    with one RNE rounding each, then ``D * 2^-h`` (exact, see ``pe_designs.lut``). Scalars give
    an int; arrays (``acc`` and ``act_sum`` broadcast together) give uint32 bits.
    """
    scalar = np.ndim(acc) == 0 and np.ndim(act_sum) == 0
    p, c, h = correction(fmt, zero, config.symmetric)
    if config.table_format == "int8":
        num = (acc << p) + c * act_sum
        exp = fp16_table_shift(config.table_k) - 24 - h
        if scalar:
            return int_to_fp32(num, exp)
        return np.frompyfunc(lambda x: int_to_fp32(int(x), exp), 1, 1)(num).astype(np.uint32)
    with np.errstate(all="ignore"):
        d_bits = f32_bits(f32_value(np.asarray(acc, np.uint32)) * np.float32(1 << p))
        a = f32_value(np.asarray(act_sum, np.uint32)).astype(np.float64)
    bits = config.corr_bits
    for j in range(bits):
        if (c >> j) & 1:
            sign = -1.0 if j == bits - 1 else 1.0
            with np.errstate(all="ignore"):
                term = f32_bits((sign * a * 2.0 ** j).astype(np.float32))
        else:
            term = np.zeros(np.shape(a), np.uint32)
        d_bits = fp32_add(d_bits, term)
    if h:
        with np.errstate(all="ignore"):
            d_bits = f32_bits(f32_value(d_bits) * np.float32(0.5))
    return int(d_bits) if scalar else d_bits


@dataclass(frozen=True)
class LutWeight:
    """One beat's weight operand of the LUT tile (the ``i_w`` struct).

    ``codes[n][i]``: column ``n``'s code for activation ``i`` of the chunk; ``scale[n]`` and
    ``zero[n]`` (unsigned formats) belong to column ``n``'s group, the scale being read from the
    beat that closes the group; ``dtype`` indexes the config's ``weight_formats``.
    """

    codes: tuple[tuple[int, ...], ...]
    scale: tuple[int, ...]
    zero: tuple[int, ...]
    dtype: int = 0


def _wrap(x: int, bits: int) -> int:
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def _check_weight(config: Any, w: LutWeight, t: int) -> str:
    n = len(config.weight_formats)
    if not isinstance(w.dtype, int) or not 0 <= w.dtype < n:
        raise ValueError(f"beat at cycle {t}: dtype={w.dtype!r} must index weight_formats "
                         f"(0..{n - 1})")
    fmt = config.weight_formats[w.dtype]
    if len(w.codes) != config.cols or any(len(c) != config.table_k for c in w.codes):
        raise ValueError(f"beat at cycle {t}: weight codes must be cols={config.cols} x "
                         f"table_k={config.table_k}")
    bits = n_planes(fmt)
    for col in w.codes:
        for code in col:
            if not 0 <= code < (1 << bits) or (fmt == "ternary" and code == 2):
                raise ValueError(f"beat at cycle {t}: code {code} is not a {fmt} code")
    if len(w.scale) != config.cols or any(not 0 <= s < (1 << config.scale_bits)
                                          for s in w.scale):
        raise ValueError(f"beat at cycle {t}: scales {w.scale} must be cols={config.cols} "
                         f"codes of scale_bits={config.scale_bits}")
    top = (1 << bits) - 1 if is_unsigned(fmt) else 0
    if len(w.zero) != config.cols or any(not 0 <= z <= top for z in w.zero):
        raise ValueError(f"beat at cycle {t}: zero points {w.zero} must be cols={config.cols} "
                         f"values in [0, {top}] for {fmt}")
    return fmt


def run_lut(config: Any, beats: Sequence[Any], *, w_reset: Any,
            not_ready: list[int] | None = None, tables: list | None = None
            ) -> list[tuple[int, tuple[int, ...]]]:
    """The LUT tile's contract behaviour (see :mod:`pe_designs.lut`).

    Each valid beat brings ``rows`` chunks of activations (``beat.a[m]``) and ``cols`` chunks
    of weight codes. Its tables are built when it is accepted (cycle ``t``) and its ``B``
    planes take cycles ``t+1 .. t+B``; every output ``(m, n)`` adds ``chunk_sum`` to its group
    accumulator and row ``m``'s activation sum grows by ``sum a``. A ``group_end`` beat hands the
    group to the dequantizer in its last plane cycle ``h`` (stalling there while the previous
    group's dequantization runs: ``h = max(t + B, h_prev + dq_cycles)``), which computes ``D``
    (:func:`lut_group_value`) and ``out = base + s * D`` (wrapping at ``acc_bits``); the
    output closed by a ``last`` beat appears at ``h + dq_cycles + 1``. ``beat.psum`` of a
    group's ``first`` beat (``rows * cols`` values, row-major) is the base of its first group.
    Tables built are appended to ``tables`` when it is given (a list per beat, per row).
    """
    rows, cols = config.rows, config.cols
    fp16_tables = getattr(config, "table_format", "exact") == "fp16"
    grp = [[0] * cols for _ in range(rows)]
    act_sum = [0] * rows
    grp_psum: tuple[int, ...] = ()
    grp_first, grp_key, grp_beats = False, None, 0
    out = [0] * (rows * cols)
    results: list[tuple[int, tuple[int, ...]]] = []
    ready_at = 0
    dq_free = 0
    for t, b, w in contract_beats(beats, w_reset):
        if t < ready_at:
            raise ValueError(f"beat at cycle {t} arrives while the tile is busy until {ready_at}")
        fmt = _check_weight(config, w, t)
        check_operands(config, t, b, w)
        key = (w.dtype, tuple(w.zero))
        if grp_beats and key != grp_key:
            raise ValueError(f"beat at cycle {t} changes the data type or zero points inside a "
                             f"group: {grp_key} -> {key}")
        check_group_rules(config, t, b, grp_beats)
        grp_key, grp_beats = key, grp_beats + 1
        beat_tables = [build_table(config, b.a[m]) for m in range(rows)]
        if tables is not None:
            tables.append(beat_tables)
        for m in range(rows):
            tab = beat_tables[m]
            ones = tab.entries[config.table_entries - 1]     # the all-ones pattern: sum a
            act_sum[m] = int(add_act_sum(config, act_sum[m], ones, tab.exp))
            for n in range(cols):
                if fp16_tables:
                    for pb in range(n_planes(fmt)):
                        grp[m][n] = int(fp32_add(np.uint32(grp[m][n]), np.uint32(
                            plane_value_fp32(config, tab, w.codes[n], fmt, pb))))
                else:
                    grp[m][n] += chunk_sum(config, tab, w.codes[n], fmt)
        if b.first:
            if not isinstance(b.psum, (tuple, list)) or len(b.psum) != rows * cols:
                raise ValueError(f"beat at cycle {t}: psum must be rows*cols={rows * cols} "
                                 f"values (row-major), not {b.psum!r}")
            grp_first, grp_psum = True, tuple(int(x) for x in b.psum)
        cycles = n_planes(fmt)
        ready_at = t + cycles
        if b.group_end:
            ready_at = max(t + cycles, dq_free)
            dq_free = ready_at + config.dq_cycles
            base = list(grp_psum) if grp_first else out
            if config.is_fp:
                out = [bitserial_fp_dequant(config, base[m * cols + n], lut_fp_group_value(
                           config, fmt, grp[m][n], act_sum[m], w.zero[n]), w.scale[n])
                       for m in range(rows) for n in range(cols)]
            else:
                scales = [_wrap(s, config.scale_bits) if config.scale_signed else s
                          for s in w.scale]
                out = [_wrap(base[m * cols + n] + scales[n] * lut_group_value(
                           config, fmt, grp[m][n], act_sum[m], w.zero[n]), config.acc_bits)
                       for m in range(rows) for n in range(cols)]
            if b.last:
                results.append((ready_at + config.dq_cycles + 1, tuple(out)))
            grp = [[0] * cols for _ in range(rows)]
            act_sum = [0] * rows
            grp_first, grp_beats = False, 0
        if not_ready is not None:
            not_ready.extend(range(t + 1, ready_at))
    return results


def lut_gemm(a: Sequence[Sequence[int]], codes: Sequence[Sequence[int]], fmt: str,
             scales: Sequence[Sequence[int]], zeros: Sequence[Sequence[int]],
             group_size: int) -> list[list[int]]:
    """Exact reference ``Y[m][n] = sum_g s[g][n] * sum_{k in g} a[m][k] * w(codes[k][n])``.

    Straight from the weights' meaning (no tables, no planes): what the tile must compute.
    """
    k_ = len(codes)
    out = []
    for row in a:
        out.append([sum(int(scales[k // group_size][n]) * int(row[k])
                        * weight_value(fmt, codes[k][n], zeros[k // group_size][n])
                        for k in range(k_)) for n in range(len(codes[0]))])
    return out


def _lut_operands(config: Any, a: Any, w: QuantizedWeights):
    """Validated operands of :func:`lut_tile_gemm`."""
    a = int_array(a, "activations")
    m, k, n = check_gemm_shape(config, a, w, config.table_k, "table_k")
    g = config.group_size
    codes = int_array(w.codes, "codes")
    scales = gemm_group_field(w, "scales", g, config.kind, required=True)
    dtypes = gemm_group_field(w, "dtypes", g, config.kind)
    zeros = gemm_group_field(w, "zeros", g, config.kind)
    if np.any(gemm_group_field(w, "specials", g, config.kind)):
        raise ValueError("the lut tile has no special values: specials must be None or 0")
    check_scale_codes(config, scales)
    n_fmt = len(config.weight_formats)
    if dtypes.size and (dtypes.min() < 0 or dtypes.max() >= n_fmt):
        raise ValueError(f"dtypes must index weight_formats {config.weight_formats} (0.."
                         f"{n_fmt - 1}); got {dtypes[(dtypes < 0) | (dtypes >= n_fmt)].flat[0]}")
    for d in np.unique(dtypes).tolist():
        fmt = config.weight_formats[d]
        top = (1 << n_planes(fmt)) - 1
        in_fmt = dtypes == d
        z = zeros[in_fmt]
        zmax = top if is_unsigned(fmt) else 0
        if z.size and (z.min() < 0 or z.max() > zmax):
            bad = z[(z < 0) | (z > zmax)][0]
            raise ValueError(f"zeros must be in [0, {zmax}] for {fmt} groups; got {bad}" if zmax
                             else f"zeros must be 0 for {fmt} groups (only unsigned formats "
                                  f"have a zero point); got {bad}")
        c = np.where(np.repeat(in_fmt, g, axis=0), codes, 0)
        bad = (c < 0) | (c > top) | ((c == 2) if fmt == "ternary" else False)
        if bad.any():
            kk, nn = (int(i[0]) for i in np.nonzero(bad))
            raise ValueError(f"codes[{kk}, {nn}] = {int(codes[kk, nn])} is not a code of {fmt} "
                             f"(group {kk // g}, column {nn})")
    if config.is_fp:
        check_fp_bits(config, a)
    else:
        check_int_acts(config, a)
    return a, codes, scales, dtypes, zeros


def lut_tile_gemm(config: Any, a: Any, w: QuantizedWeights) -> np.ndarray:
    """``Y[M, N] = A[M, K] x W[K, N]``, every output as the LUT tile computes it.

    A row of ``A`` is one of the tile's rows, a column of ``W`` one of its columns. K is split
    into groups of ``config.group_size`` and each group into chunks of ``table_k`` consecutive
    k (one beat); group ``g`` of column ``n`` has data type ``w.dtypes[g, n]`` (default 0),
    zero point ``w.zeros[g, n]`` (unsigned formats) and scale code ``w.scales[g, n]``. Per
    chunk, row ``m``'s table (:func:`build_tables`: exact, INT8 with the chunk's own exponent,
    or FP16 entries) serves every column; each column adds its planes' look-ups to its group
    accumulator (:func:`chunk_sums`, or FP32 additions of :func:`planes_fp32`) and the row's
    activation sum grows by the all-ones entry (:func:`add_act_sum`). A group ends with the
    correction (:func:`lut_group_value` / :func:`lut_fp_group_value`) and the dequantization
    (``out + s * D`` wrapping at ``acc_bits``; :func:`bitserial_fp_dequant` in FP32).

    Everything that one output reads is its row's tables and activation sums and its column's
    codes, zero points and scales, so the value does not depend on how M and N are tiled (nor
    on the other columns' data types, which the tile, taking one ``dtype`` per beat, would
    compute in separate passes). Results: int64 (integer activations, wrapped at
    ``acc_bits``) or uint32 FP32 bits, what :func:`run_lut` computes for each output.
    """
    a, codes, scales, dtypes, zeros = _lut_operands(config, a, w)
    m, k = a.shape
    n = codes.shape[1]
    g, tk = config.group_size, config.table_k
    entries, exps = build_tables(config, a.reshape(m, k // tk, tk))    # [M, C, E], [M, C]
    ones = entries[:, :, config.table_entries - 1]                     # the all-ones entries
    fp16_tables = config.table_format == "fp16"
    # The group registers are exact in int64 whenever the tile's own are narrower.
    acc_type = np.int64 if max(config.group_acc_bits, config.act_sum_bits) <= 63 else object
    if config.is_fp:
        out = np.zeros((m, n), np.uint32)
    else:
        out = np.zeros((m, n), object)
        s_val = wrap_array(scales, config.scale_bits) if config.scale_signed \
            else scales.astype(object)
    per_group = g // tk
    for gi in range(k // g):
        chunks = range(gi * per_group, (gi + 1) * per_group)
        # Each row's activation sum over the group, which all its columns share.
        act_sum = np.zeros(m, np.uint32 if fp16_tables else acc_type)
        for c in chunks:
            act_sum = add_act_sum(config, act_sum, ones[:, c], exps[:, c])
        if not fp16_tables:
            act_sum = act_sum.astype(object)
        for d in np.unique(dtypes[gi]).tolist():
            fmt = config.weight_formats[d]
            cols = np.nonzero(dtypes[gi] == d)[0]
            acc = np.zeros((m, len(cols)), np.uint32 if fp16_tables else acc_type)
            for c in chunks:
                stored, negate = plane_lookups(config, fmt, codes[c * tk:(c + 1) * tk, cols].T)
                if fp16_tables:
                    for b in range(len(stored)):
                        acc = fp32_add(acc, planes_fp32(entries[:, c, stored[b]], negate[b], b))
                else:
                    acc = acc + chunk_sums(entries[:, c], exps[:, c], stored, negate)
            if not fp16_tables:
                acc = acc.astype(object)
            col_zeros = zeros[gi, cols]
            for z in np.unique(col_zeros).tolist():
                sel = col_zeros == z
                sub = cols[sel]
                if config.is_fp:
                    dq = lut_fp_group_value(config, fmt, acc[:, sel], act_sum[:, None], z)
                    out[:, sub] = bitserial_fp_dequant(config, out[:, sub], dq, scales[gi, sub])
                else:
                    dq = lut_group_value(config, fmt, acc[:, sel], act_sum[:, None], z)
                    out[:, sub] = out[:, sub] + s_val[gi, sub] * dq
    if config.is_fp:
        return out
    # Wrapping is modular: wrapping once equals wrapping after every group.
    return wrap_array(out, config.acc_bits).astype(np.int64)


class LutModel(GoldenModel):
    """The LUT tile's golden model (weight operands are :class:`LutWeight`; a beat's ``a`` is
    ``rows`` chunks of ``table_k`` activations and its ``psum`` ``rows * cols`` values)."""

    checks_gemm_operands = True

    def w_reset(self, config: Any) -> LutWeight:
        return LutWeight(codes=((0,) * config.table_k,) * config.cols,
                         scale=(0,) * config.cols, zero=(0,) * config.cols)

    def weight_format(self, config: Any, w: LutWeight) -> str:
        return config.weight_formats[w.dtype]

    def weight_fields(self, config: Any, w: LutWeight) -> dict[str, Any]:
        # The port carries bit-planes: planes[b][n] holds bit b of column n's table_k codes.
        planes = [[sum(((int(w.codes[n][i]) >> b) & 1) << i for i in range(config.table_k))
                   for n in range(config.cols)] for b in range(config.planes_max)]
        return {"planes": planes, "scale": w.scale, "zero": w.zero, "dtype": w.dtype}

    def psum_fields(self, config: Any, psum: Any) -> Any:
        # An idle beat may leave psum at Beat's default 0: an all-zero bus.
        return (0,) * (config.rows * config.cols) if psum == 0 else psum

    def dequant_busy_cycles(self, config: Any) -> int:
        # Correction bits, then scale bits (see run_lut).
        return config.dq_cycles

    def beat_acts(self, config: Any, a_rows: np.ndarray, k: slice) -> tuple:
        """Each row's chunk of ``table_k`` activations; the tile's rows beyond ``a_rows`` are
        idle (zeros)."""
        chunks = [tuple(int(x) for x in row[k]) for row in a_rows]
        return tuple(chunks + [(0,) * config.table_k] * (config.rows - len(chunks)))

    def beat_weight(self, config: Any, w: QuantizedWeights, cols: Sequence[int],
                    k: slice) -> LutWeight:
        """Each column's chunk of ``table_k`` codes with its group's scale and zero point; the
        tile's columns beyond ``cols`` are idle (zero codes, scales and zero points). The beat
        has one data type, so the columns must share their group's."""
        k0 = k.start
        dtypes = {w.group_value("dtypes", k0, n) for n in cols}
        if len(dtypes) != 1:
            raise ValueError(f"columns {list(cols)} have data types {sorted(dtypes)} in the "
                             f"group of row {k0}: a tile pass takes one data type per beat, so "
                             f"compute them in separate passes")
        idle = config.cols - len(cols)
        return LutWeight(
            codes=tuple([tuple(int(c) for c in w.codes[k, n]) for n in cols]
                        + [(0,) * config.table_k] * idle),
            scale=tuple([w.group_value("scales", k0, n) for n in cols] + [0] * idle),
            zero=tuple([w.group_value("zeros", k0, n) for n in cols] + [0] * idle),
            dtype=dtypes.pop())

    def run(self, config: Any, beats: Sequence[Beat], *, w_reset: Any,
            not_ready: list[int] | None = None) -> list[tuple[int, tuple[int, ...]]]:
        return run_lut(config, beats, w_reset=w_reset, not_ready=not_ready)

    def gemm(self, config: Any, a: np.ndarray, w: QuantizedWeights) -> np.ndarray:
        return lut_tile_gemm(config, a, w)


LUT = LutModel()
