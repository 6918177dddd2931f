"""One package per PE family: its validated, frozen config (``config.py``, pure Python) and its
Amaranth component (``rtl.py``); :mod:`.registry` ties each family's config, component, golden
model, stimulus and cost model together, and :mod:`.presets` lists the designs in rtl_out/."""
