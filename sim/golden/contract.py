"""The PE contract's beat-level semantics, once, for every family.

A stimulus is a list of :class:`Beat` (the contract inputs of one clock cycle each). Every PE
family has a golden model, an instance of a :class:`GoldenModel` subclass that its config class
names (``config.golden``): what the family computes, bit-exact, and when each result appears.
:func:`run_contract` replays a stimulus through it; :func:`encode_beat` and
:func:`decode_psum` translate between golden-model values and port bits through the config's
port descriptions (:mod:`.ports`); :func:`gemm` runs a whole GEMM as the hardware computes it,
and :func:`gemm_beats` gives the beat stream of one of its accumulations (a PE's output, a
tile's block of outputs), whose replay gives the same values.
The amaranth.sim tests, the cocotb testbenches and the arrays' end-to-end checks all compare
against these functions.

Only numpy is imported here; configs are read through the :class:`PEConfig` protocol, which
every family's config class implements.
"""

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar

import numpy as np

from .formats import FORMATS, FloatFormat, IntFormat
from .ports import PE_CONTROL, PEPorts

__all__ = [
    "PEConfig", "ConfigT", "Beat", "BeatTiming", "GoldenModel", "StepModel", "QuantizedWeights",
    "wrap_signed", "contract_beats", "check_group_rules",
    "run_contract", "check_operands", "check_gemm_operands", "expected_ready", "encode_beat",
    "decode_psum", "gemm",
    "gemm_beats",
]


class BeatTiming(NamedTuple):
    """When a beat ends and when its result appears (the contract's timing facts).

    ``cycles``: cycles from accepting a beat to accepting the next (the initiation interval).
    ``latency``: cycles from a ``last`` beat to its result on ``o_psum``.
    """

    cycles: int
    latency: int


@dataclass(frozen=True)
class Beat:
    """The contract inputs of one clock cycle."""

    a: Any
    w: Any
    psum: Any = 0
    valid: bool = False
    load_w: bool = False
    first: bool = False
    last: bool = False
    group_end: bool = False


def wrap_signed(x: int, bits: int) -> int:
    """Two's complement wrap-around of ``x`` to ``bits`` bits, as a register of that width does."""
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


class PEConfig(Protocol):
    """What every PE family's config provides (the family protocol).

    A config is a frozen, validated dataclass; the RTL generator, the golden model and the cost
    model all read it. Its timing facts have one set of names: :meth:`timing` for a weight data
    type (or the worst case over them), ``macs_per_beat`` and ``cycles_per_mac``; its ports are
    one pure-data description (``ports``).
    """

    #: The family's name in config files and the manifest.
    kind: ClassVar[str]
    #: The family's golden model.
    golden: ClassVar["GoldenModel[Any]"]
    #: Whether the PE's partial sums are FP32 sums, from zero, of exact products of FP16
    #: numbers (multiples of 2^-48: never FP32 subnormals), which the adders that add them
    #: may rely on.
    fp16_product_psums: ClassVar[bool]

    @property
    def ports(self) -> PEPorts:
        """The contract's operand ports (:mod:`.ports`)."""

    @property
    def act_format(self) -> str:
        """The activation number format the PE computes in."""

    @property
    def weight_formats(self) -> tuple[str, ...]:
        """The weight data types the PE computes (the first is its default)."""

    @property
    def group_size(self) -> int | None:
        """Weights per quantization group along K (None: the PE applies no group scales)."""

    @property
    def beats_per_group(self) -> int | None:
        """Beats of one quantization group for PEs that accumulate groups in hardware (the
        contract's group rules apply); None for PEs without a group accumulator."""

    @property
    def macs_per_beat(self) -> int:
        """Multiply-accumulates one beat performs."""

    @property
    def cycles_per_mac(self) -> float:
        """Worst-case cycles per multiply-accumulate in steady state."""

    @property
    def tile_shape(self) -> tuple[int, int, int]:
        """``(rows, cols, k)`` of one beat: it advances the accumulations of ``rows x cols``
        outputs together (``rows`` rows of A times ``cols`` columns of W), each by ``k``
        consecutive products along K. A PE is ``(1, 1, macs_per_beat)``: its result is one
        output; a tile's result (and ``i_psum``) is its ``rows * cols`` outputs, row-major."""

    @property
    def psum_format(self) -> str:
        """``"fp32"`` (``o_psum`` is an FP32 bit pattern) or ``"int"`` (a two's complement
        integer of the psum port's width)."""

    @property
    def k_limit(self) -> int | None:
        """Most products one accumulation holds without wrapping (None: FP32, no limit)."""

    @property
    def dataflows(self) -> tuple[str, ...]:
        """The array dataflows the PE is built into (``"os"``, ``"ws"``)."""

    @property
    def organisations(self) -> tuple[str, ...]:
        """Array organisations the PE is built into (``"standalone"``, ``"shared"``)."""

    @property
    def shared_unavailable(self) -> str | None:
        """Why this config has no ``"shared"`` organisation although its family has one (the
        parameter, its value and what is allowed), or None."""

    @property
    def shared_ports(self) -> PEPorts | None:
        """Ports of the grid PE of a ``"shared"`` array (None without one)."""

    @property
    def shared_head_cycles(self) -> int:
        """Register stages of a ``"shared"`` array's column heads (0 without them)."""

    @property
    def shared_latency(self) -> int:
        """Worst-case cycles from a beat reaching a ``"shared"`` array's column to its result."""

    @property
    def shared_unit_rows(self) -> int | None:
        """Rows one foot-of-column unit of a ``"shared"`` array serves (None: no such units)."""

    @property
    def shared_unit_waits(self) -> tuple[int, ...]:
        """Per weight format, cycles a foot-of-column unit holds a result before the PE would
        give it (() without such units)."""

    @property
    def shared_unit_stages(self) -> int:
        """Register stages of a foot-of-column unit before its row accumulator (0 without)."""

    def timing(self, weight_format: str | int | None = None) -> BeatTiming:
        """The beat timing of one weight data type (a name or an index into
        ``weight_formats``), or the worst case over them (None)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """``kind`` and every field, as plain data (config files, the manifest)."""
        ...

    def __hash__(self) -> int:
        """Configs are frozen dataclasses: equal configs hash alike (the cost model caches
        per config)."""
        ...


#: The config type a golden model reads: :class:`PEConfig`, or a family's narrower protocol.
ConfigT = TypeVar("ConfigT", bound=PEConfig)


def contract_beats(beats: Sequence[Beat], w_reset: Any) -> Iterator[tuple[int, Beat, Any]]:
    """``(cycle, beat, w)`` for every valid beat, ``w`` being the weight operand it computes
    with: ``i_w`` when ``load_w`` is set, else the weight register, which ``load_w`` loads
    with or without ``valid`` (from ``w_reset`` after reset)."""
    w_reg = w_reset
    for t, b in enumerate(beats):
        w = b.w if b.load_w else w_reg
        if b.load_w:
            w_reg = b.w
        if b.valid:
            yield t, b, w


def check_group_rules(config: PEConfig, t: int, beat: Beat, beats_in_group: int) -> None:
    """The contract's rules for PEs that accumulate quantization groups in hardware: ``first``
    only on a group's first beat, ``last`` only with ``group_end`` (an output accumulates whole
    groups), and at most ``config.beats_per_group`` beats per group (the group accumulators are
    sized for that many). ``beats_in_group`` counts the group's beats before this one."""
    limit = config.beats_per_group
    if limit is None:
        raise TypeError(f"the {config.kind} PE has no group accumulator: the group rules do not "
                        f"apply to it")
    if beat.first and beats_in_group:
        raise ValueError(f"beat at cycle {t}: `first` must be on a group's first beat")
    if beat.last and not beat.group_end:
        raise ValueError(f"beat at cycle {t}: `last` must come with `group_end` "
                         f"(an output accumulates whole groups)")
    if beats_in_group >= limit:
        raise ValueError(f"beat at cycle {t} is beat {beats_in_group + 1} of its group, more "
                         f"than group_size={config.group_size} allows "
                         f"({limit} beats): close the group with `group_end`")


@dataclass(frozen=True, eq=False)
class QuantizedWeights:
    """A weight matrix ``W[K, N]`` as the PEs take it: codes and per-group fields.

    ``codes[K, N]``: integer weights (integer MAC), FP16 bit patterns (FP16 MAC), or codes of a
    quantized format. The per-group fields are ``[K / group_size, N]`` arrays, None where the
    family has no such field: ``scales`` (integer codes or FP16 bit patterns), ``zeros`` (zero
    points of unsigned formats), ``dtypes`` (index into the config's ``weight_formats``, for
    families with a per-group data type) and ``specials`` (BitMoD's special-value selector).
    """

    codes: np.ndarray
    scales: np.ndarray | None = None
    zeros: np.ndarray | None = None
    dtypes: np.ndarray | None = None
    specials: np.ndarray | None = None

    def __post_init__(self):
        codes = np.asarray(self.codes)
        if codes.ndim != 2:
            raise ValueError(f"codes must be a [K, N] array, not shape {codes.shape}")
        object.__setattr__(self, "codes", codes)
        for name in ("scales", "zeros", "dtypes", "specials"):
            v = getattr(self, name)
            if v is not None:
                v = np.asarray(v)
                if v.ndim != 2 or v.shape[1] != codes.shape[1] or \
                        v.shape[0] == 0 or codes.shape[0] % v.shape[0]:
                    raise ValueError(f"{name} must be a [K / group_size, N] array for codes of "
                                     f"shape {codes.shape}, not shape {v.shape}")
                object.__setattr__(self, name, v)

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape

    def group_field(self, name: str, group_size: int) -> np.ndarray | None:
        """A per-group field checked against ``group_size`` (None if absent)."""
        v = getattr(self, name)
        if v is not None and v.shape[0] * group_size != self.codes.shape[0]:
            raise ValueError(f"{name} has {v.shape[0]} groups, but K={self.codes.shape[0]} "
                             f"with group_size={group_size} needs "
                             f"{self.codes.shape[0] // group_size}")
        return v

    def group_value(self, name: str, k: int, n: int) -> int:
        """The per-group field ``name`` of weight ``(k, n)``: the entry of the group holding
        row ``k`` in column ``n`` (0 where the field is absent)."""
        v = getattr(self, name)
        if v is None:
            return 0
        return int(v[k // (self.codes.shape[0] // v.shape[0]), n])

    def columns(self, cols: Sequence[int]) -> "QuantizedWeights":
        """The weights of columns ``cols`` of W (indices, in that order) with their groups'
        fields: W for some of the outputs."""
        idx = np.asarray(cols, dtype=np.int64)
        fields = {name: None if getattr(self, name) is None else getattr(self, name)[:, idx]
                  for name in ("scales", "zeros", "dtypes", "specials")}
        return QuantizedWeights(self.codes[:, idx], **fields)


class GoldenModel(ABC, Generic[ConfigT]):
    """What one PE family computes, bit-exact, at the level of the PE contract.

    One instance per family; the family's config class names it (``config.golden``). ``ConfigT``
    is the config type its methods read: a family's model is a ``GoldenModel[P]`` for a protocol
    ``P`` that extends :class:`PEConfig` with the fields it reads (this layer never imports the
    config classes).
    """

    #: Whether the family's :meth:`gemm` checks its operands itself (with messages about what
    #: they mean); if not, :func:`gemm` checks them first with :func:`check_gemm_operands`.
    checks_gemm_operands: ClassVar[bool] = False

    def weight_code_range(self, config: ConfigT, format_name: str) -> tuple[int, int] | None:
        """The codes ``QuantizedWeights.codes`` may hold for weights of ``format_name``, which
        :func:`check_gemm_operands` enforces; None (the default): not range-checked there."""
        return None

    @abstractmethod
    def w_reset(self, config: ConfigT) -> Any:
        """The weight register's reset value (all-zero fields) in golden-model form."""

    @abstractmethod
    def run(self, config: ConfigT, beats: Sequence[Beat], *, w_reset: Any,
            not_ready: list[int] | None = None) -> list[tuple[int, Any]]:
        """``(cycle, value)`` of every result of ``beats`` (one per cycle, from reset); the
        cycles in which ``o_ready`` is low are appended to ``not_ready`` when it is given.
        Beats offered faster than the PE takes them, and operands the PE cannot mean, are
        rejected with a ValueError naming the cycle."""

    @abstractmethod
    def gemm(self, config: ConfigT, a: np.ndarray, w: QuantizedWeights) -> np.ndarray:
        """``Y[M, N] = A[M, K] x W[K, N]`` bit-exact as the PE computes each output (one
        accumulation over K): wrapped integers, or FP32 bit patterns."""

    def weight_format(self, config: ConfigT, w: Any) -> str:
        """The weight data type a beat with weight operand ``w`` computes in."""
        return config.weight_formats[0]

    def weight_fields(self, config: ConfigT, w: Any) -> Any:
        """``w`` in the shape of the config's weight port description (for packing)."""
        return w

    def psum_fields(self, config: ConfigT, psum: Any) -> Any:
        """``psum`` in the shape of the config's partial-sum port description."""
        return psum

    # --- a GEMM as the PE's beat stream (what :func:`gemm` computes, beat by beat) -------------

    def dequant_busy_cycles(self, config: ConfigT) -> int:
        """Cycles a group's dequantization keeps the PE's dequantizer busy, counted from the
        group's last cycle (the last cycle of its ``group_end`` beat). That last cycle waits
        (``o_ready`` low) until the previous group's dequantization is over. 0 (the default):
        the PE never waits for its dequantizer."""
        return 0

    def idle_beat(self, config: ConfigT) -> Beat:
        """A cycle without a beat: all-zero activations and the reset weight, neither valid nor
        loaded, so the PE ignores it."""
        return Beat(a=config.ports.act.unpack(0), w=self.w_reset(config))

    def schedule(self, config: ConfigT, valid: Sequence[Beat]) -> list[Beat]:
        """One Beat per cycle: the ``valid`` beats in order, each in the first cycle the PE
        takes it (``config.timing(fmt).cycles`` after the previous one, later while a
        ``group_end`` beat waits for the dequantizer, :meth:`dequant_busy_cycles`), idle
        cycles between them, and idle cycles at the end until the last dequantization is over.
        The PE is assumed idle at the start and is idle again at the end, so schedules can be
        concatenated."""
        idle = self.idle_beat(config)
        busy = self.dequant_busy_cycles(config)
        out: list[Beat] = []
        w_reg = self.w_reset(config)
        dq_free = 0
        for b in valid:
            if not b.valid:
                raise ValueError("schedule() takes valid beats only; it adds the idle cycles")
            t = len(out)
            w = b.w if b.load_w else w_reg
            if b.load_w:
                w_reg = b.w
            out.append(b)
            ready = t + config.timing(self.weight_format(config, w)).cycles
            if b.group_end:
                ready = max(ready, dq_free)
                dq_free = ready + busy
            out.extend([idle] * (ready - t - 1))
        out.extend([idle] * (dq_free - len(out)))
        return out

    def beat_acts(self, config: ConfigT, a_rows: np.ndarray, k: slice) -> Any:
        """The activation operand of the beat that covers ``k`` (a slice of K, ``tile_shape[2]``
        long) for the rows ``a_rows[R, K]`` of A. The default is a PE's: one row, its
        activations as a tuple (one per lane)."""
        if a_rows.shape[0] != 1:
            raise ValueError(f"the {config.kind} PE computes one row of A at a time, not "
                             f"{a_rows.shape[0]}")
        return tuple(int(x) for x in a_rows[0, k])

    def beat_weight(self, config: ConfigT, w: QuantizedWeights, cols: Sequence[int],
                    k: slice) -> Any:
        """The weight operand of the beat that covers rows ``k`` of ``w`` (a slice of K,
        ``tile_shape[2]`` long) for its columns ``cols``, with the fields of their group. The
        default is a PE's whose weight operand is the codes of its lanes: one column, a tuple
        of codes."""
        (n,) = cols
        return tuple(int(c) for c in w.codes[k, n])

    def gemm_beats(self, config: ConfigT, a_rows: np.ndarray, w: QuantizedWeights,
                   cols: Sequence[int], *, psum: Any = None) -> list[Beat]:
        """The PE's beat stream for one accumulation over K: rows ``a_rows[R, K]`` of A times
        columns ``cols`` (indices into ``w``'s N) of ``W[K, N]``, from partial sum ``psum``
        (the ``i_psum`` of its first beat; default all zeros).

        ``R`` and ``len(cols)`` are at most ``config.tile_shape``'s ``rows`` and ``cols`` (1
        and 1 for a PE); a tile's missing rows are idle (zero activations), its missing columns
        idle (zero codes, scales and zero points), and a column may be repeated. K is covered
        by beats of ``tile_shape[2]`` consecutive weights each, all loading their weight
        (``load_w``), the first marked ``first``, the last ``last``, each group's last
        ``group_end``; :meth:`schedule` places them in time, with the idle cycles the PE's
        timing needs, ending with the PE idle. :func:`run_contract` of the stream gives one
        result: ``gemm(config, A, W)`` at those rows and columns (:meth:`result_tile` arranges
        it as a ``[rows, cols]`` array), so a whole GEMM is the streams of its tiles,
        concatenated or given to separate PEs.

        Families provide the operands through :meth:`beat_acts` and :meth:`beat_weight`.
        """
        if not isinstance(w, QuantizedWeights):
            raise TypeError(f"w must be QuantizedWeights, not {type(w).__name__}")
        a = np.asarray(a_rows)
        rows, n_cols, per_beat = config.tile_shape
        if a.ndim != 2 or not 1 <= a.shape[0] <= rows or a.shape[1] != w.shape[0]:
            raise ValueError(f"gemm_beats needs a_rows[R, K] with 1 <= R <= {rows} (the "
                             f"{config.kind} PE's rows) and K = W's {w.shape[0]}; got shape "
                             f"{a.shape}")
        if not 1 <= len(cols) <= n_cols or not all(0 <= n < w.shape[1] for n in cols):
            raise ValueError(f"gemm_beats needs 1 to {n_cols} columns (the {config.kind} PE's "
                             f"cols) of W's {w.shape[1]}; got {list(cols)}")
        k = a.shape[1]
        g = config.group_size or k
        if k == 0 or k % g or g % per_beat:
            raise ValueError(f"the {config.kind} PE's beats need K a positive multiple of "
                             f"group_size={config.group_size} and of {per_beat} weights per "
                             f"beat; got K={k}")
        zero = config.ports.psum.unpack(0)
        valid = [Beat(a=self.beat_acts(config, a, slice(k0, k0 + per_beat)),
                      w=self.beat_weight(config, w, cols, slice(k0, k0 + per_beat)),
                      psum=zero if psum is None or k0 else psum, valid=True, load_w=True,
                      first=k0 == 0, last=k0 + per_beat == k, group_end=(k0 + per_beat) % g == 0)
                 for k0 in range(0, k, per_beat)]
        return self.schedule(config, valid)

    def result_tile(self, config: ConfigT, value: Any) -> np.ndarray:
        """A result of the PE (a value of ``o_psum``) as the ``[rows, cols]`` object array of
        the outputs it holds (``config.tile_shape``): a PE's value is one output, a tile's
        ``rows * cols`` outputs row-major."""
        rows, cols, _ = config.tile_shape
        out = np.empty(rows * cols, dtype=object)
        out[:] = [value] if rows * cols == 1 else list(value)
        return out.reshape(rows, cols)


class StepModel(GoldenModel[ConfigT]):
    """A family whose beat is one arithmetic step: ``acc = step(config, base, a, w)``.

    ``base`` is ``i_psum`` on a ``first`` beat and the accumulator otherwise; a ``last`` beat's
    accumulator appears ``config.timing(fmt).latency`` cycles later. ``weight(config, w, n, k)``
    is the weight operand of the beat covering rows ``k`` (a slice) of column ``n`` of
    :class:`QuantizedWeights` ``w`` (:meth:`GoldenModel.beat_weight`); without it, a tuple of
    the codes.
    """

    def __init__(self, step: Callable[[ConfigT, Any, Any, Any], Any],
                 gemm: Callable[[ConfigT, np.ndarray, QuantizedWeights], np.ndarray],
                 reset: Callable[[ConfigT], Any],
                 weight: Callable[[ConfigT, QuantizedWeights, int, slice], Any] | None = None):
        self.step, self._gemm, self._reset, self._weight = step, gemm, reset, weight

    def w_reset(self, config: ConfigT) -> Any:
        return self._reset(config)

    def weight_code_range(self, config: ConfigT, format_name: str) -> tuple[int, int] | None:
        # The MAC families take weights as values: integers, or bit patterns of FP16.
        return code_range(format_name)

    def beat_weight(self, config: ConfigT, w: QuantizedWeights, cols: Sequence[int],
                    k: slice) -> Any:
        if self._weight is None:
            return super().beat_weight(config, w, cols, k)
        (n,) = cols
        return self._weight(config, w, n, k)

    def gemm(self, config: ConfigT, a: np.ndarray, w: QuantizedWeights) -> np.ndarray:
        return self._gemm(config, a, w)

    def run(self, config: ConfigT, beats: Sequence[Beat], *, w_reset: Any,
            not_ready: list[int] | None = None) -> list[tuple[int, Any]]:
        acc: Any = 0
        out: list[tuple[int, Any]] = []
        ready_at = 0
        for t, b, w in contract_beats(beats, w_reset):
            timing = config.timing(self.weight_format(config, w))
            if t < ready_at:
                raise ValueError(f"beat at cycle {t} arrives while the PE is busy until "
                                 f"{ready_at}")
            check_operands(config, t, b, w)
            ready_at = t + timing.cycles
            acc = self.step(config, b.psum if b.first else acc, b.a, w)
            if b.last:
                out.append((t + timing.latency, acc))
            if not_ready is not None:
                not_ready.extend(range(t + 1, ready_at))
        return out


def run_contract(config: PEConfig, beats: Sequence[Beat], *, w_reset: Any = None,
                 not_ready: list[int] | None = None) -> list[tuple[int, Any]]:
    """Replay ``beats`` (one per cycle, from reset) through ``config``'s golden model.

    Returns ``(cycle, value)`` for every result. ``w_reset`` is the weight register's reset
    value (default: the family's all-zero value).
    """
    model = config.golden
    reset = model.w_reset(config) if w_reset is None else w_reset
    return model.run(config, beats, w_reset=reset, not_ready=not_ready)


@functools.lru_cache(maxsize=256)
def _cached_ports(config: PEConfig) -> PEPorts:
    return config.ports


def _ports(config: PEConfig) -> PEPorts:
    """``config.ports``, built once per config (the family configs are frozen and hashable):
    the golden model packs every beat's operands through them. A config that cannot be hashed
    builds them each time."""
    try:
        return _cached_ports(config)
    except TypeError:
        return config.ports


def check_operands(config: PEConfig, t: int, beat: Beat, w: Any) -> None:
    """Reject a valid beat whose operands its ports cannot hold (a value out of its field's
    range, a wrong number of lanes, a non-integer), naming the cycle and the operand. Every
    family's golden model calls this for each valid beat, after its own, more specific checks
    of what the operands mean."""
    ports, model = _ports(config), config.golden
    operands = [("activation", ports.act, beat.a),
                ("weight", ports.weight, model.weight_fields(config, w))]
    if beat.first:
        operands.append(("partial-sum", ports.psum, model.psum_fields(config, beat.psum)))
    for name, field, value in operands:
        try:
            field.pack(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"beat at cycle {t}: the {name} operand does not fit the "
                             f"{config.kind} PE's port: {e}") from None


def expected_ready(config: PEConfig, beats: Sequence[Beat], cycles: int) -> list[int]:
    """``o_ready`` of every cycle of ``beats``, as the golden model's timing has it."""
    low: list[int] = []
    run_contract(config, beats, not_ready=low)
    ready = [1] * cycles
    for t in low:
        if t < cycles:
            ready[t] = 0
    return ready


def encode_beat(config: PEConfig, beat: Beat) -> dict[str, int]:
    """The integer each contract input port is driven with for ``beat``."""
    ports, model = _ports(config), config.golden
    return {
        "i_a": ports.act.pack(beat.a),
        "i_w": ports.weight.pack(model.weight_fields(config, beat.w)),
        "i_psum": ports.psum.pack(model.psum_fields(config, beat.psum)),
        "i_ctl": PE_CONTROL.pack(beat),
    }


def decode_psum(config: PEConfig, raw: int) -> Any:
    """``o_psum``'s bits as a golden-model value (signed integers, FP bit patterns, tuples)."""
    return _ports(config).psum.unpack(raw)


def gemm(config: PEConfig, a: np.ndarray, w: QuantizedWeights) -> np.ndarray:
    """``Y[M, N] = A[M, K] x W[K, N]`` bit-exact as ``config``'s PE computes it: activations as
    integers or FP bit patterns, weights as :class:`QuantizedWeights`."""
    if not isinstance(w, QuantizedWeights):
        raise TypeError(f"w must be QuantizedWeights, not {type(w).__name__}")
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[1] != w.shape[0]:
        raise ValueError(f"gemm needs A[M, K] and W[K, N]; got A of shape {a.shape} and W of "
                         f"shape {w.shape}")
    if not config.golden.checks_gemm_operands:
        check_gemm_operands(config, a, w)
    return config.golden.gemm(config, a, w)


def _integers(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` as an int64 array, or TypeError naming ``name`` if any is not an integer
    (floats are never truncated; bools are not numbers here)."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False) if values.size else values
    if values.dtype.kind == "O" and all(isinstance(v, (int, np.integer))
                                        and not isinstance(v, (bool, np.bool_))
                                        for v in values.flat):
        if values.size and not all(-(2**63) <= int(v) < 2**63 for v in values.flat):
            raise ValueError(f"{name} holds an integer beyond 64 bits")
        return values.astype(np.int64)
    raise TypeError(f"{name} must hold integers (floating-point formats as bit patterns), not "
                    f"{values.dtype} values")


def code_range(format_name: str) -> tuple[int, int] | None:
    """The codes a value of ``format_name`` is given as: an integer format's range, a float
    format's bit patterns; None for formats whose codes a family checks itself."""
    fmt = FORMATS.get(format_name)
    if isinstance(fmt, FloatFormat):
        return 0, (1 << fmt.bits) - 1
    if isinstance(fmt, IntFormat):
        return int(fmt.min_value), int(fmt.max_value)
    return None


def _check_range(name: str, values: np.ndarray, bounds: tuple[int, int] | None,
                 what: str) -> None:
    if bounds is None or not values.size:
        return
    lo, hi = bounds
    bad = (values < lo) | (values > hi)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}{list(index)} = {int(values[index])} is outside {what} "
                         f"[{lo}, {hi}]")


def check_gemm_operands(config: PEConfig, a: np.ndarray, w: QuantizedWeights) -> None:
    """Reject GEMM operands ``config``'s PE cannot hold, naming the operand, the first bad
    element and the allowed range: A must hold integers of the activation format (bit patterns
    for a float format), W's codes integers of its weight format (the format of each group's
    data type when the family has several), its zero points codes of that format, its data
    type indices valid, and every per-group field integers. W's codes and zero points are
    range-checked here where the family gives their range
    (:meth:`GoldenModel.weight_code_range`); the others check their own."""
    codes = _integers("W.codes", np.asarray(w.codes))
    _check_range("A", _integers("A", a), code_range(config.act_format),
                 f"the {config.act_format} activations' codes")
    for field in ("scales", "zeros", "dtypes", "specials"):
        value = getattr(w, field)
        if value is not None:
            _integers(f"W.{field}", np.asarray(value))
    formats = list(config.weight_formats)
    if w.dtypes is not None:
        dtypes = np.asarray(w.dtypes)
        _check_range("W.dtypes", dtypes, (0, len(formats) - 1),
                     f"the indices of weight_formats {formats}")
        per_row = np.repeat(dtypes, codes.shape[0] // dtypes.shape[0], axis=0)
    else:
        per_row = np.zeros(codes.shape, np.int64)
    for index, fmt in enumerate(formats):
        bounds = config.golden.weight_code_range(config, fmt)
        mask = per_row == index
        if bounds is None or not mask.any():
            continue
        _check_range("W.codes", np.where(mask, codes, bounds[0]), bounds, f"{fmt} codes")
        if w.zeros is not None and fmt.startswith("uint"):
            zeros = np.asarray(w.zeros)
            zmask = (dtypes == index) if w.dtypes is not None else np.ones(zeros.shape, bool)
            _check_range("W.zeros", np.where(zmask, zeros, 0), bounds,
                         f"zero points of {fmt} weights")


def gemm_beats(config: PEConfig, a_rows: np.ndarray, w: QuantizedWeights, cols: Sequence[int],
               *, psum: Any = None) -> list[Beat]:
    """The beat stream (one Beat per cycle) of one accumulation of ``config``'s PE: rows
    ``a_rows`` of A times columns ``cols`` of W (:meth:`GoldenModel.gemm_beats`)."""
    return config.golden.gemm_beats(config, a_rows, w, cols, psum=psum)
