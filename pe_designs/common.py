"""Parameter checks and base classes shared by every PE config.

Configs are the public boundary of the toolkit: a bad parameter is rejected here, with a message
that names the parameter, the value and what is allowed, before any hardware is built.
"""

import dataclasses
from collections.abc import Iterable
from typing import Any, ClassVar

__all__ = [
    "check_int", "check_bool", "check_choice", "check_pow2", "config_from_dict",
    "PEConfigBase", "PerFormatTiming",
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


def config_from_dict(cls, data: Any):
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


class PEConfigBase:
    kind: ClassVar[str]

    def to_dict(self) -> dict:
        """The config as plain data (``kind`` plus every field), as stored in the manifest."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @property
    def cycles_per_beat(self) -> int:
        """Initiation interval: cycles between accepted beats (1 for every baseline MAC)."""
        return 1

    @property
    def macs_per_beat(self) -> int:
        return self.lanes

    @property
    def cycles_per_mac(self) -> float:
        """Cycles one PE spends per multiply-accumulate in steady state."""
        return self.cycles_per_beat / self.macs_per_beat

    def beat_timing(self, w) -> tuple[int, int]:
        """``(cycles, latency)`` of a beat with weight operand ``w`` (the PE contract's timing).

        Families whose timing depends on the weight (a bit-serial PE with several data types)
        override this; for the others it is ``(cycles_per_beat, latency)`` for every beat.
        """
        return self.cycles_per_beat, self.latency


class PerFormatTiming:
    """Timing of PEs whose beat length depends on the weight data type (``weight_formats``).

    The family defines ``beat_cycles(fmt)`` and ``latency_for(fmt)``; the contract's worst-case
    figures and per-beat timing follow from them.
    """

    weight_formats: tuple[str, ...]

    def _check_weight_formats(self, allowed) -> None:
        """Validate ``weight_formats`` (a non-empty tuple of distinct names from ``allowed``);
        config files give lists, the frozen config keeps a (hashable) tuple."""
        formats = self.weight_formats
        if isinstance(formats, str) or not isinstance(formats, (tuple, list)) or not formats:
            raise TypeError(f"weight_formats must be a non-empty tuple of format names, "
                            f"not {formats!r}")
        object.__setattr__(self, "weight_formats", tuple(formats))
        for f in self.weight_formats:
            check_choice("weight_formats entry", f, allowed)
        if len(set(self.weight_formats)) != len(self.weight_formats):
            raise ValueError(f"weight_formats has duplicates: {self.weight_formats!r}")

    def _fmt(self, fmt: str | int) -> str:
        if isinstance(fmt, int):
            return self.weight_formats[fmt]
        if fmt not in self.weight_formats:
            raise ValueError(f"format {fmt!r} is not one of this config's weight_formats "
                             f"{self.weight_formats}")
        return fmt

    @property
    def cycles_per_weight(self) -> dict[str, int]:
        """Cycles per beat for each format."""
        return {f: self.beat_cycles(f) for f in self.weight_formats}

    @property
    def cycles_per_beat(self) -> int:
        """Worst case over the formats (the contract's scheduling bound)."""
        return max(self.cycles_per_weight.values())

    @property
    def latency(self) -> int:
        """Worst-case result latency over the formats (``latency_for`` gives each one's)."""
        return max(self.latency_for(f) for f in self.weight_formats)

    def beat_timing(self, w) -> tuple[int, int]:
        """``(cycles, latency)`` of a beat with weight operand ``w`` (its ``dtype`` decides)."""
        return self.beat_cycles(w.dtype), self.latency_for(w.dtype)
