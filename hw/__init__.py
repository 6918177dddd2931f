"""Reusable Amaranth building blocks and the PE contract; :mod:`.flow` holds the flows
(Verilog generation, lint, synthesis, the command line) that sit on top of everything else."""
