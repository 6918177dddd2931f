"""What every family's stimulus shares: special FP values, random FP patterns, the
:class:`FamilyStimulus` record a family registers, and a count of valid beats."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic

import numpy as np

from mpgemm.sim.golden.contract import Beat, ConfigT

__all__ = [
    "FamilyStimulus", "FP16_SPECIALS", "FP32_SPECIALS", "fp16_random", "fp32_random",
    "count_valid",
]


@dataclass(frozen=True)
class FamilyStimulus(Generic[ConfigT]):
    """A family's stimulus generator, as the registry names it (``Family.stimulus``).

    ``random_beats(config, rng, n_valid)``: at least ``n_valid`` valid beats of random
    accumulations with idle cycles, fed as the family's timing allows, logged by the caller's
    seed. ``corner_beats(config)``: the deterministic corner cases (operand extremes, zeros,
    specials, wrap-around, maximum group size). Both end with the PE idle, so stimuli can be
    concatenated. ``ConfigT`` is the family's config class.
    """

    random_beats: Callable[[ConfigT, np.random.Generator, int], list[Beat]]
    corner_beats: Callable[[ConfigT], list[Beat]]


FP16_SPECIALS = [
    0x0000, 0x8000,  # +-0
    0x0001, 0x8001, 0x03FF, 0x83FF,  # smallest and largest subnormals
    0x0400, 0x8400,  # smallest normals
    0x3C00, 0xBC00, 0x3C01, 0x3BFF,  # 1, -1, 1 + ulp, 1 - ulp/2
    0x7BFF, 0xFBFF,  # +-65504 (max finite)
    0x7C00, 0xFC00,  # +-inf
    0x7E00, 0x7C01, 0xFFFF,  # NaNs (quiet, signalling, negative)
]
FP32_SPECIALS = [
    0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007FFFFF, 0x00800000, 0x3F800000,
    0xBF800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001,
    0x4F800000, 0xCF800000,  # +-2^32, the magnitude of the largest FP16 x FP16 product
]


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
            out.append(int(rng.integers(0, 0x400)) | (int(rng.integers(0, 2)) << 15))
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
