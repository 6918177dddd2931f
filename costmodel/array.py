"""Cycles of a whole GEMM on an accelerator: the formula the RTL's cycle counter must equal.

The schedule is the one :mod:`mpgemm.hw.array.accel` implements (its docstring has the
reasons for each term). Cycles are counted from ``start`` to the last output written, with the
first beat issued in cycle 1. With ``R x C`` PEs of result latency ``L``:

* output-stationary: every output block of ``R`` rows and ``C`` columns runs each chunk of K
  (``b`` beats, at most what the PE's accumulator holds, whole quantization groups); a beat
  takes the cycles of the slowest column's weight data type (``c``, one for the MAC PEs), and
  a chunk's last beat comes at least ``D = max(R, C + L_max - L_min)`` cycles after the
  previous chunk's (its rows must have left the array; ``L``: the PE's result latencies over
  its data types). The last beat then needs 2 cycles (buffer read, register) to reach the
  array, ``R - 1 + C - 1`` to cross it, ``L_max`` for the result and one to be written:
  ``cycles = 1 + (b_first - 1) c + sum over the other chunks of max(b c, D) + R + C + L_max
  + 1`` with one data type;
* weight-stationary: every block of ``C`` columns runs each fold of ``R`` beats of K in
  ``P = max(M, C, (R - 1) L + 1)`` slots; the last row of A then crosses the array (``R L``,
  the column sums) and the de-skew (``C``):
  ``cycles = (blocks x folds - 1) P + M + R L + C + 2``.

A sequence of GEMMs also pays for the host's transfers (:func:`stream_cycles`): loading a GEMM's
A and W words (both streams at once, a word per cycle each) and streaming its output words out.
With one bank per buffer each GEMM's load, computation and drain follow one another; with two
(``double_buffer``) the next GEMM's load overlaps the computation, and its computation the
previous GEMM's drain.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mpgemm.hw.array.config import AccelConfig, GemmShape

__all__ = ["ArrayCycles", "StreamCycles", "gemm_cycles", "stream_cycles"]


@dataclass(frozen=True)
class ArrayCycles:
    """The cycle count of one GEMM and where it goes.

    ``compute_slots``: slots in which a beat issues; ``idle_slots``: slots a tile waits for
    the array (results leaving, shadow registers); ``fill_drain``: the pipeline's fill and
    drain after the last slot. ``total = compute_slots + idle_slots + fill_drain``.
    """

    total: int
    compute_slots: int
    idle_slots: int
    fill_drain: int
    tiles: int

    @property
    def utilization(self) -> float:
        """Fraction of the cycles in which the array takes a beat."""
        return self.compute_slots / self.total


def _group_intervals(accel: AccelConfig, dtypes: np.ndarray, n_tile: int,
                     n_groups: int) -> np.ndarray:
    """Cycles per beat of every quantization group (along K) in one block of columns: the
    slowest column's data type; columns past N hold zero weights (data type 0)."""
    pe, cols = accel.pe, accel.array.cols
    cycles = np.array([pe.timing(f).cycles for f in pe.weight_formats])
    block = np.zeros((n_groups, cols), dtype=np.int64)
    part = dtypes[:, n_tile * cols:(n_tile + 1) * cols]
    block[:, :part.shape[1]] = part
    return cycles[block % len(cycles)].max(axis=1)


def _dtype_matrix(accel: AccelConfig, m: int, n: int, k: int,
                  dtypes: "np.ndarray | str | None") -> tuple[np.ndarray | None, int]:
    """``(per-group data type indices [K / group, N] or None, the uniform beat cycles)``."""
    pe = accel.pe
    if dtypes is None or isinstance(dtypes, str):
        fmt = pe.weight_formats[0] if dtypes is None else dtypes
        if fmt not in pe.weight_formats:
            raise ValueError(f"dtypes {fmt!r} is not one of the PE's weight_formats "
                             f"{pe.weight_formats}")
        return None, pe.timing(fmt).cycles
    d = np.asarray(dtypes)
    group = pe.group_size or k
    if d.shape != (k // group, n) or not np.issubdtype(d.dtype, np.integer):
        raise ValueError(f"dtypes must be an integer [K / group_size, N] = [{k // group}, {n}] "
                         f"array of indices into weight_formats, not shape {d.shape}")
    return d, 0


def _os_schedule(accel: AccelConfig, s: GemmShape, dtypes: np.ndarray | None,
                 uniform: int) -> tuple[int, int]:
    """``(cycle of the last beat, cycles until then the PEs spend on beats)`` of an
    output-stationary GEMM, beat by beat as the controller issues them (see
    :mod:`mpgemm.hw.array.accel`)."""
    pe = accel.pe
    spacing = accel.last_beat_spacing
    lanes = accel.array.lanes
    lens = [s.chunk_beats] * (s.chunks - 1) + [s.k_beats - (s.chunks - 1) * s.chunk_beats]
    blocks = s.m_tiles * s.n_tiles
    if dtypes is None:
        # Every beat takes `uniform` cycles, and full groups never wait for the dequantizer
        # (the PE configs require a group to outlast its dequantization): each block's
        # chunks end max(beats * cycles, spacing) after the previous chunk's last beat.
        per_block = [max(b * uniform, spacing) for b in lens]
        last = 1 + (lens[0] - 1) * uniform + blocks * sum(per_block) - per_block[0]
        # (The last beat's own cycles overlap the trip through the array.)
        return last, blocks * s.k_beats * uniform - uniform + 1
    bpg = pe.beats_per_group or s.k_beats
    busy = pe.golden.dequant_busy_cycles(pe)
    n_groups = s.k // (pe.group_size or s.k)
    t, dq_free, prev_last, busy_cycles = 1, 0, None, 0
    for _ in range(s.m_tiles):
        for nt in range(s.n_tiles):
            intervals = _group_intervals(accel, dtypes, nt, n_groups)
            k0 = 0
            for length in lens:
                for g0 in range(k0, k0 + length, bpg):
                    beats = min(bpg, k0 + length - g0)
                    step = int(intervals[g0 * lanes // (pe.group_size or s.k)])
                    busy_cycles += beats * step
                    t += (beats - 1) * step          # the group's last beat
                    if g0 + beats == k0 + length:   # ... which is the chunk's last beat
                        if prev_last is not None:
                            t = max(t, prev_last + spacing)
                        prev_last = t
                    nxt = max(t + step, dq_free)
                    dq_free = nxt + busy
                    t = nxt
                k0 += length
    assert prev_last is not None
    return prev_last, busy_cycles - step + 1


def gemm_cycles(accel: AccelConfig, m: int, n: int, k: int, *,
                dtypes: "np.ndarray | str | None" = None) -> ArrayCycles:
    """The cycles ``accel`` takes for ``Y[M, N] = A[M, K] x W[K, N]``.

    ``dtypes``: the weights' data type where the PE has several (bit-serial PEs take one cycle
    per term): a format name for every group, or the per-group indices into the PE's
    ``weight_formats`` (``[K / group_size, N]``, as in :class:`QuantizedWeights`); default:
    the PE's first format.
    """
    if not isinstance(accel, AccelConfig):
        raise TypeError(f"accel must be an AccelConfig, not {type(accel).__name__}")
    s = accel.shape(m, n, k)
    arr = accel.array
    R, C, L = arr.rows, arr.cols, arr.pe_latency
    if arr.dataflow == "os":
        d, uniform = _dtype_matrix(accel, m, n, k, dtypes)
        last, busy = _os_schedule(accel, s, d, uniform)
        tail = R + C + L + 1
        total = last + tail
        return ArrayCycles(total=total, compute_slots=busy, idle_slots=total - tail - busy,
                           fill_drain=tail, tiles=s.m_tiles * s.n_tiles * s.chunks)
    tiles = s.n_tiles * s.chunks
    period = max(m, C, (R - 1) * L + 1)
    total = (tiles - 1) * period + m + R * L + C + 2
    compute = tiles * m
    return ArrayCycles(total=total, compute_slots=compute,
                       idle_slots=(tiles - 1) * (period - m), fill_drain=R * L + C + 2,
                       tiles=tiles)


@dataclass(frozen=True)
class StreamCycles:
    """Cycles of a sequence of GEMMs, host transfers included (:func:`stream_cycles`).

    ``total``: from the first word the host loads to the last output word it takes.
    ``starts``, ``finishes``, ``drained``: per GEMM, the cycle its ``start`` is taken, the
    cycle its last output is written, and the cycle its last output word is taken (the first
    load is cycle 1). ``compute``: the sum of the GEMMs' :func:`gemm_cycles`.
    """

    total: int
    compute: int
    starts: tuple[int, ...]
    finishes: tuple[int, ...]
    drained: tuple[int, ...]

    @property
    def compute_fraction(self) -> float:
        """Share of the sequence's cycles the array computes in."""
        return self.compute / self.total


def stream_cycles(accel: AccelConfig, gemms: "Sequence[tuple[int, int, int]]", *,
                  dtypes: "Sequence[np.ndarray | str | None] | None" = None) -> StreamCycles:
    """Cycles of the GEMMs ``gemms`` (``(M, N, K)`` each) run one after the other by a host
    that never stalls: it loads each GEMM's A and W words a word per cycle on both streams
    at once (``L`` cycles, the longer of the two), raises ``start`` the cycle after the last
    word and holds it until it is taken, and takes an output word whenever one is offered.

    The cycles (as the RTL of :mod:`mpgemm.hw.array.accel` counts them), with ``C`` a GEMM's
    :func:`gemm_cycles` and ``Y`` its output words: ``start`` taken in cycle ``s``, last
    output written in ``f = s + C``, draining from ``d`` (``f``, or when the previous GEMM's
    drain ends), last word taken in ``e = d + Y + 1``.

    * one bank: the host loads once the previous GEMM has drained:
      ``s_i = e_(i-1) + L_i + 1``;
    * two banks: the host loads the next GEMM's bank once the previous ``start`` is taken,
      and a ``start`` is taken once the previous GEMM has finished and its drain has begun:
      ``s_i = max(s_(i-1) + L_i, d_(i-1)) + 1``, ``d_i = max(f_i, e_(i-1))``.
    """
    if not isinstance(accel, AccelConfig):
        raise TypeError(f"accel must be an AccelConfig, not {type(accel).__name__}")
    if isinstance(gemms, (str, bytes)) or not hasattr(gemms, "__len__") or not len(gemms):
        raise ValueError(f"gemms must be a non-empty list of (M, N, K), not {gemms!r}")
    if dtypes is not None and len(dtypes) != len(gemms):
        raise ValueError(f"dtypes must give one entry per GEMM ({len(gemms)}), "
                         f"not {len(dtypes)}")
    starts: list[int] = []
    finishes: list[int] = []
    drained: list[int] = []
    drain_from = 0
    compute = 0
    for i, g in enumerate(gemms):
        if not isinstance(g, (tuple, list)) or len(g) != 3:
            raise ValueError(f"gemms[{i}] must be (M, N, K), not {g!r}")
        m, n, k = g
        c = gemm_cycles(accel, m, n, k, dtypes=None if dtypes is None else dtypes[i]).total
        words = accel.words(m, n, k)
        load, out = max(words["a"], words["w"]), words["o"]
        if not starts:
            s = load + 1
        elif accel.double_buffer:
            s = max(starts[-1] + load, drain_from) + 1
        else:
            s = drained[-1] + load + 1
        f = s + c
        drain_from = max(f, drained[-1]) if drained else f
        starts.append(s)
        finishes.append(f)
        drained.append(drain_from + out + 1)
        compute += c
    return StreamCycles(total=drained[-1], compute=compute, starts=tuple(starts),
                        finishes=tuple(finishes), drained=tuple(drained))
