"""GEMM workloads: ``Y[M, N] = A[M, K] x W[K, N]`` with per-operand number formats.

Format names are the canonical names of :mod:`sim.golden.formats` (``"int8"``, ``"uint4"``,
``"fp16"``, ``"bf16"``, ``"fp8_e4m3"``, ``"ternary"`` ...), the one place number formats are
defined; the cost model reads widths and value ranges from there (and from BitMoD's
special-value formats) rather than keeping a table of its own.
"""

import functools
from dataclasses import dataclass
from typing import Any

from mpgemm.sim.golden import formats as _golden_formats

__all__ = ["FormatInfo", "format_info", "GemmWorkload", "llm_linear_layers", "PHASES"]

#: Width of the per-group scale stored with grouped weights (FP16, as GPTQ/AWQ and the
#: dequantize-then-MAC PE use).
GROUP_SCALE_BITS = 16

PHASES = ("prefill", "decode")


@dataclass(frozen=True)
class FormatInfo:
    """What the cost model needs to know about a number format.

    ``min_int``/``max_int`` give the value range of integer-valued formats (integers and
    ternary) and are None for floating-point formats.
    """

    name: str
    bits: int
    is_float: bool
    min_int: int | None
    max_int: int | None


def _known_names() -> list[str]:
    return [*_golden_formats.FORMATS, *_golden_formats.SPECIAL_FORMATS]


def format_info(name: str) -> FormatInfo:
    """Bit width and value range of the format called ``name``.

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        If the name is unknown (the message lists the known names).
    """
    if not isinstance(name, str):
        raise TypeError(f"format name must be a string, not {name!r}")
    return _format_info(name)


@functools.lru_cache(maxsize=256)
def _format_info(name: str) -> FormatInfo:
    fmt = _golden_formats.FORMATS.get(name) or _golden_formats.SPECIAL_FORMATS.get(name)
    if fmt is None:
        raise ValueError(f"unknown format {name!r}; allowed: {', '.join(_known_names())}")
    if fmt.is_float:
        return FormatInfo(name, int(fmt.bits), True, None, None)
    return FormatInfo(name, int(fmt.bits), False, int(fmt.min_value), int(fmt.max_value))


#: Largest size the cost model takes for a GEMM dimension, a token count, a group or a PE count
#: (2**31 - 1, far beyond any LLM's; it keeps every product of sizes exact in a float64).
MAX_SIZE = 2**31 - 1


def check_size(name: str, value: Any, maximum: int = MAX_SIZE) -> int:
    """``value`` if it is an int in [1, ``maximum``], else TypeError or ValueError naming
    ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive integer, not {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value}")
    if value > maximum:
        shown = str(value) if value < 10**20 else f"a {len(str(value))}-digit number"
        raise ValueError(f"{name} must be at most {maximum:,}, not {shown}")
    return value



def _check_format(param: str, value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{param} must be a format name string, not {value!r}")
    try:
        format_info(value)
    except ValueError:
        raise ValueError(
            f"{param}={value!r} is not a known format; allowed: {', '.join(_known_names())}"
        ) from None


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class GemmWorkload:
    """One GEMM ``Y[M, N] = A[M, K] x W[K, N]``.

    Parameters
    ----------
    M, N, K : int
        Rows of A (tokens), columns of W (output features), reduction length (input features).
    act_format, weight_format : str
        Number formats of A and W (canonical names, e.g. ``"int8"``, ``"uint4"``, ``"fp16"``).
    group_size : int or None
        Weights sharing one scale along K (GPTQ/AWQ-style groups); must divide K. None means
        per-channel or per-tensor scales, applied outside the PE.
    name : str
        Label for reports.

    Y is stored in the activation format (the next layer reads it as its A).
    """

    M: int
    N: int
    K: int
    act_format: str = "int8"
    weight_format: str = "int8"
    group_size: int | None = None
    name: str = ""

    def __post_init__(self):
        for param in ("M", "N", "K"):
            check_size(param, getattr(self, param))
        _check_format("act_format", self.act_format)
        _check_format("weight_format", self.weight_format)
        if self.group_size is not None:
            check_size("group_size", self.group_size)
            if self.K % self.group_size:
                raise ValueError(
                    f"group_size={self.group_size} must divide K={self.K} "
                    f"(every quantization group lies within one row of W)"
                )
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, not {self.name!r}")

    @property
    def macs(self) -> int:
        """Multiply-accumulates, ``M * N * K``."""
        return self.M * self.N * self.K

    @property
    def act_bits(self) -> int:
        return format_info(self.act_format).bits

    @property
    def weight_bits(self) -> int:
        return format_info(self.weight_format).bits

    @property
    def n_groups(self) -> int:
        """Scale groups in W (0 when ungrouped)."""
        return 0 if self.group_size is None else (self.K // self.group_size) * self.N

    @property
    def a_bytes(self) -> int:
        """Bytes of A, packed densely."""
        return _ceil_div(self.M * self.K * self.act_bits, 8)

    @property
    def w_bytes(self) -> int:
        """Bytes of W packed densely, plus group metadata when grouped.

        Each group stores an FP16 scale; unsigned codes (asymmetric quantization) also store a
        zero point of the code's width, signed and float codes do not.
        """
        info = format_info(self.weight_format)
        meta_bits = 0
        if self.group_size is not None:
            zero_bits = info.bits if (not info.is_float and info.min_int == 0) else 0
            meta_bits = self.n_groups * (GROUP_SCALE_BITS + zero_bits)
        return _ceil_div(self.K * self.N * info.bits + meta_bits, 8)

    @property
    def y_bytes(self) -> int:
        """Bytes of Y, stored in the activation format."""
        return _ceil_div(self.M * self.N * self.act_bits, 8)


def llm_linear_layers(
    hidden: int,
    intermediate: int,
    n_heads: int,
    n_kv_heads: int | None = None,
    *,
    tokens: int,
    phase: str = "prefill",
    batch: int = 1,
    act_format: str = "int8",
    weight_format: str = "int8",
    group_size: int | None = None,
    gated_mlp: bool = True,
) -> list[GemmWorkload]:
    """The weight GEMMs of one transformer block: QKV, O, up (and gate), down.

    Attention's activation-by-activation products (``Q K^T``, ``P V``) have no weights and are
    not included.

    Parameters
    ----------
    hidden, intermediate : int
        Model width and MLP width (LLaMA-2-7B: 4096 and 11008).
    n_heads : int
        Attention heads; must divide ``hidden``.
    n_kv_heads : int, optional
        Key/value heads for grouped-query attention (default ``n_heads``); must divide
        ``n_heads``. K and V projections are ``hidden // n_heads * n_kv_heads`` wide.
    tokens : int
        Prefill: prompt length per sequence, so ``M = batch * tokens``. Decode: the context
        length so far; each sequence adds one token per step, so ``M = batch`` and ``tokens``
        only labels the layers (it sizes attention, not the weight GEMMs).
    phase : {"prefill", "decode"}
    batch : int
        Sequences processed together.
    act_format, weight_format, group_size
        As in :class:`GemmWorkload`.
    gated_mlp : bool
        SwiGLU-style MLP with separate up and gate projections (LLaMA); False for a single up
        projection.

    Returns
    -------
    list of GemmWorkload
        In execution order, named ``"{phase}.qkv"``, ``"{phase}.o"``, ``"{phase}.up"``,
        ``"{phase}.gate"`` (if gated), ``"{phase}.down"``.
    """
    for param, value in (("hidden", hidden), ("intermediate", intermediate),
                         ("n_heads", n_heads), ("tokens", tokens), ("batch", batch)):
        check_size(param, value)
    if n_kv_heads is None:
        n_kv_heads = n_heads
    check_size("n_kv_heads", n_kv_heads)
    if hidden % n_heads:
        raise ValueError(f"n_heads={n_heads} must divide hidden={hidden}")
    if n_heads % n_kv_heads:
        raise ValueError(f"n_kv_heads={n_kv_heads} must divide n_heads={n_heads}")
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(map(repr, PHASES))}, not {phase!r}")
    if not isinstance(gated_mlp, bool):
        raise TypeError(f"gated_mlp must be a bool, not {gated_mlp!r}")

    m = batch * tokens if phase == "prefill" else batch
    kv_dim = hidden // n_heads * n_kv_heads
    shapes = [("qkv", hidden, hidden + 2 * kv_dim), ("o", hidden, hidden),
              ("up", hidden, intermediate)]
    if gated_mlp:
        shapes.append(("gate", hidden, intermediate))
    shapes.append(("down", intermediate, hidden))
    return [
        GemmWorkload(m, n, k, act_format=act_format, weight_format=weight_format,
                     group_size=group_size, name=f"{phase}.{label}")
        for label, k, n in shapes
    ]
