"""Baseline MAC PEs that the seed papers compare against.

The configs (:mod:`.config`) are pure Python; the Amaranth components are in :mod:`.rtl`.
"""

from .config import DequantMacConfig, Fp16MacConfig, IntMacConfig

__all__ = ['IntMacConfig', 'Fp16MacConfig', 'DequantMacConfig']
