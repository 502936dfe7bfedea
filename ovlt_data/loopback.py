"""Moved: the demo's loopback "teacher" is `ovlt_eval.testing.openai_server` (teacher replies).

Kept as a name only because the demo (`ovlt_train/demo.py`), the README and the cards still
say `python -m ovlt_data.loopback`; new code imports `ovlt_eval.testing.openai_server`.
"""

from __future__ import annotations

import sys

from ovlt_eval.testing.openai_server import main, serve, teacher_reply

__all__ = ["main", "serve", "teacher_reply"]

if __name__ == "__main__":
    sys.exit(main())
