"""One golden GEMM for every PE family: ``gemm(config, A, W)`` bit-exact as the PE computes it.

Generic checks, from the registry alone: every registered family's default config and each of
its presets, random operands from the family's stimulus (``random_gemm``), beat streams from
its golden model (``gemm_beats``). A family added with one registration is covered here without
a line of family-specific test code.

* ``gemm`` equals an independent replay: the beat streams of every tile of the GEMM (the
  config's ``tile_shape``: one output for a PE, ``rows x cols`` outputs for a tile, partial
  tiles included), concatenated, through ``run_contract``; each stream feeds its beats as soon
  as the PE takes them and ends with the PE idle;
* an output does not depend on which other rows and columns are computed with it;
* ``gemm`` and ``gemm_beats`` reject malformed shapes.

What a family computes (exact integer products, FP error bounds per design, its operands'
checks) is tested in its own module: tests/test_golden.py (the MACs), test_bitserial.py,
test_lut.py, test_mixpe.py.
"""

import math
from dataclasses import replace

import numpy as np
import pytest

from mpgemm.pe_designs.presets import PRESETS
from mpgemm.pe_designs.registry import families, family_of
from mpgemm.sim.golden.contract import QuantizedWeights, gemm, gemm_beats, run_contract
from mpgemm.sim.stimulus import random_gemm

KINDS = tuple(families())


def _configs() -> dict:
    """``{kind}-default`` and every preset of each registered family (a preset equal to its
    family's default only once)."""
    out = {}
    for kind, family in families().items():
        default = family.config()
        out[f"{kind}-default"] = default
        out.update({name: c for name, c in PRESETS.items()
                    if family_of(c) is family and c != default})
    return out


CONFIGS = _configs()


def _k(config, groups=2):
    """A K of ``groups`` quantization groups (of 64 weights without groups), whole beats."""
    return groups * math.lcm(config.group_size or 64, config.tile_shape[2])


def _blocks(total, size):
    return [range(s, min(s + size, total)) for s in range(0, total, size)]


def run_at_full_rate(config, stream, starts):
    """``run_contract`` of the concatenated streams starting at cycles ``starts``, checking
    that each stream starts with a valid beat and feeds every further one in the first cycle
    the PE is ready for it (``o_ready`` is low in every idle cycle between two)."""
    not_ready: list[int] = []
    results = run_contract(config, stream, not_ready=not_ready)
    busy = set(not_ready)
    for t0, t1 in zip(starts, [*starts[1:], len(stream)], strict=True):
        valid = [t for t in range(t0, t1) if stream[t].valid]
        assert valid[0] == t0, "a stream starts with its first beat"
        for prev, t in zip(valid, valid[1:], strict=False):
            assert set(range(prev + 1, t)) <= busy, f"the beat at cycle {t} is late"
    return results


def replay(config, a, w):
    """``Y`` of ``A x W`` from the PE's beat streams: one stream per tile (rows x cols blocks
    of the config's ``tile_shape``), concatenated, through ``run_contract``. Checks that each
    stream's valid beats come as soon as the PE is ready (``o_ready``) and that every tile gives
    exactly one result."""
    rows, cols, _ = config.tile_shape
    m, n = a.shape[0], w.shape[1]
    golden = config.golden
    stream, tiles, starts = [], [], []
    for rs in _blocks(m, rows):
        for cs in _blocks(n, cols):
            starts.append(len(stream))
            stream += gemm_beats(config, a[rs.start:rs.stop], w, cs)
            tiles.append((rs, cs))
    results = run_at_full_rate(config, stream, starts)
    assert len(results) == len(tiles)
    y = np.empty((m, n), dtype=object)
    for (rs, cs), (_, value) in zip(tiles, results, strict=True):
        y[rs.start:rs.stop, cs.start:cs.stop] = golden.result_tile(config, value)[
            :len(rs), :len(cs)]
    return y


@pytest.mark.parametrize("name", list(CONFIGS))
def test_gemm_equals_the_contract_replay(name, rng):
    """Partial tiles in M and N (a PE: M=2, N=3), two quantization groups along K."""
    config = CONFIGS[name]
    rows, cols, _ = config.tile_shape
    m, k, n = rows + 1, _k(config), cols + 2
    a, w = random_gemm(config, rng, m, k, n, extreme=rng.random() < 0.5)
    assert a.shape == (m, k) and w.shape == (k, n)
    y = gemm(config, a, w)
    assert y.shape == (m, n)
    want = replay(config, a, w)
    for mi, nj in np.ndindex(m, n):
        assert int(y[mi, nj]) == want[mi, nj], (mi, nj)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_gemm_does_not_depend_on_tiling(name, rng):
    """An output is the same whichever other rows and columns are computed with it (what a
    tile shares must be per row or per column: the LUT tile's INT8 tables' exponent and
    activation sums per row, its codes, zero points and scales per column)."""
    config = CONFIGS[name]
    m, n, k = 5, 6, _k(config)
    a, w = random_gemm(config, rng, m, k, n)
    y = gemm(config, a, w)
    for _ in range(3):
        rows = np.sort(rng.choice(m, int(rng.integers(1, m + 1)), replace=False))
        cols = np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False))
        sub = w.columns(cols)
        assert sub.shape == (k, len(cols))
        for field in ("scales", "zeros", "dtypes", "specials"):
            if getattr(w, field) is not None:
                assert np.array_equal(getattr(sub, field), getattr(w, field)[:, cols])
        assert np.array_equal(gemm(config, a[rows], sub), y[np.ix_(rows, cols)])


@pytest.mark.parametrize("kind", KINDS)
def test_gemm_beats_cover_k_once(kind, rng):
    """The stream of one accumulation: K / k beats, all valid ones loading their weight, one
    ``first`` (carrying ``psum``) and one ``last``, a ``group_end`` closing every group."""
    config = families()[kind].config()
    rows, cols, per_beat = config.tile_shape
    k = _k(config, groups=3)
    a, w = random_gemm(config, rng, rows, k, cols)
    width = config.ports.psum.width
    psum = config.ports.psum.unpack(int.from_bytes(rng.bytes(-(-width // 8)), "little"))
    beats = gemm_beats(config, a, w, range(cols), psum=psum)
    valid = [b for b in beats if b.valid]
    assert len(valid) == k // per_beat and all(b.load_w for b in valid)
    assert [b.first for b in valid] == [True] + [False] * (len(valid) - 1)
    assert [b.last for b in valid] == [False] * (len(valid) - 1) + [True]
    assert valid[0].psum == psum
    assert sum(b.group_end for b in valid) == k // (config.group_size or k)
    assert not any(b.load_w for b in beats if not b.valid)
    assert len(run_contract(config, beats)) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_schedule_waits_for_the_dequantizer(kind, rng):
    """One-beat groups close faster than a dequantizer of several cycles takes them: the
    schedule stalls each ``group_end`` beat just long enough, and drains at the end, so a
    second stream can follow at once."""
    config = families()[kind].config()
    rows, cols, _ = config.tile_shape
    a, w = random_gemm(config, rng, rows, _k(config), cols)
    valid = [replace(b, group_end=True)
             for b in gemm_beats(config, a, w, range(cols)) if b.valid][:12]
    valid[-1] = replace(valid[-1], last=True)
    stream = config.golden.schedule(config, valid)
    assert len(run_at_full_rate(config, stream + stream, [0, len(stream)])) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_bad_shapes_are_rejected(kind, rng):
    config = families()[kind].config()
    rows, cols, _ = config.tile_shape
    k = _k(config)
    a, w = random_gemm(config, rng, rows + 1, k, cols + 1)
    gemm(config, a, w)                                   # the unchanged operands are fine
    with pytest.raises(TypeError, match="w must be QuantizedWeights"):
        gemm(config, a, w.codes)
    with pytest.raises(ValueError, match=r"gemm needs A\[M, K\] and W\[K, N\]"):
        gemm(config, a[0], w)
    with pytest.raises(ValueError, match=r"gemm needs A\[M, K\] and W\[K, N\]"):
        gemm(config, a[:, 1:], w)
    with pytest.raises(ValueError, match=r"codes must be a \[K, N\] array"):
        QuantizedWeights(w.codes[:, 0])
    with pytest.raises(ValueError, match=r"scales must be a \[K / group_size, N\] array"):
        QuantizedWeights(w.codes, scales=np.zeros((1, w.shape[1] + 1), np.int64))
    # The beat stream of one accumulation: at most the PE's rows and columns, K whole beats.
    with pytest.raises(TypeError, match="w must be QuantizedWeights"):
        gemm_beats(config, a[:rows], w.codes, [0])
    with pytest.raises(ValueError, match=rf"a_rows\[R, K\] with 1 <= R <= {rows}"):
        gemm_beats(config, a, w, [0])
    with pytest.raises(ValueError, match=rf"a_rows\[R, K\] with 1 <= R <= {rows}"):
        gemm_beats(config, a[:rows, 1:], w, [0])
    with pytest.raises(ValueError, match=f"needs 1 to {cols} columns"):
        gemm_beats(config, a[:rows], w, range(cols + 1))
    with pytest.raises(ValueError, match=f"needs 1 to {cols} columns"):
        gemm_beats(config, a[:rows], w, [])
    with pytest.raises(ValueError, match=f"needs 1 to {cols} columns"):
        gemm_beats(config, a[:rows], w, [w.shape[1]])
    with pytest.raises(ValueError, match="need K a positive multiple"):
        gemm_beats(config, a[:rows, :0], QuantizedWeights(w.codes[:0]), [0])
