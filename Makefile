# qsys: the two set-up commands of README.md live here (a fresh Debian 12 needs `apt-get install make` first).
#   make demo   install qsys, start a personal cluster, run a sample job, show qstat, its output and qacct
#   make test   install everything the tests need (system packages too) and run the whole suite
SHELL := /bin/bash
PY ?= /usr/bin/python3
PREFIX ?= /opt/qsys
VENV ?= $(PREFIX)/venv
BIN := $(VENV)/bin
DEMO_ROOT ?= $(HOME)/.qsys

APT_RUN := python3 python3-venv python3-dev gcc libpam0g-dev openssh-client musl-tools
APT_TEST := $(APT_RUN) postgresql openssh-server openssh-client inetutils-telnetd inetutils-telnet \
	rsh-redone-server rsh-redone-client iproute2 procps psmisc man-db groff-base passwd util-linux \
	openmpi-bin libopenmpi-dev mpich xvfb x11-utils xauth tcsh chromium chromium-driver prometheus systemd make
WRAPPERS := qlogin_wrapper rsh startmpi.sh stopmpi.sh pam_qsys_account

.PHONY: install demo test test-deps lint bench clean wrappers install-pam

# the runtime: qsys with its runtime dependencies only (pyproject.toml's dependencies)
# (then the q-commands get launchers that start Python without its site module: qsys/launchers.py)
$(BIN)/qsub: pyproject.toml $(shell find qsys execd -name '*.py' -o -name '*.lark' 2>/dev/null)
	@if [ ! -x $(PY) ] || ! $(PY) -c 'import venv, ensurepip' 2>/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_RUN); fi
	@[ -x $(BIN)/python ] || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/pip install -q .
	$(BIN)/python -I -m qsys.launchers
	@touch $(BIN)/qsub

# what the tests and linters need on top: the "test" extra (pytest, pexpect, ruff, mypy, psycopg)
$(VENV)/.test-deps: pyproject.toml $(BIN)/qsub
	$(BIN)/pip install -q '.[test]'
	$(BIN)/python -I -m qsys.launchers
	@touch $@

PAM_DIR ?= /lib/$(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/security

$(PREFIX)/lib/pam_qsys.so: wrappers/pam/pam_qsys.c
	@[ -f /usr/include/security/pam_modules.h ] && command -v gcc >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libpam0g-dev; }
	@mkdir -p $(PREFIX)/lib
	gcc -O2 -Wall -fPIC -shared -o $@ $< -lpam

# the lean shepherd of plain batch jobs (execd/lean.py), static: an exec of it costs little
$(PREFIX)/lib/qsys-shepherd: execd/shepherd_lean.c
	@command -v musl-gcc >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools; }
	@mkdir -p $(PREFIX)/lib
	musl-gcc -static -O2 -Wall -o $@ $<

$(PREFIX)/wrappers/%: wrappers/%
	@mkdir -p $(PREFIX)/wrappers
	install -m 755 $< $@

wrappers: $(PREFIX)/lib/pam_qsys.so $(addprefix $(PREFIX)/wrappers/,$(WRAPPERS))

# the PAM module in the system's module directory (then list it in /etc/pam.d, see wrappers/README.md)
install-pam: $(PREFIX)/lib/pam_qsys.so
	install -m 644 $< $(PAM_DIR)/pam_qsys.so

# as root, the commands also go on the system PATH (links in /usr/local/bin) and the manual
# pages into the manpath (/usr/local/share/man), for every user, job and qrsh -inherit
install: $(BIN)/qsub wrappers $(PREFIX)/lib/qsys-shepherd
	$(MAKE) -s -C drmaa install PREFIX=$(PREFIX) PYTHON=$(BIN)/python
	@if [ "$$(id -u)" = 0 ]; then $(BIN)/python -m qsys.install; fi

# a held job shows in qstat (hqw), then running (r); once it has ended qstat -s z lists it as
# finished (z), and its output file and its accounting record (qacct -j) tell what became of it
demo: install
	@export QSYS_ROOT=$(DEMO_ROOT) PATH=$(BIN):$$PATH; set -e; \
	wait_for() { for i in $$(seq 150); do eval "$$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }; \
	qsys up; cd /tmp; echo; \
	echo "\$$ qsub -h -N demo -j y -b y /bin/sh -c 'sleep 5; echo hello from job \$$JOB_ID on \$$HOSTNAME'"; \
	id=$$(qsub -terse -h -N demo -j y -b y /bin/sh -c 'sleep 5; echo hello from job $$JOB_ID on $$HOSTNAME'); \
	echo "job $$id is submitted on hold (-h): qstat shows it waiting, state hqw"; \
	qstat; echo; \
	qrls $$id; wait_for "qstat | grep -q '^ *$$id .* r '" || true; \
	echo "released with qrls, it runs: state r"; \
	qstat; echo; \
	wait_for "qacct -j $$id" || { echo "job $$id did not end within 30 s"; exit 1; }; \
	echo "job $$id has ended: plain qstat lists it no more, qstat -s z lists it as finished (z):"; \
	qstat -s z; echo; \
	echo "its output went to \$$HOME/demo.o$$id:"; \
	cat $$HOME/demo.o$$id; echo; \
	echo "its accounting record, from qacct -j $$id (some of its lines):"; \
	qacct -j $$id | grep -E '^(qname|hostname|owner|jobname|jobnumber|start_time|end_time|failed|exit_status|ru_wallclock|cpu) '; \
	echo; qsys status; \
	echo; echo "next: export PATH=$(BIN):\$$PATH QSYS_ROOT=$(DEMO_ROOT); qsub, qstat, qacct ...; qsys down stops it"

test-deps:
	@missing=$$(for p in $(APT_TEST); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

test: test-deps install $(VENV)/.test-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

lint: install $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/pollers.py
	$(BIN)/python bench/qrsh.py
	$(BIN)/python bench/usage_capture.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/sched_pass.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/sched_policies.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/submit_cost.py

clean:
	rm -rf build *.egg-info
