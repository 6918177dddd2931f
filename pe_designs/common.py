"""Parameter checks and base classes shared by every PE config.

Configs are the public boundary of the toolkit: a bad parameter is rejected here, with a message
that names the parameter, the value and what is allowed, before any hardware is built.
"""

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from mpgemm.sim.golden.contract import BeatTiming, GoldenModel
from mpgemm.sim.golden.ports import PEPorts

__all__ = [
    "check_int", "check_bool", "check_choice", "check_pow2", "config_from_dict",
    "check_weight_formats", "PEConfigBase",
]


def check_int(name: str, value: Any, lo: int, hi: int) -> None:
    """``value`` must be an int (not a bool) in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], not {value}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        listed = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {listed}, not {value!r}")


def check_pow2(name: str, value: int, lo: int, hi: int) -> None:
    check_int(name, value, lo, hi)
    if value & (value - 1):
        raise ValueError(f"{name} must be a power of two in [{lo}, {hi}], not {value}")


_Config = TypeVar("_Config", bound="PEConfigBase")


def config_from_dict(cls: type[_Config], data: Any) -> _Config:
    """Build a config of class ``cls`` from a mapping (a config file's contents).

    Unknown keys are rejected by name rather than silently dropped, so a typo in a config file
    cannot fall back to a default.
    """
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} config must be a mapping, not {type(data).__name__}")
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} parameter(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(fields))}"
        )
    return cls(**data)


def check_weight_formats(config: "PEConfigBase", allowed: Iterable[str]) -> None:
    """Validate ``config.weight_formats`` (a non-empty tuple of distinct names from ``allowed``);
    config files give lists, the frozen config keeps a (hashable) tuple."""
    formats = config.weight_formats
    if isinstance(formats, str) or not isinstance(formats, (tuple, list)) or not formats:
        raise TypeError(f"weight_formats must be a non-empty tuple of format names, "
                        f"not {formats!r}")
    object.__setattr__(config, "weight_formats", tuple(formats))
    for f in config.weight_formats:
        check_choice("weight_formats entry", f, allowed)
    if len(set(config.weight_formats)) != len(config.weight_formats):
        raise ValueError(f"weight_formats has duplicates: {config.weight_formats!r}")


class PEConfigBase(ABC):
    """What every family's config shares (see :class:`mpgemm.sim.golden.contract.PEConfig`).

    A family defines its ``kind``, its golden model (``golden``), ``act_format``,
    ``weight_formats``, ``group_size``, ``ports`` and ``_format_timing(fmt)``, the beat timing
    of one weight data type; :meth:`timing` and ``cycles_per_mac`` follow from them, so every
    family states each timing fact once. A family may define ``act_format``,
    ``weight_formats`` and ``group_size`` as properties or as dataclass fields; a field must
    have a default (as every field does), else the abstract property stays unimplemented.

    Subclasses are frozen dataclasses (``__dataclass_fields__`` is declared for the type
    checker, so :func:`dataclasses.asdict` and :func:`dataclasses.replace` take any config).
    """

    kind: ClassVar[str]
    golden: ClassVar[GoldenModel[Any]]
    fp16_product_psums: ClassVar[bool] = False
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    lanes: int
    #: Every family with integer partial sums has this field (see :attr:`k_limit`).
    k_max: int

    @property
    @abstractmethod
    def act_format(self) -> str:
        """The activation number format the PE computes in."""

    @property
    @abstractmethod
    def weight_formats(self) -> tuple[str, ...]:
        """The weight data types the PE computes (the first is its default)."""

    @property
    @abstractmethod
    def group_size(self) -> int | None:
        """Weights per quantization group along K (None: the PE applies no group scales)."""

    @property
    @abstractmethod
    def ports(self) -> PEPorts:
        """The contract's operand ports (:mod:`mpgemm.sim.golden.ports`)."""

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data (``kind`` plus every field), as stored in the manifest."""
        out = {"kind": self.kind, **dataclasses.asdict(self)}
        # Config files and JSON give lists; the frozen config keeps tuples.
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @abstractmethod
    def _format_timing(self, fmt: str) -> BeatTiming:
        """The beat timing of weight data type ``fmt`` (one of ``weight_formats``)."""

    def _fmt(self, fmt: str | int) -> str:
        """A weight data type given by name or by index into ``weight_formats``."""
        if isinstance(fmt, int) and not isinstance(fmt, bool):
            if not 0 <= fmt < len(self.weight_formats):
                raise ValueError(f"format index {fmt} is not an index into this config's "
                                 f"weight_formats {self.weight_formats}")
            return self.weight_formats[fmt]
        if fmt not in self.weight_formats:
            raise ValueError(f"format {fmt!r} is not one of this config's weight_formats "
                             f"{self.weight_formats}")
        return fmt

    def timing(self, weight_format: str | int | None = None) -> BeatTiming:
        """``(cycles, latency)`` of a beat of ``weight_format`` (a name or an index into
        ``weight_formats``); None gives the worst case over the formats, which a scheduler that
        does not track data types can use."""
        if weight_format is not None:
            return self._format_timing(self._fmt(weight_format))
        each = [self._format_timing(f) for f in self.weight_formats]
        return BeatTiming(max(t.cycles for t in each), max(t.latency for t in each))

    @property
    def macs_per_beat(self) -> int:
        """Multiply-accumulates one beat performs (one per lane)."""
        return self.lanes

    @property
    def tile_shape(self) -> tuple[int, int, int]:
        """``(rows, cols, k)`` of one beat: a PE's beat advances one output by
        ``macs_per_beat`` products (``(1, 1, macs_per_beat)``, the default); a tile's advances
        ``rows x cols`` outputs by ``k`` each."""
        return 1, 1, self.macs_per_beat

    @property
    def beats_per_group(self) -> int | None:
        """Beats of one quantization group for PEs that accumulate groups in hardware; None
        (the default) for PEs without a group accumulator."""
        return None

    @property
    def psum_format(self) -> str:
        """What ``o_psum`` holds: ``"fp32"`` (an FP32 bit pattern, for floating-point
        activations) or ``"int"`` (a two's complement integer of the psum port's width, exact
        up to ``k_max`` products). An array's edge adds partial results in this format."""
        return "fp32" if self.act_format in ("fp16", "bf16") else "int"

    @property
    def k_limit(self) -> int | None:
        """Most products one accumulation may hold without wrapping (``k_max`` of an integer
        PE); None for FP32 accumulators, which round instead of wrapping."""
        return self.k_max if self.psum_format == "int" else None

    @property
    def dataflows(self) -> tuple[str, ...]:
        """The array dataflows this PE is built into (:mod:`mpgemm.hw.array`): ``"os"``
        (output-stationary) and/or ``"ws"`` (weight-stationary); empty if none."""
        return ()

    @property
    def organisations(self) -> tuple[str, ...]:
        """How an array of this PE may be organised (:class:`mpgemm.hw.array.ArrayConfig`):
        ``"standalone"`` (every PE complete, the default) and, for a family whose paper shares
        its once-per-group work along the array, ``"shared"``."""
        return ("standalone",)

    @property
    def shared_unavailable(self) -> str | None:
        """Why this config lacks the ``"shared"`` organisation its family builds for other
        configs (naming the parameter, its value and what is allowed), for the array config's
        error; None when it has it or the family has none."""
        return None

    @property
    def shared_unit_rows(self) -> int | None:
        """Rows of an output-stationary column that one unit at the foot of a ``"shared"``
        array's column serves (None: the organisation has no such units)."""
        return None

    @property
    def shared_unit_waits(self) -> tuple[int, ...]:
        """Per weight format, cycles a foot-of-column unit holds a result before the PE would
        give it (() without such units)."""
        return ()

    @property
    def shared_unit_stages(self) -> int:
        """Register stages of a foot-of-column unit before its row accumulator (0 without)."""
        return 0

    @property
    def shared_head_cycles(self) -> int:
        """Register stages a ``"shared"`` array's column heads (units at the top of each
        column that prepare the weights for the grid) add before the grid; the grid PE's
        latency is :attr:`shared_latency` minus these (by default the PE's latency: the heads
        are the PE's own first stages, and results appear when the PE's would)."""
        return 0

    @property
    def shared_latency(self) -> int:
        """Worst-case cycles from a beat reaching a ``"shared"`` array's column (its heads, if
        any) to the result: the PE's own latency where the heads take stages of the PE (the
        default), more where they add registers in front of it."""
        return self.timing().latency

    @property
    def shared_ports(self) -> PEPorts | None:
        """The ports of the grid PE of a ``"shared"`` array (what the PE keeps of itself when
        its once-per-group work moves to shared units); None if the family has no such
        organisation."""
        return None

    @property
    def cycles_per_mac(self) -> float:
        """Worst-case cycles one PE spends per multiply-accumulate in steady state."""
        return self.timing().cycles / self.macs_per_beat
