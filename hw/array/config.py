"""Configs of arrays and of the accelerator: pure Python (no Amaranth).

An :class:`ArrayConfig` is a grid of one registered PE in a dataflow; an :class:`AccelConfig`
adds the on-chip buffers and the edge accumulators around it. Like the PE configs they are
frozen and validated, and the same object feeds the generator (:mod:`mpgemm.hw.array`), the
golden model (:mod:`mpgemm.sim.golden.array`) and the cost model (:mod:`mpgemm.costmodel.array`).

Dataflows
---------
``"os"`` (output-stationary): PE ``(r, c)`` accumulates output ``(m0 + r, n0 + c)`` over K;
activation beats enter at the left (row ``r`` delayed ``r`` cycles) and move right, weight beats
enter at the top (column ``c`` delayed ``c`` cycles) and move down, so both meet at PE ``(r, c)``
``r + c`` cycles after they left the buffers. Results leave row by row.

``"ws"`` (weight-stationary): PE ``(r, c)`` holds the weights of beat ``r`` of a fold of K
(``rows`` beats) for column ``n0 + c``; each activation row ``m`` enters row ``r`` of the array
``r * L`` cycles late (``L``: the PE's result latency) and partial sums flow down the columns,
so the bottom of column ``c`` gives the fold's sum for ``(m, n0 + c)``. The next fold's weights
wait in a row of shadow registers per array row (the double buffer) while the current fold runs.

Which PE runs in which dataflow is the PE config's ``dataflows``; the README tabulates it.
"""

from dataclasses import dataclass
from typing import Any, ClassVar

from mpgemm.pe_designs.common import check_choice, check_int
from mpgemm.pe_designs.registry import config_from_dict as pe_config_from_dict
from mpgemm.pe_designs.registry import family_of
from mpgemm.sim.golden.contract import PEConfig
from mpgemm.sim.golden.ports import PEPorts

__all__ = ["DATAFLOWS", "ORGANISATIONS", "ArrayConfig", "AccelConfig", "GemmShape",
           "accel_from_dict"]

#: Dataflow name -> what it keeps in place.
DATAFLOWS = {"os": "output-stationary", "ws": "weight-stationary"}

#: Array organisations (see :class:`ArrayConfig`).
ORGANISATIONS = ("standalone", "shared")

_MAX_DIM = 128
_MAX_DEPTH = 1 << 16


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class GemmShape:
    """``Y[M, N] = A[M, K] x W[K, N]`` as an accelerator runs it: the tile counts of its loops.

    ``k_beats``: beats of ``lanes`` products along K; ``m_tiles``, ``n_tiles``: blocks of
    ``rows`` and ``cols`` (the last may be partial, an edge tile); ``chunks``: accumulations
    per output that the edge adds together (``chunk_beats`` beats each, the last possibly
    shorter); a weight-stationary array's chunks are its folds of ``rows`` beats.
    """

    m: int
    n: int
    k: int
    k_beats: int
    m_tiles: int
    n_tiles: int
    chunks: int
    chunk_beats: int


@dataclass(frozen=True, kw_only=True)
class ArrayConfig:
    """A ``rows x cols`` grid of one PE in a dataflow.

    Parameters
    ----------
    pe : PEConfig
        The PE of every grid position: a config of a registered family whose ``dataflows``
        include ``dataflow``, and a PE rather than a tile (``tile_shape`` ``(1, 1, k)``).
    rows, cols : int
        Grid size, 1-128 each (any shape, square or not).
    dataflow : str
        ``"os"`` or ``"ws"`` (see the module docstring).
    tile_rows, tile_cols : int
        PEs per tile (Gemmini's two levels: a tile is a grid of PEs, the mesh a grid of tiles);
        they must divide ``rows`` and ``cols``.
    organisation : str
        ``"standalone"``: every grid position is the complete PE. ``"shared"``: the work the
        PE does once per group moves out of the grid into units shared along the array, as
        the family's paper organises it (the PE config's ``organisations`` says whether it has
        one): MixPE's grid PEs keep the lanes and group sums and hand each group to a
        dequantizer at the foot of their column, one per ``beats_per_group`` rows
        (:attr:`column_units`); a dequantize-then-MAC array dequantizes each column's weights
        once at its top and its grid is of FP16 MACs; a bit-serial array encodes each column's
        weights once at its top (BitMoD's weight encoder) and its grid PEs take integer
        weights; a LUT array (integer activations) builds each row's table at its left edge
        and dequantizes each column's groups at its foot. Output-stationary only. Results and
        golden model are the same, and so is the cycle formula, with :attr:`pe_latency` (one
        more for the bit-serial encoders).
    """

    kind: ClassVar[str] = "array"

    pe: PEConfig
    rows: int = 4
    cols: int = 4
    dataflow: str = "os"
    tile_rows: int = 1
    tile_cols: int = 1
    organisation: str = "standalone"

    def __post_init__(self):
        family_of(self.pe)  # a TypeError naming the allowed config classes
        check_int("rows", self.rows, 1, _MAX_DIM)
        check_int("cols", self.cols, 1, _MAX_DIM)
        check_choice("dataflow", self.dataflow, tuple(DATAFLOWS))
        check_int("tile_rows", self.tile_rows, 1, self.rows)
        check_int("tile_cols", self.tile_cols, 1, self.cols)
        if self.rows % self.tile_rows or self.cols % self.tile_cols:
            raise ValueError(f"tile_rows={self.tile_rows} and tile_cols={self.tile_cols} must "
                             f"divide rows={self.rows} and cols={self.cols}")
        rows, cols, _ = self.pe.tile_shape
        if (rows, cols) != (1, 1):
            raise ValueError(f"pe must be a PE (tile_shape (1, 1, k)), not a {rows} x {cols} "
                             f"tile of the {self.pe.kind} family")
        check_choice("organisation", self.organisation, ORGANISATIONS)
        if self.organisation not in self.pe.organisations:
            why = self.pe.shared_unavailable if self.organisation == "shared" else None
            raise ValueError(f"organisation={self.organisation!r} is not built for the "
                             f"{self.pe.kind} PE (its organisations: "
                             f"{', '.join(map(repr, self.pe.organisations))})"
                             + (f": {why}" if why else ""))
        if self.organisation == "shared" and self.dataflow != "os":
            raise ValueError(f"organisation='shared' is built output-stationary only, not "
                             f"with dataflow={self.dataflow!r}")
        if self.column_units:
            self._check_foot()
        if self.dataflow not in self.pe.dataflows:
            have = ", ".join(map(repr, self.pe.dataflows)) or "none yet"
            raise ValueError(f"dataflow={self.dataflow!r} is not built for the {self.pe.kind} "
                             f"PE (its dataflows: {have})")
        lim = self.pe.k_limit
        if lim is not None and lim < self.lanes:
            raise ValueError(f"the PE's k_max={lim} is less than one beat of {self.lanes} "
                             f"products: its accumulations cannot be split at beats")
        if self.dataflow == "ws" and lim is not None and self.rows * self.lanes > lim:
            raise ValueError(f"rows={self.rows} x {self.lanes} lanes products per fold exceed "
                             f"the PE's k_max={lim}: a column's partial sum would wrap")

    @property
    def lanes(self) -> int:
        """Products per PE beat along K."""
        return self.pe.tile_shape[2]

    @property
    def grid_ports(self) -> PEPorts:
        """The ports of a grid position's PE: the PE's own, or its ``shared_ports``."""
        ports = self.pe.ports if self.organisation == "standalone" else self.pe.shared_ports
        assert ports is not None  # validated: the PE has the organisation
        return ports

    @property
    def head_cycles(self) -> int:
        """Registers the column heads of a ``"shared"`` array add before the grid (0 without
        heads); the rows' activations wait as many more."""
        return 0 if self.organisation == "standalone" else self.pe.shared_head_cycles

    @property
    def column_units(self) -> int:
        """Shared units at the foot of each column (0 when standalone or without them), each
        serving the PE's ``shared_unit_rows`` consecutive rows (MixPE: a group's hand-offs
        reach a column one row per cycle and come back every ``beats_per_group`` cycles, so
        one unit serves that many rows)."""
        serves = self.pe.shared_unit_rows
        if self.organisation == "standalone" or serves is None:
            return 0
        return _ceil_div(self.rows, serves)

    def _foot_timing(self) -> tuple[int, int, int, int]:
        """``(G, X, H_min, H_max)`` of the foot units: ``G`` the fewest cycles from a beat
        closing a group to the next group's last beat (``beats_per_group`` beats of the
        fastest format); ``X = L - W_min``, ``W`` the cycles from a PE's beat to its unit's
        row accumulator holding the result (``L`` minus the format's ``shared_unit_waits``);
        ``H`` the cycles from the beat to its hand-off (``W`` minus the unit's stages)."""
        pe = self.pe
        lat = self.pe_latency
        waits = pe.shared_unit_waits
        stages = pe.shared_unit_stages
        fastest = min(pe.timing(f).cycles for f in pe.weight_formats)
        hands = [lat - w - stages for w in waits]
        bpg = pe.beats_per_group
        assert bpg is not None, "foot units serve grouped PEs"
        return bpg * fastest, max(waits), min(hands), max(hands)

    @property
    def foot_read_delays(self) -> tuple[int, ...]:
        """Per column of a ``"shared"`` array with foot units: cycles before the standalone
        read-out time at which its row's result is read from the unit's row accumulator, then
        carried in as many registers (() without foot units).

        Row ``r``'s accumulator in column ``k`` holds the output from ``W`` cycles after the
        PE's last beat (cycle ``t``) until the row's next output's first group overwrites it,
        ``W_min`` after that group's last beat, at least ``G`` after ``t``; the standalone
        read-out takes it at ``t + C - 1 - k + L``. Read ``d`` earlier, the accumulator holds
        it when ``C - 1 - k + L - d < G + W_min``: ``d_k = max(0, C - k + X - G)``. (And not
        before it holds it: ``d_k <= C - 1 - k + L - W_max`` because ``W_max - W_min < G``.)
        """
        if self.column_units == 0:
            return ()
        g, x, _, _ = self._foot_timing()
        return tuple(max(0, self.cols - k + x - g) for k in range(self.cols))

    def _check_foot(self) -> None:
        """The foot units' timing holds for every column and unit (it does when a group of the
        fastest format outlasts the difference between the formats' latencies)."""
        _, _, h_min, h_max = self._foot_timing()
        waits = self.pe.shared_unit_waits
        for k, d in enumerate(self.foot_read_delays):
            if d > self.cols - 1 - k + min(waits):
                raise ValueError(f"group_size={self.pe.group_size} is too short for a "
                                 f"{self.cols}-column shared array: column {k}'s result "
                                 f"would be read before its slowest format gives it")
        serves = self.pe.shared_unit_rows or 1   # (no units: no loop below uses it)
        for u in range(self.column_units):
            rows = min(self.rows, (u + 1) * serves) - u * serves
            g, _, _, _ = self._foot_timing()
            if rows - 1 + h_max - h_min >= g and self.cols - 1 + u * serves + rows - 1 \
                    + h_max - g > 0:
                raise ValueError(f"group_size={self.pe.group_size} is too short for a "
                                 f"shared array: a zero point and scale cannot wait for "
                                 f"all {rows} rows of a column unit")

    def foot_metadata_delay(self, col: int, unit: int) -> int:
        """Registers between the zero point and scale captured as a group's last beat enters
        the mesh and unit ``unit`` of column ``col``.

        Captured at ``t`` (the beat's cycle), the register holds them from ``t + 1`` until the
        next group's capture, at least ``G`` later; served row ``r`` hands off at ``t + r +
        col + H``. Delayed ``D``, they are there for the first and last served rows when
        ``D <= first + col + H_min - 1`` and ``D >= last + col + H_max - G``: the least
        such ``D``."""
        g, _, h_min, h_max = self._foot_timing()
        serves = self.pe.shared_unit_rows or 1   # (only called for arrays with units)
        first = unit * serves
        last = min(self.rows, first + serves) - 1
        return max(0, last + col + h_max - g)

    @property
    def pe_latency(self) -> int:
        """``L``: cycles from a PE's beat to its result (every weight format alike); in a
        ``"shared"`` array from the beat reaching its column's head, which is the PE's own
        latency unless the heads add registers in front of an unchanged grid PE (the PE's
        ``shared_latency``: a bit-serial array's weight encoders)."""
        if self.organisation == "standalone":
            return self.pe.timing().latency
        return self.pe.shared_latency

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def tiles(self) -> tuple[int, int]:
        """Tiles of the mesh: ``(rows / tile_rows, cols / tile_cols)``."""
        return self.rows // self.tile_rows, self.cols // self.tile_cols

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "pe": self.pe.to_dict(), "rows": self.rows,
                "cols": self.cols, "dataflow": self.dataflow, "tile_rows": self.tile_rows,
                "tile_cols": self.tile_cols, "organisation": self.organisation}


@dataclass(frozen=True, kw_only=True)
class AccelConfig:
    """The accelerator: an array, its buffers and its edge accumulators.

    Parameters
    ----------
    array : ArrayConfig
    a_depth, w_depth, o_depth : int
        Words of the activation, weight and output buffers, 1-65536. A word is what the array
        takes or gives in a cycle: ``rows`` activation beats, ``cols`` weight beats, ``cols``
        outputs. They bound the GEMMs the accelerator runs (:meth:`check_gemm`).
    out_bits : int or None
        Integer PEs: width of the output buffer's accumulators at the array edge, from the
        PE's psum width to 64 (default: the psum width). A K longer than the PE's ``k_max`` is
        split into accumulations of at most ``k_max`` products, which the edge adds in
        ``out_bits``; the GEMM's K is bounded so that the sum cannot wrap. FP32 PEs: None.
    double_buffer : bool
        Two banks of each buffer (default False: one). The host loads the next GEMM's A and W
        into one bank while the array computes from the other, and the outputs of a finished
        GEMM stream out of their bank while the next GEMM computes into the other
        (:mod:`mpgemm.hw.array.accel`). Each bank holds ``a_depth``, ``w_depth`` and
        ``o_depth`` words: the same GEMMs fit, at twice the buffer bits.
        :func:`mpgemm.costmodel.array.stream_cycles` says what it saves on a sequence of GEMMs.
    """

    kind: ClassVar[str] = "accel"

    array: ArrayConfig
    a_depth: int = 256
    w_depth: int = 256
    o_depth: int = 256
    out_bits: int | None = None
    double_buffer: bool = False

    def __post_init__(self):
        if not isinstance(self.array, ArrayConfig):
            raise TypeError(f"array must be an ArrayConfig, not {self.array!r}")
        if not isinstance(self.double_buffer, bool):
            raise TypeError(f"double_buffer must be True or False, not {self.double_buffer!r}")
        for name in ("a_depth", "w_depth", "o_depth"):
            check_int(name, getattr(self, name), 1, _MAX_DEPTH)
        psum = self.pe.ports.psum.width
        if self.pe.psum_format == "int":
            if self.out_bits is not None:
                check_int("out_bits", self.out_bits, psum, 64)
        elif self.out_bits is not None:
            raise ValueError(f"out_bits must be None for a PE whose partial sums are "
                             f"{self.pe.psum_format}, not {self.out_bits!r}")

    @property
    def pe(self) -> PEConfig:
        return self.array.pe

    @property
    def banks(self) -> int:
        """Banks of each buffer: 2 when double-buffered, else 1."""
        return 2 if self.double_buffer else 1

    @property
    def out_width(self) -> int:
        """Bits of one output in the output buffer."""
        if self.pe.psum_format == "int":
            return self.out_bits if self.out_bits is not None else self.pe.ports.psum.width
        return 32

    @property
    def k_total_max(self) -> int | None:
        """Longest K whose sum the edge holds without wrapping (integer PEs), else None."""
        lim = self.pe.k_limit
        if lim is None:
            return None
        return lim << (self.out_width - self.pe.ports.psum.width)

    @property
    def edge_adds(self) -> bool:
        """Whether the edge ever adds partial results (a GEMM of more than one chunk fits the
        buffers): weight-stationary arrays always, output-stationary ones when K can exceed
        the PE's ``k_max``."""
        if self.array.dataflow == "ws":
            return True
        lim = self.pe.k_limit
        return lim is not None and lim // self.array.lanes < self.k_beats_bound

    @property
    def k_beats_bound(self) -> int:
        """Most beats along K any GEMM that fits the buffers has."""
        if self.array.dataflow == "os":
            return min(self.a_depth, self.w_depth)
        return self.a_depth * self.array.rows

    @property
    def bounds(self) -> dict[str, int]:
        """Largest M, N and K (in beats) that fit the buffers: the ranges of the shape ports."""
        return {"m": self.o_depth, "n": self.o_depth * self.array.cols,
                "k_beats": self.k_beats_bound}

    def chunk_beats(self, k_beats: int) -> int:
        """Beats per accumulation that the edge adds: a weight-stationary fold (``rows``
        beats), or as many beats as the PE's accumulator holds (output-stationary), whole
        quantization groups for a PE that accumulates groups (an output holds whole groups)."""
        if self.array.dataflow == "ws":
            return self.array.rows
        lim = self.pe.k_limit
        if lim is None:
            return k_beats
        beats = lim // self.array.lanes
        bpg = self.pe.beats_per_group
        if bpg is not None:
            beats = max(bpg, beats // bpg * bpg)
        return max(1, min(k_beats, beats))

    @property
    def issue_waits(self) -> bool:
        """Whether the output-stationary issue counts cycles between beats: its PEs have
        multi-cycle beats or a dequantizer to wait for (a MAC takes a beat every cycle)."""
        pe = self.pe
        return (max(pe.timing(f).cycles for f in pe.weight_formats) > 1
                or pe.golden.dequant_busy_cycles(pe) > 0)

    @property
    def fp16_product_sums(self) -> bool:
        """Whether the array's partial sums are FP32 sums, from zero, of exact products of FP16
        numbers (FP16 and dequantize-then-MAC PEs): multiples of 2^-48, so the edge's adders
        never see or make an FP32 subnormal and need no gradual-underflow logic."""
        return self.pe.fp16_product_psums

    @property
    def last_beat_spacing(self) -> int:
        """Least cycles between the last beats of consecutive output blocks (output-stationary):
        a block's ``rows`` results leave one per cycle, and a row is read once its slowest
        column is done (worst-case result latency), before the first column's next result."""
        lat = [self.pe.timing(f).latency for f in self.pe.weight_formats]
        return max(self.array.rows, self.array.cols + max(lat) - min(lat))

    def shape(self, m: int, n: int, k: int, *, checked: bool = False) -> GemmShape:
        """The loop counts of a GEMM (after :meth:`check_gemm`, unless ``checked``)."""
        if not checked:
            self.check_gemm(m, n, k)
        return self._shape(m, n, k)

    def _shape(self, m: int, n: int, k: int) -> GemmShape:
        a = self.array
        kb = k // a.lanes
        cb = self.chunk_beats(kb)
        return GemmShape(m=m, n=n, k=k, k_beats=kb, m_tiles=_ceil_div(m, a.rows),
                         n_tiles=_ceil_div(n, a.cols), chunks=_ceil_div(kb, cb), chunk_beats=cb)

    def words(self, m: int, n: int, k: int) -> dict[str, int]:
        """Words of each buffer a GEMM fills (``a``, ``w``, ``o``), without checking them."""
        s = self._shape(m, n, k)
        if self.array.dataflow == "os":
            return {"a": s.m_tiles * s.k_beats, "w": s.n_tiles * s.k_beats,
                    "o": m * s.n_tiles}
        return {"a": s.chunks * m, "w": s.n_tiles * s.chunks * self.array.rows,
                "o": m * s.n_tiles}

    def check_gemm(self, m: Any, n: Any, k: Any, *,
                   buffers: tuple[str, ...] = ("a", "w", "o")) -> None:
        """Raise ValueError (TypeError for a non-integer) unless the accelerator runs
        ``Y[M, N] = A[M, K] x W[K, N]``: positive sizes, K a multiple of the PE's beat and of
        its quantization group, and every operand within its buffer (``buffers``: which of
        ``"a"``, ``"w"``, ``"o"`` to check, for a host that packs one operand)."""
        for name, v in (("M", m), ("N", n), ("K", k)):
            check_int(name, v, 1, 1 << 30)
        lanes, group = self.array.lanes, self.pe.group_size
        step = lanes if group is None else max(lanes, group)
        if k % step:
            what = f"{lanes} products per beat" + ("" if group is None else
                                                     f" and group_size={group}")
            raise ValueError(f"K={k} must be a multiple of {step} ({what})")
        total = self.k_total_max
        if total is not None and k > total:
            raise ValueError(f"K={k} exceeds {total}, the longest sum the {self.out_width}-bit "
                             f"output accumulators hold; raise out_bits")
        depth = {"a": self.a_depth, "w": self.w_depth, "o": self.o_depth}
        for buf, need in self.words(m, n, k).items():
            if buf in buffers and need > depth[buf]:
                raise ValueError(f"M={m}, N={n}, K={k} needs {need} words of the {buf} buffer, "
                                 f"more than {buf}_depth={depth[buf]}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "array": self.array.to_dict(), "a_depth": self.a_depth,
                "w_depth": self.w_depth, "o_depth": self.o_depth, "out_bits": self.out_bits,
                "double_buffer": self.double_buffer}


def accel_from_dict(data: Any) -> AccelConfig:
    """Rebuild an :class:`AccelConfig` from :meth:`AccelConfig.to_dict` output."""
    def mapping(what: str, d: Any, kind: str, keys: set[str]) -> dict[str, Any]:
        if not isinstance(d, dict):
            raise TypeError(f"{what} config must be a mapping, not {type(d).__name__}")
        if d.get("kind") != kind:
            raise ValueError(f"{what} config needs kind={kind!r}, not {d.get('kind')!r}")
        unknown = sorted(set(d) - keys - {"kind"})
        if unknown:
            raise ValueError(f"unknown {what} parameter(s) {', '.join(map(repr, unknown))}; "
                             f"allowed: {', '.join(sorted(keys))}")
        return {k: v for k, v in d.items() if k != "kind"}

    acc = mapping("accel", data, AccelConfig.kind,
                  {"array", "a_depth", "w_depth", "o_depth", "out_bits", "double_buffer"})
    arr = mapping("array", acc.get("array"), ArrayConfig.kind,
                  {"pe", "rows", "cols", "dataflow", "tile_rows", "tile_cols", "organisation"})
    arr["pe"] = pe_config_from_dict(arr.get("pe"))
    acc["array"] = ArrayConfig(**arr)
    return AccelConfig(**acc)
