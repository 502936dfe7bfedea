# Two commands for a newcomer: `make demo` and `make test` (each sets up .venv first).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch/torchvision for the [hf] extra. On the project's build machines these wheels lie
# on local disk (pip takes them without a download); override TORCH_SPEC elsewhere,
# e.g. `make test TORCH_SPEC="torch torchvision --index-url https://download.pytorch.org/whl/cpu"`.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test lint format clean

setup: $(VENV)/.ovlt-installed $(VENV)/mathv-latex2sympy2/ovlt-parser-fingerprint.json

$(VENV)/.ovlt-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[hf,train,data,dev]'
	# MATH-V's official evaluator's own LaTeX parser; its ANTLR pin clashes with Math-Verify's,
	# so it lives apart (ovlt_eval/benchmarks/mathvision_official.py).
	$(BIN)/ovlt-eval setup-official
	touch $@

# The official evaluator refuses a parser folder without the fingerprint setup-official writes
# (mathvision_parser.py): an environment set up before it gets one here.
$(VENV)/mathv-latex2sympy2/ovlt-parser-fingerprint.json: ovlt_eval/benchmarks/mathvision_parser.py | $(VENV)/.ovlt-installed
	$(BIN)/ovlt-eval setup-official

demo: setup
	$(BIN)/python -m ovlt_train.demo

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
