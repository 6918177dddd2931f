"""What an accelerator computes, bit-exact: the PE's GEMM per accumulation, added at the edge.

An array computes every output as its PE does (:func:`.contract.gemm`), over one *chunk* of K
at a time: an output-stationary PE accumulates as much of K as its accumulator holds, a
weight-stationary column one fold of ``rows`` beats (the fold's missing beats, past the end of
K, are zeros). The array's edge then adds the chunks in order: the first chunk is written, each
later one added, as integers in the output width (two's complement, wrapping) or as FP32 (one
rounding per addition). With a single chunk this is exactly the PE's GEMM.

Only numpy is imported here; the accelerator config is read through :class:`AccelLike`.
"""

import dataclasses
from math import gcd
from typing import Any, Protocol

import numpy as np

from .contract import PEConfig, QuantizedWeights, gemm, wrap_signed
from .fp import fp32_add

__all__ = ["AccelLike", "array_gemm", "chunk_bounds", "pad_weights", "regroup"]

_GROUP_FIELDS = ("scales", "zeros", "dtypes", "specials")


class ArrayLike(Protocol):
    @property
    def rows(self) -> int: ...

    @property
    def cols(self) -> int: ...

    @property
    def dataflow(self) -> str: ...

    @property
    def lanes(self) -> int: ...


class AccelLike(Protocol):
    """What the golden model (and the host-side driver) read of an accelerator config."""

    @property
    def array(self) -> ArrayLike: ...

    @property
    def pe(self) -> PEConfig: ...

    @property
    def out_width(self) -> int: ...

    def chunk_beats(self, k_beats: int) -> int: ...

    def check_gemm(self, m: Any, n: Any, k: Any, *,
                   buffers: tuple[str, ...] = ("a", "w", "o")) -> None: ...

    def shape(self, m: int, n: int, k: int, *, checked: bool = False) -> Any: ...

    @property
    def bounds(self) -> dict[str, int]: ...


def regroup(w: QuantizedWeights, group: int, new_group: int) -> QuantizedWeights:
    """``w`` with per-group fields for groups of ``new_group`` rows (a divisor of ``group``):
    every field repeated, so the weights mean the same with the finer grouping."""
    if group % new_group:
        raise ValueError(f"new_group={new_group} must divide group={group}")
    rep = group // new_group
    fields = {f: None if getattr(w, f) is None else np.repeat(getattr(w, f), rep, axis=0)
              for f in _GROUP_FIELDS}
    return QuantizedWeights(w.codes, **fields)


def pad_weights(w: QuantizedWeights, k: int, group: int) -> QuantizedWeights:
    """``w`` with zero rows (codes and group fields) appended up to ``k`` rows (``k`` and
    ``w``'s K multiples of ``group``): the idle part of a weight-stationary fold."""
    extra = k - w.shape[0]
    if extra < 0 or extra % group:
        raise ValueError(f"cannot pad {w.shape[0]} rows to {k} in groups of {group}")
    def grow(v: np.ndarray | None, rows: int) -> np.ndarray | None:
        if v is None:
            return None
        return np.concatenate([v, np.zeros((rows, v.shape[1]), dtype=v.dtype)])
    return QuantizedWeights(grow(w.codes, extra),  # type: ignore[arg-type]
                            **{f: grow(getattr(w, f), extra // group) for f in _GROUP_FIELDS})


def chunk_bounds(accel: AccelLike, k: int) -> list[tuple[int, int]]:
    """``(k0, k1)`` of every accumulation the edge adds; ``k1`` may pass K (a weight-stationary
    fold's zero padding)."""
    lanes = accel.array.lanes
    kb = k // lanes
    cb = accel.chunk_beats(kb)
    return [(c * cb * lanes, (c + 1) * cb * lanes if accel.array.dataflow == "ws"
             else min(k, (c + 1) * cb * lanes)) for c in range(-(-kb // cb))]


def array_gemm(accel: AccelLike, a: np.ndarray, w: QuantizedWeights) -> np.ndarray:
    """``Y[M, N] = A[M, K] x W[K, N]`` bit-exact as the accelerator ``accel`` computes it:
    integers wrapped to ``accel.out_width`` bits, or FP32 bit patterns."""
    if not isinstance(w, QuantizedWeights):
        raise TypeError(f"w must be QuantizedWeights, not {type(w).__name__}")
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[1] != w.shape[0]:
        raise ValueError(f"array_gemm needs A[M, K] and W[K, N]; got A of shape {a.shape} and "
                         f"W of shape {w.shape}")
    m, k = a.shape
    accel.check_gemm(m, w.shape[1], k)
    pe = accel.pe
    bounds = chunk_bounds(accel, k)
    k_pad = bounds[-1][1]
    group = pe.group_size
    if k_pad > k:
        # The padding's operands are zeros: zero activations, zero codes and group fields.
        step = group or 1
        a = np.concatenate([a, np.zeros((m, k_pad - k), dtype=a.dtype)], axis=1)
        if (k_pad - k) % step:
            step = gcd(step, k_pad - k)
            w = regroup(w, group, step) if group else w
        w = pad_weights(w, k_pad, step)
        group = step if group else None
    sub = pe
    if group is not None:
        # Chunks may cut the PE's quantization groups: the PE applies each beat's own group
        # fields, so finer groups with repeated fields compute the same products.
        lens = [k1 - k0 for k0, k1 in bounds] + [k0 for k0, _ in bounds]
        fine = gcd(group, *lens)
        if fine != group:
            w = regroup(w, group, fine)
        if fine != pe.group_size:
            sub = dataclasses.replace(pe, group_size=fine)  # type: ignore[type-var]
    y: np.ndarray | None = None
    for k0, k1 in bounds:
        part = gemm(sub, a[:, k0:k1], _rows(w, k0, k1, sub.group_size))
        if y is None:
            y = part
        elif pe.psum_format == "int":
            y = y.astype(object) + part.astype(object)
        else:
            y = fp32_add(y, part)
    assert y is not None
    if pe.psum_format == "int":
        bits = accel.out_width
        return np.vectorize(lambda x: wrap_signed(int(x), bits), otypes=[np.int64])(y)
    return y.astype(np.uint32)


def _rows(w: QuantizedWeights, k0: int, k1: int, group: int | None) -> QuantizedWeights:
    g = group or 1
    return QuantizedWeights(w.codes[k0:k1], **{
        f: None if getattr(w, f) is None else getattr(w, f)[k0 // g:k1 // g]
        for f in _GROUP_FIELDS})
