"""The flows: Verilog generation and its manifest, lint, synthesis, external tools and the
``mpgemm`` command line. The top layer: nothing in the toolkit's other layers imports them."""
