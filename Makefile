# One entry point for set-up, the app and the tests. Every target creates .venv/ when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast lint bench index readme train-triage train-tower train-judge train-known browser-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first and pinned: a looser spec pulls a newer build with GBs of CUDA packages.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	# Export the bundled model to ONNX once, so `mgqa ask` starts in well under a second.
	$(PY) -m mgqa prepare
	touch $(STAMP)

run: install
	$(PY) app.py

# Every tier: fast unit tests, the real bundled model, the real browser. CI runs this.
test: install browser-deps
	$(PY) -m pytest -m "" -q

# The quick dev loop: deterministic fake embedder only.
test-fast: install
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check src tests
	$(PY) -m mypy src

bench: install
	$(PY) -m mgqa bench

# Rebuild the committed default index (a test fails when it is stale).
index: install
	$(PY) -m mgqa index build --out index

# Retrain the emergency classifier from bench/triage/bank.jsonl and bench/clinics (about 2.5 hours on 2 cores; never part of `make test`). Its log: bench/triage/train.log.
train-triage: install
	$(PY) bench/triage/train.py

# Retrain the query tower (src/mgqa/data/tower.onnx: the question side of retrieval, learned on bench/clinics)
# and its four fold towers (kept in the cache for make train-judge), about 10 minutes on one core; then
# make train-judge, whose features it changes. Never part of `make test`. Its log: bench/tower/train.log.
train-tower: install
	$(PY) bench/tower/train.py

# Retrain the answer judge (src/mgqa/data/judge.onnx) from the clinic bank (bench/clinics), MedQuAD,
# MEDIQA (../shared/bench) and the project's question sets: the first run embeds the whole MedQuAD
# corpus and its sentences (30-40 min), then 15-30 min. Then retrain the known questions' weighing
# (make train-known), which reads the judge.
# Never part of `make test`. Its log: bench/judge/train.log.
train-judge: install
	bash -o pipefail -c '$(PY) bench/judge/train.py 2>&1 | tee bench/judge/train.log'

# Retrain how the default corpus's known questions vote with the judge (src/mgqa/data/known_model.json),
# from the project's question sets (about 7 minutes on 2 idle cores), then rebuild the default index with them.
# Never part of `make test`. Its log: bench/known/train.log.
train-known: install
	bash -o pipefail -c '$(PY) bench/known/train.py 2>&1 | tee bench/known/train.log'
	$(PY) -m mgqa index build --out index

# Regenerate the command reference in docs/CLI.md and the settings table in docs/SETTINGS.md (a test keeps them in sync).
readme: install
	$(PY) scripts/update_readme.py

# Debian's chromium for the browser tests (Playwright drives it; never `playwright install`).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
