"""The one registry of PE families.

A family is registered once, with :func:`register_family`, as a :class:`Family`: its config
class (which names the family through its ``kind`` and carries its golden model), and where its
Amaranth component, its stimulus generator and its cost model live. Every consumer that must
treat configs of different families differently (Verilog generation, the simulators' stimulus,
the cost model, reading configs back from files and the manifest) asks this registry; nothing
else compares ``kind`` strings.

The component, stimulus and cost model are named by ``"module:attribute"`` strings and imported
on first use, as entry points are: this module (and every config) stays free of Amaranth, so
the cost model and the cocotb processes can read configs without building hardware, and the
layers above (``hw``, ``costmodel``, ``sim``) plug in without this layer importing them.
"""

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mpgemm.sim.golden.contract import PEConfig

from .bitserial import BitSerialConfig
from .common import PEConfigBase
from .common import config_from_dict as _build_config
from .lut import LutConfig
from .mac import DequantMacConfig, Fp16MacConfig, IntMacConfig
from .mixpe import MixPEConfig

__all__ = [
    "Family", "register_family", "unregister_family", "family_of", "families",
    "config_from_dict", "build_component",
]


def _resolve(ref: str) -> Any:
    """The object named by ``"package.module:attribute"``."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Family:
    """Everything the toolkit needs to know to treat one PE family like every other.

    Parameters
    ----------
    config : type
        The frozen config dataclass (a :class:`~.common.PEConfigBase`). Its ``kind`` class
        attribute names the family in config files and the manifest.
    component : str
        ``"module:Class"`` of the Amaranth component; ``Class(config)`` builds it.
    stimulus : str
        ``"module:object"`` of the family's stimulus generator (:mod:`mpgemm.sim.stimulus`).
    cost : str
        ``"module:object"`` of the family's cost model (:mod:`mpgemm.costmodel`).
    """

    config: type[PEConfigBase]
    component: str
    stimulus: str
    cost: str

    def __post_init__(self):
        if not (isinstance(self.config, type) and dataclasses.is_dataclass(self.config)):
            raise TypeError(f"Family config must be a config dataclass, not {self.config!r}")
        kind = getattr(self.config, "kind", None)
        if not isinstance(kind, str) or not kind:
            raise TypeError(f"{self.config.__name__}.kind must be a non-empty string, "
                            f"not {kind!r}")
        for name in ("component", "stimulus", "cost"):
            ref = getattr(self, name)
            module, sep, attr = ref.partition(":") if isinstance(ref, str) else ("", "", "")
            if not (sep and module and attr.isidentifier()):
                raise ValueError(f"Family {name} must be 'package.module:attribute', "
                                 f"not {ref!r}")

    @property
    def kind(self) -> str:
        return self.config.kind

    def load(self, what: str) -> Any:
        """The family's ``component``, ``stimulus`` or ``cost`` object (imported on first use)."""
        if what not in ("component", "stimulus", "cost"):
            raise ValueError(f"what must be 'component', 'stimulus' or 'cost', not {what!r}")
        return _resolve(getattr(self, what))

    def build(self, config: PEConfig) -> Any:
        """The Amaranth component of ``config``."""
        return self.load("component")(config)


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family, *, replace: bool = False) -> Family:
    """Add ``family`` to the registry (a second family of the same kind is an error unless
    ``replace``). Returns the family, so a registration can be one statement."""
    if not isinstance(family, Family):
        raise TypeError(f"family must be a Family, not {family!r}")
    if family.kind in _FAMILIES and not replace:
        raise ValueError(f"a family of kind {family.kind!r} is already registered; "
                         f"pass replace=True to replace it")
    _FAMILIES[family.kind] = family
    return family


def unregister_family(kind: str) -> None:
    """Remove the family of ``kind`` (tests that register a toy family clean up with this)."""
    if kind not in _FAMILIES:
        raise ValueError(f"no family of kind {kind!r} is registered")
    del _FAMILIES[kind]


def families() -> Mapping[str, Family]:
    """The registered families by kind, in registration order."""
    return dict(_FAMILIES)


def family_of(config: PEConfig) -> Family:
    """The family of a config object (its class must be the registered config class)."""
    kind = getattr(type(config), "kind", None)
    family = _FAMILIES.get(kind) if isinstance(kind, str) else None
    if family is None or type(config) is not family.config:
        raise TypeError(f"expected a PE config of a registered family "
                        f"({', '.join(f.config.__name__ for f in _FAMILIES.values())}), "
                        f"not {type(config).__name__}")
    return family


def build_component(config: PEConfig) -> Any:
    """The Amaranth component of ``config`` (whatever its family)."""
    return family_of(config).build(config)


def config_from_dict(data: Any) -> PEConfigBase:
    """Rebuild a config from ``to_dict()`` output (a mapping with ``kind`` and the fields)."""
    if not isinstance(data, dict):
        raise TypeError(f"config must be a mapping, not {type(data).__name__}")
    kinds = ", ".join(sorted(_FAMILIES))
    if "kind" not in data:
        raise ValueError(f"config needs a 'kind' key; allowed kinds: {kinds}")
    kind = data["kind"]
    if not isinstance(kind, str) or kind not in _FAMILIES:
        raise ValueError(f"config kind must be one of {kinds}, not {kind!r}")
    return _build_config(_FAMILIES[kind].config, {k: v for k, v in data.items() if k != "kind"})


# --- the built-in families: one registration each ----------------------------------------------

register_family(Family(
    config=IntMacConfig, component="mpgemm.pe_designs.mac.rtl:IntMacPE",
    stimulus="mpgemm.sim.stimulus.mac:INT_MAC", cost="mpgemm.costmodel.mac:INT_MAC"))
register_family(Family(
    config=Fp16MacConfig, component="mpgemm.pe_designs.mac.rtl:Fp16MacPE",
    stimulus="mpgemm.sim.stimulus.mac:FP16_MAC", cost="mpgemm.costmodel.mac:FP16_MAC"))
register_family(Family(
    config=DequantMacConfig, component="mpgemm.pe_designs.mac.rtl:DequantMacPE",
    stimulus="mpgemm.sim.stimulus.mac:DEQUANT_MAC", cost="mpgemm.costmodel.mac:DEQUANT_MAC"))
register_family(Family(
    config=BitSerialConfig, component="mpgemm.pe_designs.bitserial.rtl:BitSerialPE",
    stimulus="mpgemm.sim.stimulus.bitserial:BITSERIAL",
    cost="mpgemm.costmodel.bitserial:BITSERIAL"))
register_family(Family(
    config=LutConfig, component="mpgemm.pe_designs.lut.rtl:LutTilePE",
    stimulus="mpgemm.sim.stimulus.lut:LUT", cost="mpgemm.costmodel.lut:LUT"))
register_family(Family(
    config=MixPEConfig, component="mpgemm.pe_designs.mixpe.rtl:MixPE",
    stimulus="mpgemm.sim.stimulus.mixpe:MIXPE", cost="mpgemm.costmodel.mixpe:MIXPE"))
