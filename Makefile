# hsa: two commands.
#   make demo   compile the example layers and run the main job
#   make check  build everything and run every test suite
# Both run scripts/setup.sh first (installs Debian packages once).

BUILD      ?= build
LLVM_DIR   ?= /usr/lib/llvm-22
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

HSA_OPT := $(BUILD)/bin/hsa-opt

# Seconds each fuzz target runs in `make check` (CI) and in `make fuzz`.
CHECK_FUZZ_SECONDS ?= 60
FUZZ_SECONDS       ?= 600

.PHONY: all setup configure build check check-fast fuzz demo docs clean gpu-bundle check-gpu

all: build

setup:
	@scripts/setup.sh

$(BUILD)/build.ninja:
	@scripts/setup.sh
	cmake -S . -B $(BUILD) -G Ninja \
	  -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
	  -DMLIR_DIR=$(LLVM_DIR)/lib/cmake/mlir \
	  -DLLVM_EXTERNAL_LIT=$(LLVM_DIR)/bin/lit \
	  $(CMAKE_ARGS)

configure: $(BUILD)/build.ninja

build: setup configure
	ninja -C $(BUILD) -j $(JOBS)

# Every suite: lit and ctest, then the runtime's suite again under
# ASan+UBSan and under TSan with its libFuzzer target, and the compiler's
# fuzz targets under ASan+UBSan, each for CHECK_FUZZ_SECONDS.
check: check-fast
	@echo "== runtime under ASan+UBSan and TSan, artifact fuzzer ($(CHECK_FUZZ_SECONDS) s) =="
	scripts/check-runtime-sanitized.sh $(BUILD) $(CHECK_FUZZ_SECONDS)
	@echo "== compiler fuzz targets under ASan+UBSan ($(CHECK_FUZZ_SECONDS) s each) =="
	# A fixed seed: a CI run replays the same mutations (make fuzz explores freely).
	HSA_FUZZ_ARGS="-seed=1 $(HSA_FUZZ_ARGS)" scripts/fuzz-compiler.sh $(BUILD)/fuzz-compiler $(CHECK_FUZZ_SECONDS)

# lit, ctest and the installed tree (minutes, for the edit-compile-test loop).
check-fast: build
	@echo "== lit: compiler tests =="
	$(LLVM_DIR)/bin/lit -sv $(BUILD)/test
	@if [ -f $(BUILD)/runtime/CTestTestfile.cmake ]; then \
	  echo "== ctest: runtime tests =="; \
	  ctest --test-dir $(BUILD)/runtime --output-on-failure -j $(JOBS); \
	fi
	@echo "== installed tree: cmake --install into $(BUILD)/install, its hsa-compile and hsa-run =="
	rm -rf $(BUILD)/install
	cmake --install $(BUILD) --prefix $(BUILD)/install >/dev/null
	$(BUILD)/install/bin/hsa-compile examples/llama3-8b-quest.mlir -o $(BUILD)/install-check.hsa >/dev/null
	$(BUILD)/install/bin/hsa-run $(BUILD)/install-check.hsa --backend=cpu --context=1K --steps=2 --check \
	  > $(BUILD)/install-check.log 2>&1 && grep '^check: .*all stages match' $(BUILD)/install-check.log

# Longer fuzzing of every target (FUZZ_SECONDS each); corpora grow in the
# build tree and are reused by the next run.
fuzz: setup
	scripts/fuzz-compiler.sh $(BUILD)/fuzz-compiler $(FUZZ_SECONDS)
	FUZZ_ONLY=1 scripts/check-runtime-sanitized.sh $(BUILD) $(FUZZ_SECONDS)

# Regenerate the dialect and pass reference (docs/reference) from ODS.
docs: configure
	ninja -C $(BUILD) mlir-doc
	mkdir -p docs/reference && cp $(BUILD)/docs/HSA/*.md docs/reference/

# Artifacts for the GPU machine (it has no LLVM/MLIR): carry $(BUILD)/gpu-bundle.
gpu-bundle: build
	@scripts/gpu-bundle.sh $(BUILD)

# On the GPU machine: build runtime/ there and check every artifact of the
# bundle against the CPU reference (README: "GPU checks").
check-gpu:
	@scripts/check-gpu.sh $(BUILD)/gpu-bundle build-gpu/runtime

demo: build
	@scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)
