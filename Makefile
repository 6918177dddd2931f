# mpgemm: generate, verify, synthesize and cost mixed-precision GEMM hardware.
# Every target bootstraps what it needs: a virtual environment with the pip dependencies, and the
# Debian packages (iverilog; yosys and nextpnr for synth) via apt-get when run as root.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SIM    ?= auto
JOBS   ?= 2
STAMP  := $(VENV)/.installed

# Let Python keep compiled modules (and pytest its assertion-rewritten test modules) in the
# git-ignored __pycache__ folders even where the environment sets PYTHONDONTWRITEBYTECODE:
# otherwise every test worker and cocotb process compiles everything again (about 4 s each).
export PYTHONDONTWRITEBYTECODE :=

.DEFAULT_GOAL := help
.PHONY: help venv sysdeps-sim sysdeps-synth rtl sim test test-fast lint typecheck synth bench \
	bench-reference mutate clean distclean

help: ## list the targets
	@echo "mpgemm make targets (SIM=icarus|verilator|auto selects the simulator; auto, the default: PEs on Icarus, arrays on the one their manifest entry names):"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 24

# --- bootstrap -------------------------------------------------------------------------------

# apt-get as root, otherwise say exactly what is missing and how to get it.
define need_deb
	@missing=""; for t in $(1); do command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "error: missing tools; install the Debian packages:$$missing (e.g. sudo apt-get install$$missing)" >&2; exit 1; \
	  fi; \
	fi
endef

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: Python >= 3.11 is required, found " + sys.version.split()[0])'
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	  else echo "error: Python's venv module is missing; install python3-venv" >&2; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(STAMP) ## create .venv with every Python dependency

sysdeps-sim:
	$(call need_deb,iverilog:iverilog g++:g++ make:make perl:perl)

sysdeps-synth:
	$(call need_deb,yosys:yosys nextpnr-ice40:nextpnr-ice40 icepack:fpga-icestorm)

# --- main targets ----------------------------------------------------------------------------

rtl: $(STAMP) ## regenerate rtl_out/ (Verilog of every preset + manifest.json)
	$(PY) -m mpgemm.hw.flow.generate

sim: $(STAMP) sysdeps-sim ## simulate every design in rtl_out/ with cocotb against the golden model
	$(PY) -m mpgemm.sim.runner --sim $(SIM) -j $(JOBS)

test: $(STAMP) sysdeps-sim sysdeps-synth ## run the test suite (both simulators, synthesis)
	$(PY) -m pytest -n $(JOBS) -q

test-fast: $(STAMP) ## the inner-loop tier: no Icarus, Verilator, Yosys or long amaranth.sim run
	$(PY) -m pytest -n $(JOBS) -q -m "not sim and not synth"

lint: $(STAMP) typecheck ## ruff and mypy on the Python, verilator --lint-only -Wall on rtl_out/
	$(PY) -m ruff check hw pe_designs costmodel sim tests .ci
	$(PY) -m mpgemm.hw.flow.lint

# mypy cannot follow the editable install's finder (mpgemm.hw -> hw/, ...), so it checks the
# package through a tree of symlinks named as the package is imported (build/ is gitignored).
TYPECHECK_DIR := build/typecheck
PACKAGE_DIRS  := hw pe_designs costmodel sim

typecheck: $(STAMP) ## mypy on the mpgemm package (hw, pe_designs, costmodel, sim)
	@mkdir -p $(TYPECHECK_DIR)/mpgemm
	@for d in $(PACKAGE_DIRS); do ln -sfn $(CURDIR)/$$d $(TYPECHECK_DIR)/mpgemm/$$d; done
	cd $(TYPECHECK_DIR) && $(abspath $(PY)) -m mypy --config-file $(CURDIR)/pyproject.toml \
	  --namespace-packages --explicit-package-bases -p mpgemm

# SYNTH_ARGS: e.g. --all (also the arrays of more than 16 PEs), --designs a,b, --no-pnr,
# --no-share (for the floating-point arrays, on which Yosys' share pass does not finish).
synth: $(STAMP) sysdeps-synth ## Yosys (generic, iCE40, Xilinx, ECP5) + nextpnr fmax on rtl_out/, reports/synth/
	$(PY) -m mpgemm.hw.flow.synth -j $(JOBS) $(SYNTH_ARGS)

bench: $(STAMP) sysdeps-sim ## benchmarks (sim and test wall time, cost-model speed) to reports/bench.json
	$(PY) -m mpgemm.sim.bench --out reports/bench.json

mutate: $(STAMP) sysdeps-sim sysdeps-synth ## mutation testing of the RTL tests (fixed seed), reports/mutate.json
	$(PY) -m mpgemm.sim.mutate -j $(JOBS) $(MUTATE_ARGS)

# Two Yosys runs of 6 to 7 minutes each (JOBS=2 runs them side by side), so not part of `bench`.
bench-reference: $(STAMP) sysdeps-synth ## iCE40 LUT4+FF: generated INT8 16x16 mesh vs hand-written, into reports/bench.json
	$(PY) -m mpgemm.sim.bench --reference-only -j $(JOBS) --out reports/bench.json

clean: ## remove simulator builds, reports and caches (keeps .venv)
	rm -rf build reports .pytest_cache .hypothesis .ruff_cache
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean ## also remove the virtual environment
	rm -rf $(VENV) *.egg-info
