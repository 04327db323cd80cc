# make book   — install, prepare CIFAR-10, execute every chapter (profile ci) and build _build/html
# make test   — install, prepare CIFAR-10, run the test suite (which also executes every chapter on the smoke profile)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= ci
export CORELIB_DATA ?= $(HOME)/.cache/corelib/data
SHARED_CIFAR := ../shared/data/cifar10/prepare.py

.PHONY: book test test-paper data install check-html speed bench crosscheck clean student pdf assignments

install: $(VENV)/.installed

# The teach extra (make assignments and its test) is installed apart from requirements.txt: otter-grader asks
# requests>=2.31, torchattacks (corelib's AutoAttack) pins requests~=2.25.1; corelib's pin is restored afterwards,
# which local grading (otter assign / otter run) does not mind.

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q 'otter-grader==7.0.0' && $(BIN)/pip install -q 'requests~=2.25.1'
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Offline machines of this project carry a prepared copy in ../shared and its SHA256SUMS (verified on every load);
# elsewhere torchvision downloads the official files (md5 verified).
data: install
	@if [ -f $(SHARED_CIFAR) ]; then $(BIN)/python $(SHARED_CIFAR) "$(CORELIB_DATA)" && \
	  { [ ! -f $(dir $(SHARED_CIFAR))SHA256SUMS ] || install -m 0644 $(dir $(SHARED_CIFAR))SHA256SUMS "$(CORELIB_DATA)/SHA256SUMS"; }; \
	else $(BIN)/python -m corelib.data "$(CORELIB_DATA)"; fi

book: data
	$(BIN)/python -m corelib.book build --profile $(PROFILE)

test: data
	$(BIN)/python -m pytest

# the paper profile's code paths end to end at tiny sizes (profiles/paper_smoke.yaml; about 6 min on 2 CPU cores)
test-paper: data
	$(BIN)/python -m pytest -m paper_smoke tests/test_paper_smoke.py

# the whole book as one PDF (after make book): single-page HTML printed by headless Chromium, checked
pdf: install
	$(BIN)/python -m corelib.book pdf

# the student edition: every chapter's notebook with its worked solutions removed (self-checks keep a stub to fill
# in) in _build/student, and (after make book) the book's HTML with the solutions hidden in _build/student-book
student: install
	$(BIN)/python -m corelib.book student --out _build/student

# the pages in Chromium; then the student edition is built from the same executed chapters and checked
check-html:
	$(BIN)/python -m corelib.book check-html --screenshots _build/screenshots
	$(BIN)/python -m corelib.book student --out _build/student
	$(BIN)/python -m corelib.book check-student

# an otter-grader assignment per chapter from its self-check: student notebook, autograder zip (hidden tests),
# solutions, in _build/assignments/<chapter>/dist; grade a submission with `otter run -a <zip> <notebook>`
assignments: install
	$(BIN)/python -m corelib.book assignments --out _build/assignments

# the robust numbers cross-checked against the Adversarial Robustness Toolbox's APGD / AutoAttack (installs the
# `crosscheck` extra; ART is never a dependency of corelib); about 10 minutes on 2 CPU cores
crosscheck: data
	$(BIN)/pip install -q 'adversarial-robustness-toolbox==1.20.1' multiprocess
	cd benchmarks && ../$(BIN)/python crosscheck_art.py

# the speed benchmarks (benchmarks/): RESULT lines, paired in one run; `make bench` is its former name
bench: speed
speed: data
	mkdir -p _build && rm -f _build/bench.log
	@set -o pipefail; failed=""; for script in benchmarks/floor.py benchmarks/attacks.py benchmarks/train_throughput.py benchmarks/sparse_fgsm.py benchmarks/aign.py benchmarks/selection_cost.py benchmarks/adversarial_coreset.py; do \
	  echo "== $$script"; $(BIN)/python $$script | tee -a _build/bench.log || failed="$$failed $$script"; done; \
	echo "== all RESULT lines"; grep -E "^(DECISION|RESULT)" _build/bench.log; \
	if [ -n "$$failed" ]; then echo "missed goals in:$$failed"; exit 1; fi

clean:
	rm -rf _build book/chapters
