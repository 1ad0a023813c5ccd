# The two commands of the README: `make run` and `make test`. Each sets itself up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test test-slow lint format bench figures clean browser

# Install the package (editable) with its test extras into .venv, again whenever pyproject changes.
# pip resolves torch/torchvision from the machine's local wheels; uv/poetry would download gigabytes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

## run: the editor on the shipped model, at http://127.0.0.1:7860
run: $(STAMP)
	$(BIN)/latentkit editor --model faces64

## browser: Debian's chromium for the editor's browser tests (Playwright never downloads one)
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && S= || S=sudo; \
		$$S apt-get update && $$S apt-get install -y chromium; }

## test: lint, then the test suite (everything not marked slow)
test: $(STAMP) lint browser
	$(BIN)/python -m pytest -m "not slow" -q --durations=15

## test-slow: the heavier checks (fault injection, long sweeps)
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: every speed benchmark -> docs/benchmarks.md (~20 min; run it on an idle machine)
bench: $(STAMP) browser
	$(BIN)/python benchmarks/run_all.py --model pretrained/faces64

## figures: regenerate the figures in docs/
figures: $(STAMP)
	$(BIN)/python docs/make_faces_figure.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
