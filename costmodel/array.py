"""Cycles of a whole GEMM on an accelerator: the formula the RTL's cycle counter must equal.

The schedule is the one :mod:`mpgemm.hw.array.accel` implements (its docstring has the
reasons for each term). Cycles are counted from ``start`` to the last output written, with the
first beat issued in cycle 1. With ``R x C`` PEs of result latency ``L``:

* output-stationary: every output block of ``R`` rows and ``C`` columns runs each chunk of K
  (``b`` beats, at most what the PE's accumulator holds); a chunk's last beat comes
  ``max(b, R, C)`` cycles after the previous chunk's (the first chunk's: ``b`` cycles after
  the start), then needs 2 cycles (buffer read, register) to reach the array, ``R - 1 + C - 1``
  to cross it, ``L`` for the result and one to be written:
  ``cycles = b_first + sum over the other chunks of max(b, R, C) + R + C + L + 1``;
* weight-stationary: every block of ``C`` columns runs each fold of ``R`` beats of K in
  ``P = max(M, C, (R - 1) L + 1)`` slots; the last row of A then crosses the array (``R L``,
  the column sums) and the de-skew (``C``):
  ``cycles = (blocks x folds - 1) P + M + R L + C + 2``.
"""

from dataclasses import dataclass

from mpgemm.hw.array.config import AccelConfig

__all__ = ["ArrayCycles", "gemm_cycles"]


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


def gemm_cycles(accel: AccelConfig, m: int, n: int, k: int) -> ArrayCycles:
    """The cycles ``accel`` takes for ``Y[M, N] = A[M, K] x W[K, N]``."""
    if not isinstance(accel, AccelConfig):
        raise TypeError(f"accel must be an AccelConfig, not {type(accel).__name__}")
    s = accel.shape(m, n, k)
    arr = accel.array
    R, C, L = arr.rows, arr.cols, arr.pe_latency
    if arr.dataflow == "os":
        last = s.k_beats - (s.chunks - 1) * s.chunk_beats
        blocks = s.m_tiles * s.n_tiles
        lens = [s.chunk_beats] * (s.chunks - 1) + [last]
        # Each chunk's last beat comes max(beats, R, C) cycles after the previous chunk's;
        # the first chunk's after its own beats.
        slots = blocks * sum(max(b, R, C) for b in lens) - max(lens[0], R, C) + lens[0]
        compute = blocks * s.k_beats
        tail = R + C + L + 1
        return ArrayCycles(total=slots + tail, compute_slots=compute,
                           idle_slots=slots - compute, fill_drain=tail,
                           tiles=blocks * s.chunks)
    tiles = s.n_tiles * s.chunks
    period = max(m, C, (R - 1) * L + 1)
    total = (tiles - 1) * period + m + R * L + C + 2
    compute = tiles * m
    return ArrayCycles(total=total, compute_slots=compute,
                       idle_slots=(tiles - 1) * (period - m), fill_drain=R * L + C + 2,
                       tiles=tiles)
