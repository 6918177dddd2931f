"""The conformance suite: the same checks on every registered PE family.

Each check is parametrized over :func:`mpgemm.pe_designs.registry.families`, so a family added
with one registration is checked here without a line of family-specific test code. A family's
checks run on its default config (every config field has a default) and, where cheap, on its
presets. Family-specific behaviour (the arithmetic of a data type, a paper's corner cases) stays
in the family's own test module.
"""

import dataclasses
import typing

import pytest
from amaranth.lib import data

from mpgemm.costmodel import GemmWorkload, evaluate, pe_cost
from mpgemm.hw.contract import layout_of
from mpgemm.pe_designs.presets import PRESETS
from mpgemm.pe_designs.registry import config_from_dict, families, family_of
from mpgemm.sim.amaranth_sim import simulate_pe, simulate_trace
from mpgemm.sim.golden.contract import Beat, decode_psum, encode_beat, run_contract
from mpgemm.sim.golden.ports import Array, Bits
from mpgemm.sim.scoreboard import check_cycles
from mpgemm.sim.stimulus import corner_beats, count_valid, random_beats, w_reset

FAMILIES = sorted(families())


def _default(kind: str):
    return families()[kind].config()


def _presets(kind: str) -> list:
    return [c for c in PRESETS.values() if family_of(c).kind == kind]


def _zero(field) -> typing.Any:
    """The all-zero value of a port field, in golden-model shape."""
    return field.unpack(0)


def _idle(config) -> Beat:
    return Beat(a=_zero(config.ports.act), w=w_reset(config))


def test_every_family_has_presets_and_resolves():
    for kind, family in families().items():
        assert _presets(kind), f"family {kind} has no preset in rtl_out/"
        for what in ("component", "stimulus", "cost"):
            assert family.load(what) is not None
        assert family.config.golden is not None


# --- configs ---------------------------------------------------------------------------------

def _bad_values(field: dataclasses.Field) -> list:
    """Values of the wrong type or outside any sensible range for a config field."""
    t = field.type
    if t is bool:
        return ["yes", 2]
    if t is int:
        return ["8", 1.5, True, -(1 << 40), 1 << 40]
    if t is str:
        return ["no-such-choice", 7]
    return [("no-such-format",), "int4", ()]


@pytest.mark.parametrize("kind", FAMILIES)
def test_config_rejects_bad_fields_by_name(kind):
    """Every field of every family: a wrong type or an impossible value is a TypeError or
    ValueError whose message names the field."""
    cls = families()[kind].config
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        for bad in _bad_values(field):
            with pytest.raises((TypeError, ValueError)) as info:
                cls(**{field.name: bad})
            assert field.name in str(info.value), (field.name, bad, str(info.value))


@pytest.mark.parametrize("kind", FAMILIES)
def test_config_round_trips_through_plain_data(kind):
    for config in [_default(kind), *_presets(kind)]:
        assert config_from_dict(config.to_dict()) == config
        with pytest.raises(ValueError, match=r"unknown \w+ parameter\(s\) 'bogus'"):
            config_from_dict({**config.to_dict(), "bogus": 1})


# --- timing facts ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", FAMILIES)
def test_timing_facts_are_one_set_of_names(kind):
    for config in [_default(kind), *_presets(kind)]:
        each = [config.timing(f) for f in config.weight_formats]
        worst = config.timing()
        assert worst.cycles == max(t.cycles for t in each) >= 1
        assert worst.latency == max(t.latency for t in each) >= 1
        for i, f in enumerate(config.weight_formats):
            assert config.timing(i) == config.timing(f)
        assert config.cycles_per_mac == worst.cycles / config.macs_per_beat
        with pytest.raises(ValueError, match="is not one of this config's weight_formats"):
            config.timing("no-such-format")
        if config.beats_per_group is not None:
            assert config.beats_per_group >= 1 and config.group_size is not None


# --- ports -----------------------------------------------------------------------------------

def _random_value(field, rng):
    if isinstance(field, Bits):
        lo = -(1 << (field.width - 1)) if field.signed else 0
        hi = (1 << (field.width - 1)) if field.signed else (1 << field.width)
        return int(rng.integers(lo, hi))
    if isinstance(field, Array):
        return tuple(_random_value(field.element, rng) for _ in range(field.length))
    return {name: _random_value(f, rng) for name, f in field.fields}


@pytest.mark.parametrize("kind", FAMILIES)
def test_port_description_is_the_layout_and_the_packing(kind, rng):
    """The Amaranth layout, the packed bits and the decoded value come from one description."""
    for config in [_default(kind), *_presets(kind)]:
        ports = config.ports
        for field in (ports.act, ports.weight, ports.psum):
            layout = layout_of(field)
            width = layout.size if isinstance(layout, data.Layout) else layout.width
            assert width == field.width > 0
            value = _random_value(field, rng)
            assert field.unpack(field.pack(value)) == value
        psum = _random_value(ports.psum, rng)
        beat = Beat(a=_zero(ports.act), w=w_reset(config), psum=psum, valid=True, last=True)
        assert decode_psum(config, encode_beat(config, beat)["i_psum"]) == psum
        assert encode_beat(config, beat)["i_ctl"] == 0b01001


# --- golden model: the contract's rules ----------------------------------------------------------

def _corrupt(value):
    """``value`` with its first integer leaf made far too wide for any port field."""
    if dataclasses.is_dataclass(value):
        first = dataclasses.fields(value)[0].name
        return dataclasses.replace(value, **{first: _corrupt(getattr(value, first))})
    if isinstance(value, tuple):
        return (_corrupt(value[0]), *value[1:])
    return 1 << 40


@pytest.mark.parametrize("kind", FAMILIES)
def test_golden_rejects_bad_weight_operands(kind):
    config = _default(kind)
    beat = Beat(a=_zero(config.ports.act), w=_corrupt(w_reset(config)), valid=True, load_w=True,
                first=True, last=True, group_end=True)
    with pytest.raises(ValueError, match="cycle 0"):
        run_contract(config, [beat])


@pytest.mark.parametrize("kind", FAMILIES)
def test_golden_enforces_group_rules(kind):
    config = _default(kind)
    if config.beats_per_group is None:
        pytest.skip(f"{kind} has no group accumulator")
    gap = [_idle(config)] * (config.timing().cycles - 1)

    def beat(**ctl) -> list[Beat]:
        return [Beat(a=_zero(config.ports.act), w=w_reset(config), valid=True, load_w=True,
                     psum=_zero(config.ports.psum), **ctl), *gap]

    with pytest.raises(ValueError, match="`first` must be on a group's first beat"):
        run_contract(config, beat(first=True) + beat(first=True))
    with pytest.raises(ValueError, match="`last` must come with `group_end`"):
        run_contract(config, beat(first=True, last=True))
    n = config.beats_per_group
    whole = beat(first=True) + sum((beat() for _ in range(n - 2)), []) \
        + beat(last=True, group_end=True) if n > 1 else beat(first=True, last=True,
                                                                group_end=True)
    assert len(run_contract(config, whole)) == 1
    too_long = beat(first=True) + sum((beat() for _ in range(n - 1)), []) \
        + beat(last=True, group_end=True)
    with pytest.raises(ValueError, match=f"is beat {n + 1} of its group, more than "
                                         f"group_size={config.group_size} allows"):
        run_contract(config, too_long)


# --- RTL against the golden model ----------------------------------------------------------------

@pytest.mark.sim
@pytest.mark.parametrize("kind", FAMILIES)
def test_rtl_matches_golden(kind, rng, seed, n_vectors):
    """The default config's component in amaranth.sim, corner cases then random beats, checked
    cycle by cycle (results, o_ready, forwarding, o_psum holding)."""
    config = _default(kind)
    beats = corner_beats(config) + random_beats(config, rng, min(n_vectors, 300))
    expected = run_contract(config, beats)
    driven, observed = simulate_trace(config, beats)
    errors = check_cycles(config, driven, observed, expected, beats=beats)
    assert not errors, f"{kind} seed={seed}: " + "; ".join(errors)
    assert sum(o["o_valid"] for o in observed) == len(expected) > 0
    assert count_valid(beats) > 0


@pytest.mark.sim
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_result_latency_equals_timing(name):
    """A preset's first accumulation of its corner cases: the result appears exactly its
    timing's latency after the closing beat, and only then."""
    config = PRESETS[name]
    corner = corner_beats(config)
    end = next(t for t, b in enumerate(corner) if b.valid and b.last)
    beats = corner[:end + 1]
    w = w_reset(config)
    for b in beats:   # the weight the closing beat uses (it may reuse the weight register)
        w = b.w if b.load_w else w
    latency = config.timing(config.golden.weight_format(config, w)).latency
    if len(config.weight_formats) == 1:
        assert latency == config.timing().latency
    got = simulate_pe(config, beats, drain=4)
    assert [cycle for cycle, _ in got] == [end + latency]


# --- cost model ------------------------------------------------------------------------------

def _wider(config):
    """The config with twice the parallelism (lanes, or a tile's columns)."""
    for name in ("lanes", "cols"):
        if name in {f.name for f in dataclasses.fields(config)}:
            try:
                return dataclasses.replace(config, **{name: 2 * getattr(config, name)})
            except ValueError:
                continue
    raise AssertionError(f"no wider variant of {config!r}")


@pytest.mark.parametrize("kind", FAMILIES)
def test_cost_model_trends(kind):
    config = _default(kind)
    cost, wide = pe_cost(config), pe_cost(_wider(config))
    assert cost.area_um2 > 0 and cost.energy_per_mac_pj > 0
    assert wide.area_um2 > cost.area_um2
    assert wide.macs_per_cycle == 2 * cost.macs_per_cycle
    k = 8 * (config.group_size or config.macs_per_beat)
    report = evaluate(config, GemmWorkload(4, 8, k, act_format=config.act_format,
                                           weight_format=config.weight_formats[0],
                                           group_size=config.group_size))
    assert report.macs == 4 * 8 * k
    # Every MAC takes at least the PE's cycles per MAC.
    assert report.latency_cycles >= report.macs * config.cycles_per_mac
