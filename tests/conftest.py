"""Shared fixtures: a logged seed for every randomised test."""

import os
import secrets

import numpy as np
import pytest


@pytest.fixture
def seed(request) -> int:
    """A fresh random seed (or MPGEMM_SEED), printed so a failure can be replayed."""
    value = int(os.environ.get("MPGEMM_SEED", secrets.randbelow(2**31)))
    print(f"\n{request.node.nodeid}: seed={value} (replay with MPGEMM_SEED={value})")
    return value


@pytest.fixture
def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture
def n_vectors() -> int:
    """Random vectors per design per run (MPGEMM_VECTORS, default 1000)."""
    return int(os.environ.get("MPGEMM_VECTORS", "1000"))
