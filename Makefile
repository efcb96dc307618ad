# qsys: the two set-up commands of README.md live here.
#   make demo   install qsys, start a personal cluster, run a sample job, show qstat and its output
#   make test   install everything the tests need (system packages too) and run the whole suite
SHELL := /bin/bash
PY ?= /usr/bin/python3
PREFIX ?= /opt/qsys
VENV ?= $(PREFIX)/venv
BIN := $(VENV)/bin
DEMO_ROOT ?= $(HOME)/.qsys

APT_RUN := python3 python3-venv python3-dev gcc libpam0g-dev
APT_TEST := $(APT_RUN) postgresql openssh-server openssh-client inetutils-telnetd inetutils-telnet \
	rsh-redone-server rsh-redone-client iproute2 procps psmisc man-db groff-base passwd util-linux \
	openmpi-bin libopenmpi-dev mpich xvfb x11-utils xauth

.PHONY: install demo test test-deps lint bench clean wrappers install-pam

$(BIN)/qsub: pyproject.toml $(shell find qsys execd -name '*.py' -o -name '*.lark' 2>/dev/null)
	@if [ ! -x $(PY) ] || ! $(PY) -c 'import venv, ensurepip' 2>/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_RUN); fi
	@[ -x $(BIN)/python ] || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/pip install -q '.[test]'
	@touch $(BIN)/qsub

PAM_DIR ?= /lib/$(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/security

$(PREFIX)/lib/pam_qsys.so: wrappers/pam/pam_qsys.c
	@[ -f /usr/include/security/pam_modules.h ] && command -v gcc >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libpam0g-dev; }
	@mkdir -p $(PREFIX)/lib
	gcc -O2 -Wall -fPIC -shared -o $@ $< -lpam

wrappers: $(PREFIX)/lib/pam_qsys.so
	@mkdir -p $(PREFIX)/wrappers
	install -m 755 wrappers/qlogin_wrapper $(PREFIX)/wrappers/

# the PAM module in the system's module directory (then list it in /etc/pam.d, see wrappers/README.md)
install-pam: $(PREFIX)/lib/pam_qsys.so
	install -m 644 $< $(PAM_DIR)/pam_qsys.so

install: $(BIN)/qsub wrappers

demo: install
	@export QSYS_ROOT=$(DEMO_ROOT) PATH=$(BIN):$$PATH; set -e; \
	qsys up; \
	cd /tmp; \
	id=$$(qsub -terse -N demo -j y -b y /bin/sh -c 'echo hello from job $$JOB_ID on $$HOSTNAME'); \
	echo "submitted job $$id"; qstat; \
	qsub -sync y -b y /bin/true >/dev/null; \
	echo "--- output of job $$id:"; cat $$HOME/demo.o$$id; \
	qstat; qsys status

test-deps:
	@missing=$$(for p in $(APT_TEST); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

test: test-deps install
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/qrsh.py
	$(BIN)/python bench/usage_capture.py

clean:
	rm -rf build *.egg-info
