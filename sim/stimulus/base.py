"""What every family's stimulus shares: special FP values, random FP patterns and GEMM
operands, the :class:`FamilyStimulus` record a family registers, and a count of valid beats."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from mpgemm.sim.golden.contract import Beat, ConfigT, PEConfig, QuantizedWeights
from mpgemm.sim.golden.formats import get_weight_format, int_range

__all__ = [
    "FamilyStimulus", "RandomGemm", "FP16_SPECIALS", "FP32_SPECIALS", "fp16_random", "idle_flags",
    "fp32_random", "count_valid", "fp_matrix", "int_matrix", "weight_codes", "fp16_scales",
    "grouped_weights",
]

_Config_contra = TypeVar("_Config_contra", bound=PEConfig, contravariant=True)


class RandomGemm(Protocol[_Config_contra]):
    """``random_gemm(config, rng, m, k, n, *, extreme=False) -> (A, W)``: random operands of
    a whole GEMM that ``config``'s PE computes (:func:`mpgemm.sim.golden.contract.gemm`).

    ``A[m, k]``: activations (integers, or FP bit patterns; finite where the PE takes finite
    values only). ``W``: :class:`QuantizedWeights` ``[k, n]`` with valid codes of their
    group's data type and every per-group field the family needs. ``k`` must be a multiple of
    the config's group size (if any) and of the weights per beat (``tile_shape[2]``).
    ``extreme`` mixes in operand extremes (largest magnitudes, subnormals, the format's corner
    codes and scales).
    """

    def __call__(self, config: _Config_contra, rng: np.random.Generator, m: int, k: int, n: int,
                 *, extreme: bool = False) -> tuple[np.ndarray, QuantizedWeights]: ...


@dataclass(frozen=True)
class FamilyStimulus(Generic[ConfigT]):
    """A family's stimulus generator, as the registry names it (``Family.stimulus``).

    ``random_beats(config, rng, n_valid)``: at least ``n_valid`` valid beats of random
    accumulations with idle cycles, fed as the family's timing allows, logged by the caller's
    seed. ``corner_beats(config)``: the deterministic corner cases (operand extremes, zeros,
    specials, wrap-around, maximum group size). Both end with the PE idle, so stimuli can be
    concatenated. ``random_gemm(config, rng, m, k, n, *, extreme=False)``: random operands
    ``(A, W)`` of a whole GEMM (:class:`RandomGemm`), which the golden model turns into beats
    (``config.golden.gemm_beats``). ``ConfigT`` is the family's config class.
    """

    random_beats: Callable[[ConfigT, np.random.Generator, int], list[Beat]]
    corner_beats: Callable[[ConfigT], list[Beat]]
    random_gemm: RandomGemm[ConfigT]


FP16_SPECIALS = [
    0x0000, 0x8000,  # +-0
    0x0001, 0x8001, 0x03FF, 0x83FF,  # smallest and largest subnormals
    0x0400, 0x8400,  # smallest normals
    0x3C00, 0xBC00, 0x3C01, 0x3BFF,  # 1, -1, 1 + ulp, 1 - ulp/2
    0x7BFF, 0xFBFF,  # +-65504 (max finite)
    0x7800, 0xF800,  # +-32768: the exponent below infinity's, with infinity's zero fraction
    0x7C00, 0xFC00,  # +-inf
    0x7E00, 0x7C01, 0xFFFF,  # NaNs (quiet, signalling, negative)
]
FP32_SPECIALS = [
    0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007FFFFF, 0x00800000, 0x3F800000,
    0xBF800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001,
    0x4F800000, 0xCF800000,  # +-2^32, the magnitude of the largest FP16 x FP16 product
]


def idle_flags(rng: np.random.Generator) -> dict[str, bool]:
    """Junk control bits for an idle cycle: ``first``, ``last`` and ``group_end`` without
    ``valid``, which the PE must ignore (a PE that ANDed them with ``valid`` the wrong way
    would otherwise pass, as no valid beat drives them in these combinations)."""
    return {flag: bool(rng.random() < 0.3) for flag in ("first", "last", "group_end")}


def fp16_random(rng: np.random.Generator, n: int) -> list[int]:
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
            # Subnormals with the leading one at a uniformly random bit: a uniform code would
            # put it at bit 9 half the time, leaving the normalisers' lower positions untried.
            top = int(rng.integers(0, 10))
            out.append((1 << top) | int(rng.integers(0, 1 << top))
                       | (int(rng.integers(0, 2)) << 15))
        else:
            out.append(int(rng.choice(FP16_SPECIALS)))
    return out


def fp32_random(rng: np.random.Generator) -> int:
    r = rng.random()
    if r < 0.4:
        return 0
    if r < 0.8:
        v = rng.uniform(-2.0, 2.0) * 2.0 ** int(rng.integers(-12, 13))
        return int(np.float32(v).view(np.uint32))
    if r < 0.9:
        return int(rng.integers(0, 1 << 32))
    return int(rng.choice(FP32_SPECIALS))


def count_valid(beats: list[Beat]) -> int:
    return sum(1 for b in beats if b.valid)


# --- GEMM operands ----------------------------------------------------------------------------

#: FP16 and BF16 corner values of GEMM operands: the smallest subnormal, a negative subnormal,
#: the smallest normal, +-the largest finite value, -0.
_FP_CORNERS = {"fp16": (0x0001, 0x83FF, 0x0400, 0x7BFF, 0xFBFF, 0x8000),
               "bf16": (0x0001, 0x807F, 0x0080, 0x7F7F, 0xFF7F, 0x8000)}


def fp_matrix(rng: np.random.Generator, shape: tuple[int, ...], fmt: str = "fp16",
              extreme: bool = False) -> np.ndarray:
    """FP16 or BF16 bit patterns (int64): values ~ N(0, 1) spread over a few octaves
    (``2^-4 .. 2^4``), 5 % zeros; with ``extreme`` also 10 % subnormals and largest finite
    values. All finite."""
    x = rng.standard_normal(shape) * 2.0 ** rng.integers(-4, 5, shape)
    x[rng.random(shape) < 0.05] = 0.0
    if fmt == "fp16":
        bits = x.astype(np.float16).view(np.uint16).astype(np.int64)
    elif fmt == "bf16":  # the top half of an FP32 (truncation: every pattern is a BF16 value)
        bits = (x.astype(np.float32).view(np.uint32) >> 16).astype(np.int64)
    else:
        raise ValueError(f"fmt must be 'fp16' or 'bf16', not {fmt!r}")
    if extreme:
        pick = rng.random(shape) < 0.1
        bits[pick] = rng.choice(_FP_CORNERS[fmt], int(pick.sum()))
    return bits


def int_matrix(rng: np.random.Generator, shape: tuple[int, ...], bits: int, signed: bool = True,
               extreme: bool = False) -> np.ndarray:
    """Uniform ``bits``-bit integers (int64); with ``extreme``, 20 % of them the range's ends,
    0 or -1 (0 and 1 for unsigned ones)."""
    lo, hi = int_range(bits, signed)
    x = rng.integers(lo, hi + 1, shape)
    if extreme:
        pick = rng.random(shape) < 0.2
        x[pick] = rng.choice([lo, hi, 0, -1 if signed else 1], int(pick.sum()))
    return x


def weight_codes(fmt: str, rng: np.random.Generator, shape: int | tuple[int, ...],
                 extreme: bool = False) -> np.ndarray:
    """Valid codes of weight format ``fmt`` (ternary never uses its reserved code 0b10): uniform,
    or with ``extreme`` only 0, all ones, the top bit alone and all but the top bit."""
    if fmt == "ternary":
        return rng.choice([0, 1, 3], shape)
    bits = get_weight_format(fmt).bits
    if extreme:
        return rng.choice(sorted({0, (1 << bits) - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1}),
                          shape)
    return rng.integers(0, 1 << bits, shape)


def fp16_scales(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """FP16 bit patterns (int64) of group scales in ``[0.005, 0.02]``, as quantizing weights of
    magnitude ~1 to a few bits gives."""
    return np.asarray(rng.uniform(0.005, 0.02, shape), np.float16).view(np.uint16).astype(np.int64)


def grouped_weights(config: Any, rng: np.random.Generator, k: int, n: int, *,
                    extreme: bool = False, dtype_cols: int = 1, nonzero_scales: bool = False,
                    specials: bool = False) -> QuantizedWeights:
    """Weights of a PE with a data type per group (``config.weight_formats``, ``group_size``,
    ``scale_bits``): per group and column a random data type (shared by each block of
    ``dtype_cols`` neighbouring columns, for a tile that takes one per beat), its valid codes
    (extreme ones in half the groups with ``extreme``), a zero point (unsigned formats), a
    special value (BitMoD formats, with ``specials``) and a scale code (non-zero with
    ``nonzero_scales``; with ``extreme`` 20 % of them the largest code)."""
    g, fmts = config.group_size, config.weight_formats
    n_groups = k // g
    n_blocks = -(-n // dtype_cols)
    dtypes = np.repeat(rng.integers(0, len(fmts), (n_groups, n_blocks)), dtype_cols,
                       axis=1)[:, :n]
    codes = np.zeros((k, n), np.int64)
    zeros = np.zeros((n_groups, n), np.int64)
    special = np.zeros((n_groups, n), np.int64)
    for gi in range(n_groups):
        for j in range(n):
            fmt = fmts[dtypes[gi, j]]
            codes[gi * g:(gi + 1) * g, j] = weight_codes(fmt, rng, g,
                                                         extreme and rng.random() < 0.5)
            if fmt.startswith("uint"):
                zeros[gi, j] = rng.integers(0, 1 << get_weight_format(fmt).bits)
            if fmt.startswith("bitmod"):
                special[gi, j] = rng.integers(0, 4)
    scales = rng.integers(1 if nonzero_scales else 0, 1 << config.scale_bits, (n_groups, n))
    if extreme:
        scales[rng.random(scales.shape) < 0.2] = (1 << config.scale_bits) - 1
    return QuantizedWeights(codes, scales=scales, zeros=zeros, dtypes=dtypes,
                            specials=special if specials else None)
