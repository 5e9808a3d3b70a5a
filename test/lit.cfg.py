# -*- Python -*-
# Lit configuration for hsa's tests. Hermetic tests run everywhere; tests that
# need a tool or a GPU say so with `REQUIRES:` and are skipped cleanly
# (reported as UNSUPPORTED) where the feature is missing.

import os
import shutil
import subprocess

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "HSA"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py", "lit.site.cfg.py", "Inputs", "definitions.test.py", "replay-pipeline.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.hsa_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%hsa_src_root", config.hsa_src_root))
config.substitutions.append(("%hsa_obj_root", config.hsa_obj_root))
config.environment["FILECHECK_OPTS"] = "-enable-var-scope --allow-unused-prefixes=false"

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

# hsa-run is built by runtime/ (a subproject) into <build>/runtime.
config.hsa_runtime_dir = os.path.join(config.hsa_obj_root, "runtime")
tool_dirs = [config.hsa_tools_dir, config.hsa_runtime_dir, config.llvm_tools_dir]
if os.path.exists(os.path.join(config.hsa_runtime_dir, "hsa-run")):
    config.available_features.add("hsa-runtime")
config.substitutions.append(("%hsa_runtime_dir", config.hsa_runtime_dir))
config.substitutions.append(("%cxx", shutil.which("c++") or "g++"))
config.substitutions.append(("%cc", shutil.which("cc") or "gcc"))
for tool_dir in tool_dirs:
    llvm_config.with_environment("PATH", tool_dir, append_path=True)
tools = ["hsa-opt", "hsa-translate", "hsa-compile", "hsa-run", "mlir-opt"]
llvm_config.add_tool_substitutions(
    [ToolSubst(t, unresolved="ignore") for t in tools], tool_dirs)

# ptxas: assembling generated PTX needs the CUDA toolkit, not a GPU.
ptxas = shutil.which("ptxas") or (
    os.path.join(config.cuda_toolkit_dir, "bin", "ptxas")
    if os.path.exists(os.path.join(config.cuda_toolkit_dir, "bin", "ptxas")) else None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# cuda-gpu: a working NVIDIA GPU and driver (the integration tests run kernels).
def has_cuda_gpu():
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
        return out.returncode == 0 and "GPU" in out.stdout
    except (OSError, subprocess.TimeoutExpired):
        return False

if has_cuda_gpu():
    config.available_features.add("cuda-gpu")

python = shutil.which("python3")
if python:
    config.substitutions.append(("%python", python))
