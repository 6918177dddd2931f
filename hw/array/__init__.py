"""Systolic arrays of any registered PE and the accelerator around them.

The levels follow Gemmini's: :mod:`.tile` (a grid of PEs wired neighbour to neighbour),
:mod:`.mesh` (a grid of tiles with the input skew, output de-skew and the units the PEs share)
and :mod:`.accel` (buffers, the tiling controller and the stream host port). :mod:`.config`
holds their configs: pure Python, read by the generators, the golden model and the cost model.
"""
