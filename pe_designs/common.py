"""Parameter checks shared by every PE config.

Configs are the public boundary of the toolkit: a bad parameter is rejected here, with a message
that names the parameter, the value and what is allowed, before any hardware is built.
"""

from collections.abc import Iterable
from typing import Any

__all__ = ["check_int", "check_bool", "check_choice", "check_pow2", "config_from_dict"]


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
    import dataclasses

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
