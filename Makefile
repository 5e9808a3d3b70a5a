# hsa: two commands.
#   make demo   compile the example layers and run the main job
#   make check  build everything and run every test suite
# Both run scripts/setup.sh first (installs Debian packages once).

BUILD      ?= build
LLVM_DIR   ?= /usr/lib/llvm-22
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

HSA_OPT := $(BUILD)/bin/hsa-opt

.PHONY: all setup configure build check demo docs clean gpu-bundle check-gpu

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

check: build
	@echo "== lit: compiler tests =="
	$(LLVM_DIR)/bin/lit -sv $(BUILD)/test
	@if [ -f $(BUILD)/runtime/CTestTestfile.cmake ]; then \
	  echo "== ctest: runtime tests =="; \
	  ctest --test-dir $(BUILD)/runtime --output-on-failure -j $(JOBS); \
	fi

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
