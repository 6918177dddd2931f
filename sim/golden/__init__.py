"""Pure-numpy, bit-exact golden models: number formats, PE beats, exact mpGEMM reference.

Nothing here imports amaranth or cocotb: the RTL tests, the cost model and users' scripts all
share these definitions of what each design computes.
"""
