"""ovlt_eval — the foundation: answer grading, benchmarks, generation engines, runs.

Importing this package must stay light (no torch, no transformers): heavy libraries are
imported inside the functions that need them.
"""

__version__ = "0.1.0"
