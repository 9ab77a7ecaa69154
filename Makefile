# Each command does all set-up on a fresh clone (make smoke: a first run on synthetic shapes, no data needed):
#   make train   - create .venv if needed, install, train SimCLR with batch curation (batch selection) on CIFAR-10
#   make test    - same set-up, then the notebook tests (nbdev_test) and pytest
#   make check   - the fast checks after a change: style, course rules, notebooks in step, what the change touches
#   make docs    - same set-up, then the course website in _docs/html (make docs-check looks at it in Chromium)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
VENV_ARG := $(if $(filter-out .venv,$(VENV)), VENV=$(VENV))
# The torch build to install. The first call that names one remembers it in $(BIN)/.torch-spec for every later call
# (any target); without one, pip's default (the CUDA build on Linux). On a machine without an NVIDIA GPU:
#   make smoke TORCH="torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu"
# An index that cannot be reached (offline) falls back to the torch installed, or pip's own sources (tools/install_torch.sh).
TORCH_DEFAULT := torch==2.14.1 torchvision==0.29.1
ifeq ($(origin TORCH),undefined)
TORCH := $(or $(shell cat '$(BIN)/.torch-spec' 2>/dev/null),$(TORCH_DEFAULT))
TORCH_GIVEN :=
else
TORCH_GIVEN := yes
endif
ARGS ?=
PYTEST_ARGS ?=

.PHONY: FORCE notebooks smoke train test check install torch export check-sync readme report study docs docs-check

# The TORCH spec chosen: rewritten only when it changes, so that the install below runs only then.
$(BIN)/.torch-spec: FORCE
	@mkdir -p $(BIN)
	@echo '$(TORCH)' | cmp -s - $@ || echo '$(TORCH)' > $@

$(BIN)/.installed: settings.ini setup.py $(BIN)/.torch-spec
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip --retries 1 --timeout 15 || echo "make: pip was not upgraded (offline?)"
	@tools/install_torch.sh $(BIN) '$(TORCH_GIVEN)'
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/.installed

# Install the remembered torch build again: after an offline fall-back, once the index can be reached.
torch: $(BIN)/.installed
	@rm -f $(BIN)/.torch-installed && tools/install_torch.sh $(BIN) yes

# A first run that needs no data and no internet: two epochs on synthetic shapes, a complete run folder in runs/.
# With --resume in ARGS the preset (or scheme) flag is left out: the run's own config.json holds it.
RESUMING = $(findstring --resume,$(ARGS))
smoke: $(BIN)/.installed
	BC_RESUME_WITH='make smoke$(VENV_ARG)' $(BIN)/bc_train $(if $(RESUMING),,--preset smoke) $(ARGS)

train: $(BIN)/.installed
	BC_RESUME_WITH='make train$(VENV_ARG)' $(BIN)/bc_train $(if $(RESUMING),,--curation batch) $(ARGS)

test: $(BIN)/.installed check-sync
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 tests $(PYTEST_ARGS)

# The checks a contributor runs after a change, in about two minutes on 2 cores: code style and the course's rules,
# notebooks clean and the package and README in step, then the notebooks and tests that the change touches (files
# changed since CHECK_BASE, committed or not: tools/check_changed.py says what it picked and why).
CHECK_BASE ?= HEAD
check: $(BIN)/.installed
	@OMP_NUM_THREADS=1 $(BIN)/python tools/check_changed.py --base $(CHECK_BASE)

# CI fails when notebooks are not clean or the package is out of step with them.
check-sync: $(BIN)/.installed
	@$(BIN)/python tools/check_sync.py

export: $(BIN)/.installed
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

readme: $(BIN)/.installed
	$(BIN)/python tools/make_readme.py

# The course as a website in _docs/html: every notebook a page with its stored outputs (nothing runs), the study's
# results page, an API page per module (tools/build_docs.py; Sphinx with MyST-NB, configured in docs/conf.py).
# DOCS_RESULTS names the results page(s) (Markdown files or notebooks of the repository); a missing one is left out.
DOCS_RESULTS ?= results/README.md
docs: $(BIN)/.installed
	$(BIN)/python tools/build_docs.py --results $(DOCS_RESULTS)

# Open the built pages in headless Chromium (Debian's: apt-get install -y chromium): fail on any console error or
# image that does not load, and save screenshots in _docs/screenshots. Not part of CI, which has no browser.
docs-check: docs
	$(BIN)/python tools/check_docs.py

# Re-draw the tables and plots of the CIFAR-10 studies (results/cifar10-cpu, results/cifar10-pilot, results/cifar10) and
# of the detector benchmark (results/detectors) from what is stored, without a GPU, beside the runs; store 09 and 08,
# which show them, executed with their outputs; then fill the tables into the results page, results/README.md.
REPORT_NOTEBOOKS ?= 08_insights.ipynb 09_experiments.ipynb
report: $(BIN)/.installed
	$(BIN)/python tools/detector_benchmark.py
	cd nbs && for nb in $(REPORT_NOTEBOOKS); do \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=3600 $$nb || exit 1; done
	for nb in $(REPORT_NOTEBOOKS); do $(BIN)/nbdev_clean --fname nbs/$$nb || exit 1; done
	$(BIN)/python tools/make_results_page.py

# Run every numbered notebook top to bottom on this machine and store it with its outputs (figures as small PNGs), so
# that a reader who opens one on the web sees its figures; then clean (ids and metadata only: outputs stay) and
# re-write README.md. nbs/index.ipynb stays output-free: it is the README's source. NOTEBOOKS picks a subset.
NOTEBOOKS ?= $(sort $(notdir $(wildcard nbs/[0-9]*.ipynb)))
notebooks: $(BIN)/.installed
	cd nbs && for nb in $(NOTEBOOKS); do echo "running $$nb"; \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=3600 $$nb || exit 1; \
	done
	$(BIN)/nbdev_clean
	$(BIN)/python tools/make_readme.py

# Every arm of a study (one .toml per arm in CONFIGS) for every seed, seed by seed, JOBS runs at a time; a finished run
# is skipped and a stopped one resumed (one stopped before its first checkpoint starts again, what it wrote kept in
# STUDY_OUT/logs/restarted/), so the same command continues a study that was interrupted, even by kill -9. Before the
# first run every arm's config is read as bc_train reads it and compared with the runs STUDY_OUT holds of that arm: a
# malformed or misspelt config, or an arm edited after its runs were trained, stops the study with nothing started.
# Each run's terminal output is appended to STUDY_OUT/logs/ARM-sSEED.log; a run that another study (or bc_train) is
# training is left to it, and said so (tools/study.sh). ARMS="a b" runs only those arms, in that order (for example
# more seeds of a study's primary arms, ARMS="pos-random pos-iou pos-sim pos-sim-high" SEEDS="6 7 8 9 10 11", and of
# their reference, CONFIGS=configs/cifar10-cpu/stage1 ARMS=baseline).
CONFIGS ?= configs/cifar10
SEEDS ?= 0 1
STUDY_OUT ?= results/cifar10
JOBS ?= 1
ARMS ?=
STUDY_CONFIGS = $(if $(strip $(ARMS)),$(foreach a,$(ARMS),$(CONFIGS)/$(a).toml),$(CONFIGS)/*.toml)
study: $(BIN)/.installed
	@for cfg in $(STUDY_CONFIGS); do test -f "$$cfg" || { have=$$(cd $(CONFIGS) 2>/dev/null && ls *.toml | sed 's/.toml$$//'); \
	  echo "make study: no config $$cfg; ARMS names .toml files in CONFIGS, without .toml:" $$have >&2; exit 2; }; done
	@tools/study.sh --check $(BIN)/bc_train $(STUDY_OUT) "$(SEEDS)" $(STUDY_CONFIGS)
	@for s in $(SEEDS); do for cfg in $(STUDY_CONFIGS); do echo "$$cfg $$s"; done; done \
	  | xargs -P $(JOBS) -L 1 sh -c 'tools/study.sh $(BIN)/bc_train $$0 $$1 $(STUDY_OUT)'
