"""cocotb testbenches for the generated Verilog in rtl_out/ (run by :mod:`sim.runner`)."""
