"""Is a model / dataset reference a local folder, a Hub id we can load, or a mistake — decided in
seconds, before transformers / datasets start their minutes of "Retrying…" against an unreachable
Hub.

Every CLI asks here first (`check_model_ref`, `check_hub_ref`):
- a reference that looks like a path (starts with `.`, `/`, `~`, has two or more `/`, or its
  first folder exists here) and is not there is one line naming the missing folder;
- a Hub id with `HF_HUB_OFFLINE=1` must be in the local Hub cache, else one line;
- a Hub id without it: one probe of the Hub endpoint (one attempt, a few seconds). Unreachable
  and cached: the process switches to offline mode so the libraries read the cache without a
  retry storm; unreachable and not cached: one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from ovlt_eval.errors import UserError

PROBE_TIMEOUT_S = 5.0
_TRUE = ("1", "true", "yes", "on")
_probe_result: dict[str, str | None] = {}  # endpoint -> None (reachable) or why not


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_unreachable() -> str | None:
    """None when the Hub answers (any HTTP status), else a short reason. One attempt per process;
    urllib honours the proxy variables."""
    import urllib.error
    import urllib.request

    url = _endpoint()
    if url in _probe_result:
        return _probe_result[url]
    why: str | None = None
    try:
        req = urllib.request.Request(url + "/api/whoami-v2", method="HEAD")
        urllib.request.urlopen(req, timeout=PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        why = None  # it answered: reachable (401 without a token is the normal reply)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        why = f"{url} unreachable: {str(reason).strip() or type(reason).__name__}"[:160]
    _probe_result[url] = why
    return why


def in_hub_cache(repo_id: str, repo_type: str = "model") -> bool:
    """A snapshot of the repo is in the local Hub cache (what offline loading can read)."""
    from huggingface_hub import constants

    folder = Path(constants.HF_HUB_CACHE) / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snaps = folder / "snapshots"
    return snaps.is_dir() and any(snaps.iterdir())


def go_offline() -> None:
    """From here on this process reads only the Hub cache (env for subprocesses; the libraries'
    constants, which they read at import time, for this one)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    try:
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = True
    except ImportError:  # pragma: no cover - a core dependency
        pass
    import sys

    if "datasets" in sys.modules:
        sys.modules["datasets"].config.HF_HUB_OFFLINE = True


def looks_local(ref: str) -> bool:
    """Hub ids are `name` or `owner/name`; anything else is meant as a path. `owner/name` whose
    `owner` is a folder here is a path too (e.g. `checkpoints/sft-iter1`)."""
    if ref.startswith((".", "/", "~")) or ref.count("/") > 1 or os.sep != "/" and os.sep in ref:
        return True
    head = ref.split("/", 1)[0]
    return "/" in ref and Path(head).is_dir()


def check_hub_ref(
    ref: str, *, repo_type: str, what: str, hint: str = "", could_be_path: bool = True
) -> None:
    """A Hub id that cannot be loaded here is one UserError line, in seconds. `could_be_path`:
    the user may have meant a folder, so the line says there is none."""
    kind = "dataset" if repo_type == "dataset" else "model"
    nofolder = "no such folder here, and " if could_be_path else ""
    if hub_offline():
        # datasets keeps its own cache of prepared datasets besides the Hub's, and fails fast
        # offline by itself: only a model is checked against the Hub cache here.
        if repo_type == "model" and not in_hub_cache(ref, repo_type):
            raise UserError(
                f"{what} {ref}: {nofolder}HF_HUB_OFFLINE is set and the {kind} is "
                f"not in the local Hub cache{hint}"
            )
        return
    why = hub_unreachable()
    if why is None:
        return
    if in_hub_cache(ref, repo_type):
        go_offline()  # read the cached copy; no retries against a Hub that is not there
        return
    raise UserError(
        f"{what} {ref}: {nofolder}as a Hub {kind} id it cannot be downloaded "
        f"({why}) nor found in the local Hub cache{hint}"
    )


def check_model_ref(ref: str, *, what: str = "--model") -> None:
    """A model reference is a checkpoint folder (with config.json) or a loadable Hub id."""
    path = Path(ref).expanduser()
    if path.exists():
        if path.is_dir() and not (path / "config.json").is_file():
            raise UserError(f"{what} {ref}: not a model checkpoint (no config.json in it)")
        return
    if looks_local(ref):
        raise UserError(f"{what} {ref}: no such folder (give a checkpoint folder or a Hub id)")
    check_hub_ref(ref, repo_type="model", what=what)
