# wqinspect — see README.md.  Everything runs from a fresh Debian 12 machine:
# `make test` installs what it needs (apt packages as root, the venv, kernels).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KERNELS ?= bullseye bookworm trixie sid next watchdog
MODES ?= vmcore qmp kcore
KERNEL ?= bookworm
SCENARIO ?= all
OUT ?= build/$(KERNEL)-$(SCENARIO).kdump
export KERNELS MODES

APT_PACKAGES := qemu-system-x86 busybox-static kmod xz-utils zstd binutils gcc make libc6-dev libelf1 python3-venv \
	bison flex libelf-dev bc makedumpfile kexec-tools qemu-system-arm gcc-aarch64-linux-gnu

.PHONY: all deps venv test test-all lint unit vmtest vmtest-all kernels vmcore demo fixtures crash-fixtures crash bench fuzz clean
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

# The whole matrix, which .ci/run runs: the kernels of `make vmtest` and Debian's arm64 kernel (emulated).
vmtest-all: deps venv
	KERNELS="$(KERNELS) arm64" $(PY) -m pytest -q -rs tests/vm

test-all: deps venv lint unit vmtest-all

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

# The crash fixtures (<suite>-crash-*.json): each Debian kernel crashed by every scenario of testbed/crash.py,
# read from the QMP vmcore of the panicked guest (and oops-timer's makedumpfile -d 31 one); and the watchdog
# kernel's stall-panic (workqueue.panic_on_stall=1), watchdog-crash-stall-panic.json.
crash-fixtures: deps venv
	$(PY) -m testbed fixtures --crash $(filter-out arm64,$(KERNELS))

# Crash one kernel with one scenario and keep its vmcores (QEMU's, and makedumpfile -d 31's in each format).
CRASH ?= oops-timer
crash: deps venv
	$(PY) -m testbed crash --kernel $(KERNEL) --scenario $(CRASH) --out $(or $(OUT),build/crash/$(KERNEL))

# Re-render README's example outputs from the fixtures (after `make fixtures`).
readme: venv
	$(PY) -m testbed.readme

# Measurements (not tests): the commands users run, as whole processes, beside drgn's floor and the peers
# (wq_monitor.py, wq_dump.py, drgn-tools), on a 16-CPU guest with 2,000 workqueues and 100,000 pending works
# (QMP and kdump), at a tenth of that, at 30,000 items, and on a small idle guest.  See testbed/bench.py.
BENCH_KERNEL ?= sid
BENCH_CPUS ?= 16
BENCH_WQS ?= 2000
BENCH_WORKS ?= 100000
BENCH_RUNS ?= 3
BENCH_PARTS ?= scale,linear,30k,idle
bench: deps venv
	$(PY) -m testbed bench --kernel $(BENCH_KERNEL) --cpus $(BENCH_CPUS) --wqs $(BENCH_WQS) \
		--works $(BENCH_WORKS) --runs $(BENCH_RUNS) --parts $(BENCH_PARTS) $(BENCH_ARGS)

# Damaged input (issue 14): the snapshot fuzzer with every command on each of FUZZ_MUTANTS mutants, then
# the corruption suite: CORRUPT_MUTANTS damaged ELF vmcores of each of FUZZ_KERNELS (made once, in build/),
# CORRUPT_COMMANDS (all, or N in rotation) on each, CORRUPT_JOBS at a time; then the live churn of
# CHURN_KERNEL (QMP and /proc/kcore reads).
FUZZ_MUTANTS ?= 1000
FUZZ_KERNELS ?= sid bookworm
CORRUPT_MUTANTS ?= 125
CORRUPT_COMMANDS ?= all
CORRUPT_JOBS ?= 2
CHURN_KERNEL ?= sid
fuzz: deps venv
	WQI_FUZZ_MUTANTS=$(FUZZ_MUTANTS) WQI_FUZZ_COMMANDS=all WQI_FUZZ_SUBPROCESS=20 $(PY) -m pytest -q -rs -s tests/unit/test_fuzz.py
	for k in $(FUZZ_KERNELS); do \
		$(PY) -m testbed.corrupt --kernel $$k --mutants $(CORRUPT_MUTANTS) --commands $(CORRUPT_COMMANDS) \
			--jobs $(CORRUPT_JOBS) --report build/corrupt-$$k.json || exit 1; \
	done
	$(PY) -m testbed.churn --kernel $(CHURN_KERNEL) --reads 100 --kcore-reads 94 --kcore-runs 6 \
		--report build/churn-$(CHURN_KERNEL).json

clean:
	rm -rf build .pytest_cache
