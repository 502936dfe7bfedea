"""`--no-progress` for every command: one switch that silences every library's bars.

Our own bars are tqdm bars created only when progress is on; the libraries below draw their own
(transformers' "Loading weights" bar, hub downloads, datasets' map/filter), which only their
global switches turn off. Imports are lazy so `import ovlt_eval` stays light.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

_ENV = ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE")  # tqdm reads TQDM_DISABLE per bar


def silence_progress() -> None:
    """No bar from any library this process uses from now on (a CLI's `--no-progress`)."""
    for name in _ENV:
        os.environ[name] = "1"
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


@contextmanager
def quiet_progress(enabled: bool = True) -> Iterator[None]:
    """silence_progress() for the duration only: the Python API must not leave a caller's
    process without bars after one `progress=False` call."""
    if not enabled:
        yield
        return
    saved_env = {name: os.environ.get(name) for name in _ENV}
    restore = []
    try:
        import datasets

        if datasets.is_progress_bar_enabled():
            restore.append(datasets.enable_progress_bars)
    except ImportError:
        pass
    try:
        from transformers.utils import logging as hf_logging

        if hf_logging.is_progress_bar_enabled():
            restore.append(hf_logging.enable_progress_bar)
    except ImportError:
        pass
    silence_progress()
    try:
        yield
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for enable in restore:
            enable()
