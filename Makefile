# wqinspect — see README.md.  Everything runs from a fresh Debian 12 machine:
# `make test` installs what it needs (apt packages as root, the venv, kernels).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KERNELS ?= bookworm trixie sid watchdog
MODES ?= vmcore qmp kcore
KERNEL ?= bookworm
SCENARIO ?= all
OUT ?= build/$(KERNEL)-$(SCENARIO).kdump
export KERNELS MODES

APT_PACKAGES := qemu-system-x86 busybox-static kmod xz-utils zstd binutils gcc make libc6-dev libelf1 python3-venv \
	bison flex libelf-dev bc

.PHONY: all deps venv test lint unit vmtest kernels vmcore demo fixtures bench clean
all: test

# apt packages (QEMU, busybox for the guest, kernel module build tools); only missing ones are installed.
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "run as root, or install: $$missing" >&2; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# The README's test command: unit tests, then the VM matrix.
test: deps venv lint unit vmtest

lint: venv
	$(VENV)/bin/ruff check wqinspect tests testbed

unit: venv
	$(PY) -m pytest -q -rs tests/unit

vmtest: deps venv
	$(PY) -m pytest -q -rs tests/vm

kernels: deps
	$(PYTHON) -m testbed kernels $(KERNELS)

vmcore: deps venv
	@mkdir -p $(dir $(OUT))
	$(PY) -m testbed vmcore --kernel $(KERNEL) --scenario $(SCENARIO) --out $(OUT)

demo: deps venv
	$(PY) -m testbed demo --kernel $(KERNEL)

# Re-capture fixtures/snapshots from real kernels (never edit them by hand).
fixtures: deps venv
	$(PY) -m testbed fixtures $(KERNELS)

# Measurements (not tests): wqinspect's snapshot and monitor as ratios to drgn's floor, and the monitor
# against the kernel's wq_monitor.py, on a 16-CPU guest with 2,000 workqueues and 100,000 pending works.
BENCH_KERNEL ?= sid
BENCH_CPUS ?= 16
bench: deps venv
	$(PY) -m testbed bench --kernel $(BENCH_KERNEL) --cpus $(BENCH_CPUS)

clean:
	rm -rf build .pytest_cache
