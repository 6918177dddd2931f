"""Reusable Amaranth building blocks, the PE contract and Verilog generation."""
