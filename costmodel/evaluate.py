"""Cost of one GEMM on ``n_pe`` identical PEs: area, latency and energy by level.

There is no array dataflow yet (that is the array model's job): the PEs split the ``M * N``
outputs evenly, each output takes ``ceil(K / macs_per_beat)`` beats on one PE, and operands
stream from a local SRAM buffer every beat. A PE whose beat is a 2-D tile (``config.tile_shape``
``= (m, n, k)``, the LUT tensor core's rows x cols x table_k) computes ``m x n`` outputs
together: the PEs split the ``ceil(M/m) * ceil(N/n)`` tiles, each taking ``ceil(K/k)`` beats,
and rows or columns of a tile beyond M or N are padding that still costs its beat (a decode GEMV
with ``M = 1`` on a two-row tile uses half of it).

Energy follows Accelergy's accounting, the sum over actions of (count x energy per action):

* compute: beats x the PE's energy per beat (a beat whose lanes are partly padding, when the
  PE's ``macs_per_beat`` does not divide K, still costs a full beat);
* SRAM: every beat reads the PE's activation and weight ports from the buffer; every output
  reads its initial partial sum and writes its result (``psum_bits`` each);
* DRAM: A and W are read once and Y written once (perfect on-chip reuse), at their packed sizes.
"""

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any

from mpgemm.sim.golden.contract import PEConfig

from .components import sram_access
from .pe import pe_cost, workload_beat_cost, workload_check
from .tech import DEFAULT_TECH, AccessEnergy, Technology
from .workload import GemmWorkload, check_size

__all__ = ["CostReport", "evaluate", "DEFAULT_BUFFER_BYTES"]

#: Local operand buffer size: the 8 KB bank of the CACTI 28 nm table.
DEFAULT_BUFFER_BYTES = 8 * 1024


@dataclass(frozen=True)
class CostReport:
    """Cost of a workload (or of several run one after another, when reports are added).

    Attributes
    ----------
    area_um2 : float
        Area of the PEs that ran it (buffers are not yet included).
    latency_cycles : int
        Cycles from the first beat to the last result.
    latency_s : float
        ``latency_cycles`` at the clock the evaluation assumed.
    compute_energy_pj, sram_energy_pj, dram_energy_pj : float
        Energy in the PEs, the local buffer and off-chip memory.
    energy_pj : float
        Their sum.
    macs : int
        Useful multiply-accumulates (padding excluded).

    Adding reports (``a + b``, or ``sum(reports, CostReport.zero())``) models running them in
    sequence on the same hardware: energies, cycles, seconds and MACs add, area is the maximum.
    """

    area_um2: float
    latency_cycles: int
    latency_s: float
    compute_energy_pj: float
    sram_energy_pj: float
    dram_energy_pj: float
    energy_pj: float
    macs: int

    @classmethod
    def zero(cls) -> "CostReport":
        """The neutral element of ``+``."""
        return cls(0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)

    def __add__(self, other: "CostReport") -> "CostReport":
        if not isinstance(other, CostReport):
            return NotImplemented
        return CostReport(
            area_um2=max(self.area_um2, other.area_um2),
            latency_cycles=self.latency_cycles + other.latency_cycles,
            latency_s=self.latency_s + other.latency_s,
            compute_energy_pj=self.compute_energy_pj + other.compute_energy_pj,
            sram_energy_pj=self.sram_energy_pj + other.sram_energy_pj,
            dram_energy_pj=self.dram_energy_pj + other.dram_energy_pj,
            energy_pj=self.energy_pj + other.energy_pj,
            macs=self.macs + other.macs,
        )

    def __radd__(self, other: Any) -> "CostReport":
        # Lets the built-in sum() start from its default 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def to_dict(self) -> dict[str, float]:
        """Fields and derived figures as plain data, for JSON output."""
        out: dict[str, float] = dataclasses.asdict(self)
        for name in ("energy_per_mac_pj", "tops_per_w", "throughput_tops", "average_power_w"):
            out[name] = getattr(self, name)
        return out

    @property
    def energy_per_mac_pj(self) -> float:
        """Total energy per useful MAC (NaN for an empty report)."""
        return self.energy_pj / self.macs if self.macs else math.nan

    @property
    def tops_per_w(self) -> float:
        """Energy efficiency counting a MAC as 2 operations: ``2 * macs / energy_pj``."""
        # ops / J / 1e12 = 2 * macs / (energy_pj * 1e-12) / 1e12.
        return 2 * self.macs / self.energy_pj if self.energy_pj else math.nan

    @property
    def throughput_tops(self) -> float:
        """Achieved operations per second / 1e12 (2 operations per MAC)."""
        return 2 * self.macs / self.latency_s / 1e12 if self.latency_s else math.nan

    @property
    def average_power_w(self) -> float:
        """Energy over latency."""
        return self.energy_pj * 1e-12 / self.latency_s if self.latency_s else math.nan


#: Clock frequencies the cost model takes, in MHz (1 kHz to 1 THz): beyond them a latency
#: would round to 0 or overflow.
FREQ_RANGE_MHZ = (1e-3, 1e6)


def check_freq_mhz(freq_mhz: Any) -> float:
    """``freq_mhz`` as a float within :data:`FREQ_RANGE_MHZ`, else TypeError or ValueError."""
    if isinstance(freq_mhz, bool) or not isinstance(freq_mhz, (int, float)):
        raise TypeError(f"freq_mhz must be a number, not {freq_mhz!r}")
    lo, hi = FREQ_RANGE_MHZ
    if not (math.isfinite(freq_mhz) and lo <= freq_mhz <= hi):
        raise ValueError(f"freq_mhz must be a finite number in [{lo:g}, {hi:g}] MHz, "
                         f"not {freq_mhz!r}")
    return float(freq_mhz)


@functools.lru_cache(maxsize=256)
def _buffer_access(buffer_bytes: int, tech: Technology) -> AccessEnergy:
    return sram_access(buffer_bytes, tech)


def evaluate(
    config: PEConfig,
    workload: GemmWorkload,
    *,
    tech: Technology = DEFAULT_TECH,
    n_pe: int = 1,
    freq_mhz: float = 1000.0,
    buffer_bytes: int = DEFAULT_BUFFER_BYTES,
) -> CostReport:
    """Cost of ``workload`` on ``n_pe`` PEs built from ``config``.

    Parameters
    ----------
    config
        A PE config (any kind registered with :func:`costmodel.register_pe_model`).
    workload : GemmWorkload
        The GEMM; its formats must fit the config (checked by the kind's registered check).
    tech : Technology
        Technology tables (default 28 nm).
    n_pe : int
        Identical PEs sharing the outputs.
    freq_mhz : float
        Clock, for ``latency_s``.
    buffer_bytes : int
        Capacity of the local SRAM buffer operands stream from (sets its energy per bit).

    Raises
    ------
    ValueError
        If the workload does not fit the config (the message names both), a size is not
        positive, or the config's kind has no cost model.
    TypeError
        If an argument has the wrong type.
    """
    if not isinstance(workload, GemmWorkload):
        raise TypeError(f"workload must be a GemmWorkload, not {workload!r}")
    check_size("n_pe", n_pe)
    check_size("buffer_bytes", buffer_bytes, 2**48)
    check_freq_mhz(freq_mhz)
    pe = pe_cost(config, tech)
    check = workload_check(config)
    if check is not None:
        check(config, workload)

    tile_m, tile_n, tile_k = config.tile_shape
    tiles = -(-workload.M // tile_m) * -(-workload.N // tile_n)
    beats_per_tile = -(-workload.K // tile_k)
    tiles_per_pe = -(-tiles // n_pe)
    # The busiest PE sets the latency; accumulations run back to back (a `first` beat may
    # follow a `last` beat directly), and the final result drains through the pipeline once.
    cycles_per_beat, pe_latency, energy_per_beat = workload_beat_cost(config, workload, pe)
    latency_cycles = tiles_per_pe * beats_per_tile * cycles_per_beat + pe_latency
    beats = tiles * beats_per_tile

    buf = _buffer_access(buffer_bytes, tech)
    port_bits = config.ports.act.width + config.ports.weight.width
    sram_pj = (beats * port_bits * buf.read_pj_per_bit
               + tiles * config.ports.psum.width * (buf.read_pj_per_bit + buf.write_pj_per_bit))
    dram = tech.dram
    dram_pj = (8 * (workload.a_bytes + workload.w_bytes) * dram.read_pj_per_bit
               + 8 * workload.y_bytes * dram.write_pj_per_bit)
    compute_pj = beats * energy_per_beat
    return CostReport(
        area_um2=n_pe * pe.area_um2,
        latency_cycles=latency_cycles,
        latency_s=latency_cycles / (freq_mhz * 1e6),
        compute_energy_pj=compute_pj,
        sram_energy_pj=sram_pj,
        dram_energy_pj=dram_pj,
        energy_pj=compute_pj + sram_pj + dram_pj,
        macs=workload.macs,
    )
