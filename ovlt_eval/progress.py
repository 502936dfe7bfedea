"""`--no-progress` for every command: one switch that silences every library's bars.

Our own bars are tqdm bars created only when progress is on; the libraries below draw their own
(transformers' "Loading weights" bar, hub downloads, datasets' map/filter), which only their
global switches turn off. Imports are lazy so `import ovlt_eval` stays light.
"""

from __future__ import annotations

import os


def silence_progress() -> None:
    """No bar from any library this process uses from now on."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TQDM_DISABLE"] = "1"  # tqdm reads it for every bar created from now on
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:
        pass
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
