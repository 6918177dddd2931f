"""One module per PE family: its validated, frozen config and its Amaranth component."""
