"""The host side of the accelerator: operand words in, output words back.

:class:`AccelDriver` lays out ``A`` and ``W`` as the accelerator's buffers hold them (one word
per cycle of the array: ``rows`` activation beats, ``cols`` weight beats) and reads ``Y`` back
from its output words. Beat operands come from the PE family's golden model (``beat_acts``,
``beat_weight``), so every family's operands are packed one way; positions past the edge of
the GEMM (rows past M, columns past N, a weight-stationary fold's beats past K) are zeros.

Layouts (``R x C`` array, ``KB`` beats along K, ``F`` folds of ``R`` beats):

* output-stationary: A word ``mt * KB + kb`` holds beat ``kb`` of rows ``mt * R + r``;
  W word ``nt * KB + kb`` beat ``kb`` of columns ``nt * C + c``;
* weight-stationary: A word ``f * M + m`` holds beats ``f * R + r`` of row ``m``;
  W word ``(nt * F + f) * R + r`` beat ``f * R + r`` of columns ``nt * C + c``;
* both: Y word ``nt * M + m`` holds ``Y[m, nt * C + c]``.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from mpgemm.pe_designs.mac import Fp16MacConfig
from mpgemm.sim.golden.array import AccelLike
from mpgemm.sim.golden.contract import QuantizedWeights
from mpgemm.sim.golden.ports import Array, Bits, Field
from mpgemm.sim.stimulus.base import fp_matrix

__all__ = ["AccelDriver", "gemm_shapes", "sequence_shapes", "cancelling_gemm"]


def _word(field: Field, values: Sequence[Any | None]) -> int:
    """Pack ``values`` as one buffer word of consecutive ``field`` elements (None: the
    all-zero element), with the port description's own packer."""
    zero = field.unpack(0)
    return Array(field, len(values)).pack([zero if v is None else v for v in values])


class AccelDriver:
    """Word layouts of one accelerator config (see the module docstring)."""

    def __init__(self, accel: AccelLike):
        self.accel = accel
        self.pe = accel.pe
        self.model = self.pe.golden

    def shape(self, m: int, n: int, k: int, buffer: str) -> Any:
        """The GEMM's loop counts, after checking its sizes and ``buffer``'s capacity."""
        self.accel.check_gemm(m, n, k, buffers=(buffer,))
        return self.accel.shape(m, n, k, checked=True)

    def _act(self, a: np.ndarray, row: int, beat: int) -> Any:
        lanes = self.accel.array.lanes
        if row >= a.shape[0] or beat * lanes >= a.shape[1]:
            return None
        return self.model.beat_acts(self.pe, a[row:row + 1], slice(beat * lanes,
                                                                   (beat + 1) * lanes))

    def _weight(self, w: QuantizedWeights, col: int, beat: int) -> Any:
        lanes = self.accel.array.lanes
        if col >= w.shape[1] or beat * lanes >= w.shape[0]:
            return None
        value = self.model.beat_weight(self.pe, w, [col], slice(beat * lanes, (beat + 1) * lanes))
        return self.model.weight_fields(self.pe, value)

    def a_words(self, a: np.ndarray) -> list[int]:
        """The activation buffer's words for ``A[M, K]``."""
        a = np.asarray(a)
        arr = self.accel.array
        s = self.shape(a.shape[0], 1, a.shape[1], "a")
        act = self.pe.ports.act
        if arr.dataflow == "os":
            return [_word(act, [self._act(a, mt * arr.rows + r, kb) for r in range(arr.rows)])
                    for mt in range(s.m_tiles) for kb in range(s.k_beats)]
        return [_word(act, [self._act(a, m, f * arr.rows + r) for r in range(arr.rows)])
                for f in range(s.chunks) for m in range(s.m)]

    def w_words(self, w: QuantizedWeights) -> list[int]:
        """The weight buffer's words for ``W[K, N]``."""
        arr = self.accel.array
        s = self.shape(1, w.shape[1], w.shape[0], "w")
        wf = self.pe.ports.weight
        cols = range(arr.cols)
        if arr.dataflow == "os":
            return [_word(wf, [self._weight(w, nt * arr.cols + c, kb) for c in cols])
                    for nt in range(s.n_tiles) for kb in range(s.k_beats)]
        return [_word(wf, [self._weight(w, nt * arr.cols + c, f * arr.rows + r) for c in cols])
                for nt in range(s.n_tiles) for f in range(s.chunks) for r in range(arr.rows)]

    @property
    def out_field(self) -> Bits:
        if self.pe.psum_format == "int":
            return Bits(self.accel.out_width, signed=True)
        return Bits(32)

    def y_words(self, y: np.ndarray) -> list[int]:
        """The output words of ``Y[M, N]`` (what the accelerator streams out)."""
        y = np.asarray(y)
        cols = self.accel.array.cols
        n_tiles = -(-y.shape[1] // cols)
        return [_word(self.out_field, [int(y[m, nt * cols + c]) if nt * cols + c < y.shape[1]
                                       else None for c in range(cols)])
                for nt in range(n_tiles) for m in range(y.shape[0])]

    def result(self, words: Sequence[int], m: int, n: int) -> np.ndarray:
        """``Y[M, N]`` from the output words."""
        cols = self.accel.array.cols
        n_tiles = -(-n // cols)
        if len(words) != n_tiles * m:
            raise ValueError(f"expected {n_tiles * m} output words for M={m}, N={n}, "
                             f"got {len(words)}")
        word = Array(self.out_field, cols)
        y = np.zeros((m, n_tiles * cols), dtype=np.int64)
        for nt in range(n_tiles):
            for row in range(m):
                y[row, nt * cols:(nt + 1) * cols] = word.unpack(words[nt * m + row])
        return y[:, :n]


def _fits(accel: AccelLike, m: int, n: int, k: int) -> bool:
    try:
        accel.check_gemm(m, n, k)
    except ValueError:
        return False
    return True


def gemm_shapes(accel: AccelLike, rng: np.random.Generator,
                n_random: int) -> list[tuple[int, int, int]]:
    """``(M, N, K)`` shapes that exercise an accelerator: edge tiles on every loop (M, N and
    K's beats one past a multiple of the array, and of a weight-stationary fold), M = 1
    (decode), the longest K its buffers take, the smallest GEMM, then ``n_random`` random
    shapes; every shape fits the buffers (:meth:`check_gemm`)."""
    arr = accel.array
    R, C = arr.rows, arr.cols
    group = accel.pe.group_size
    step = arr.lanes if group is None else max(arr.lanes, group)
    per_step = step // arr.lanes  # beats per K step

    def largest_k(m: int, n: int, limit: int | None = None) -> int:
        lo, hi = 1, max(1, accel.bounds["k_beats"] // per_step)
        if limit is not None:
            hi = min(hi, limit)
        while lo < hi:  # the largest number of K steps that fits
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if _fits(accel, m, n, mid * step) else (lo, mid - 1)
        return lo * step

    shapes = [(R + 1, C + 1, step * (R + 1)), (1, C, largest_k(1, C)), (R, C, step),
              (1, 1, step), (2 * R - 1, 2 * C + 1, largest_k(2 * R - 1, 2 * C + 1, 3))]
    for _ in range(n_random):
        m = int(rng.integers(1, 3 * R + 1))
        n = int(rng.integers(1, 3 * C + 1))
        shapes.append((m, n, int(rng.integers(1, 4)) * step))
    out = []
    for m, n, k in shapes:
        # Shrink a shape that does not fit (small buffers) rather than drop it.
        while not _fits(accel, m, n, k) and (m > 1 or n > 1 or k > step):
            m, n, k = max(1, m // 2), max(1, n // 2), max(step, k // 2 // step * step)
        if _fits(accel, m, n, k) and (m, n, k) not in out:
            out.append((m, n, k))
    return out


def sequence_shapes(accel: AccelLike, decode: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """GEMMs to run back to back: one with many output words (half the output buffer, if the
    activation buffer takes it), two of the smallest (they finish while its words stream
    out), then ``decode`` twice (M = 1 with a long K: loading its weights takes about as long
    as computing)."""
    step = max(accel.array.lanes, accel.pe.group_size or 1)
    n = min(2 * accel.array.cols, accel.bounds["n"])
    m = max(1, accel.bounds["m"] // 2 // -(-n // accel.array.cols))  # bounds: o_depth
    while m > 1 and not _fits(accel, m, n, step):
        m //= 2
    return [(m, n, step), (1, 1, step), (1, 1, step), decode, decode]


def cancelling_gemm(accel: AccelLike, rng: np.random.Generator, column: int = 0
                    ) -> tuple[np.ndarray, QuantizedWeights] | None:
    """FP16-MAC accelerators: a GEMM whose second half of K cancels its first half, nearly:
    the same activations, the weights negated and one per column moved by a few units in the
    last place (column ``column - 1``'s, cyclically: zeros).
    Each output is then a small difference of two large partial sums, so the sums' adders
    (the PEs' accumulators, or a weight-stationary array's edge adders, which add the folds:
    K is two folds there) normalise results whose leading one lands far below their
    operands' (output ``(0, column)`` by exactly 24 binades, the most an FP32 sum can: each
    column has an edge adder of its own, so the testbench gives each column a turn). None
    for other PEs (their weights are codes: a negated code may not exist).
    The shape is ``(rows, cols, k)`` with ``k = a.shape[1]``."""
    pe = accel.pe
    if not isinstance(pe, Fp16MacConfig):
        return None
    arr = accel.array
    half = arr.lanes * (arr.rows if arr.dataflow == "ws" else 4)
    m, n = arr.rows, arr.cols
    if not _fits(accel, m, n, 2 * half):
        return None
    deep, zero = column % n, (column - 1) % n
    a_half = fp_matrix(rng, (m, half))
    w_half = fp_matrix(rng, (half, n))
    w_neg = w_half ^ 0x8000
    # In every other column one weight of the second half moves by 2^j units in the last
    # place (j random), so the cancellation's depth varies; column `zero`'s second half is
    # all zeros (a sum of +0 meets the first half's).
    for c in range(n):
        if c == zero:
            continue
        k = int(rng.integers(half))
        mag = int(w_neg[k, c]) & 0x7FFF
        step = 1 << int(rng.integers(0, 10))
        mag = mag - step if mag > step and rng.random() < 0.5 else mag + step
        if mag < 0x7C00:
            w_neg[k, c] = (int(w_neg[k, c]) & 0x8000) | mag
    w_neg[:, zero] = 0
    a = np.concatenate([a_half, a_half], axis=1)
    w = np.concatenate([w_half, w_neg], axis=0)
    if n > 1 and half >= 3:
        # Output (0, deep): the deepest cancellation an FP32 adder meets. The first half sums
        # to exactly 1, the second to -(1 - 2^-24), the largest FP32 number below 1, made
        # exactly of three FP16 products, (1 - 2^-11) + 2^-11 (1 - 2^-11) + 3 * 2^-24; the
        # result, 2^-24, is one unit of the second half's last place.
        a[0, :] = 0
        w[:, deep] = 0
        a[0, 0] = w[0, deep] = 0x3C00
        for i, (x, y) in enumerate([(0x3BFF, 0xBC00), (0x3BFF, 0x9000), (0x0003, 0xBC00)]):
            a[0, half + i], w[half + i, deep] = x, y
    return a, QuantizedWeights(w)
