"""Stimulus for PE verification: random and corner-case beats, and random GEMM operands, of
any registered family.

Each family registers a :class:`~.base.FamilyStimulus` (:mod:`mpgemm.pe_designs.registry`);
these functions find it from the config, so the amaranth.sim tests, the cocotb testbench and
the conformance suite all drive the same transactions and compare with the same golden model
(:func:`mpgemm.sim.golden.contract.run_contract`). Port encodings come from the config's port
description (:func:`~mpgemm.sim.golden.contract.encode_beat`). Pure numpy, no Amaranth.
"""

from typing import Any

import numpy as np

from mpgemm.pe_designs.registry import family_of
from mpgemm.sim.golden.contract import Beat, PEConfig, QuantizedWeights, decode_psum, encode_beat

from .base import FP16_SPECIALS, FP32_SPECIALS, FamilyStimulus, count_valid

__all__ = [
    "random_beats", "corner_beats", "random_gemm", "w_reset", "encode_beat", "decode_psum",
    "count_valid", "stimulus_of", "FamilyStimulus", "FP16_SPECIALS", "FP32_SPECIALS",
]


def stimulus_of(config: PEConfig) -> FamilyStimulus[Any]:
    """The stimulus generator registered for ``config``'s family."""
    stimulus = family_of(config).load("stimulus")
    if not isinstance(stimulus, FamilyStimulus):
        raise TypeError(f"the {config.kind} family's stimulus must be a FamilyStimulus, "
                        f"not {stimulus!r}")
    return stimulus


def random_beats(config: PEConfig, rng: np.random.Generator, n_valid: int) -> list[Beat]:
    """At least ``n_valid`` valid beats of random accumulations (see the family's generator)."""
    return stimulus_of(config).random_beats(config, rng, n_valid)


def random_gemm(config: PEConfig, rng: np.random.Generator, m: int, k: int, n: int, *,
                extreme: bool = False) -> tuple[np.ndarray, QuantizedWeights]:
    """Random operands ``(A[m, k], W[k, n])`` of a whole GEMM of ``config``'s PE (see the
    family's generator and :class:`~.base.RandomGemm`)."""
    return stimulus_of(config).random_gemm(config, rng, m, k, n, extreme=extreme)


def corner_beats(config: PEConfig) -> list[Beat]:
    """The family's deterministic corner cases."""
    return stimulus_of(config).corner_beats(config)


def w_reset(config: PEConfig) -> Any:
    """The weight register's reset value in golden-model form."""
    return config.golden.w_reset(config)
