"""`import ovlt_eval` (and the scorer's modules) must stay light: no torch, transformers, vllm, trl."""

import subprocess
import sys

HEAVY = ("torch", "transformers", "vllm", "trl", "sympy")


def test_core_imports_do_not_load_heavy_libraries():
    code = (
        "import sys, ovlt_eval, ovlt_eval.cli, ovlt_eval.grading, ovlt_eval.benchmarks, "
        "ovlt_eval.engines, ovlt_eval.profiles\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported: {out.stdout.strip()}"
