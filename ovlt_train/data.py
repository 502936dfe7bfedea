"""Training data: resolve `DIR_OR_HUB_ID[@ref]` into a trl-format `datasets.Dataset`.

Formats (what `ovlt_data.export` writes for trl):
  trl-sft   `messages` (conversational, plain-string contents) + `images`
  trl-grpo  `prompt` (conversational) + `images` + `solution` (gold answer)

A spec's `@ref` is a dataset config (sft, grpo_medium, grpo_hard, …) when the source has
one by that name, otherwise a Hub revision; `@rev:config` names both.
"""

from __future__ import annotations

import fcntl
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError

KNOWN_CONFIGS = ("sft", "grpo_easy", "grpo_medium", "grpo_hard", "grpo")
FORMAT_COLUMNS = {"trl-sft": ("messages",), "trl-grpo": ("prompt", "solution")}
_DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".arrow")


@dataclass(frozen=True)
class DataSpec:
    source: str  # local path or Hub id
    revision: str | None
    config: str | None

    @property
    def is_local(self) -> bool:
        return Path(self.source).exists()

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "revision": self.revision, "config": self.config}


def parse_spec(text: str, default_config: str | None = None) -> DataSpec:
    source, _, ref = text.partition("@")
    if not source:
        raise UserError(f"--data: empty source in {text!r}")
    revision: str | None = None
    config: str | None = default_config
    if ref:
        if ":" in ref:
            revision, _, config = ref.partition(":")
            revision = revision or None
        elif ref in KNOWN_CONFIGS or (Path(source) / ref).exists():
            config = ref
        else:
            revision = ref
    if not Path(source).exists() and ("/" not in source or source.startswith((".", "/"))):
        raise UserError(f"--data: {source!r} is neither a local path nor a Hub id (owner/name)")
    return DataSpec(source=source, revision=revision, config=config)


def _data_files(root: Path) -> list[Path]:
    files = [p for p in sorted(root.rglob("*")) if p.suffix in _DATA_SUFFIXES and p.is_file()]
    return [p for p in files if p.name not in {"manifest.json", "dataset_info.json", "state.json"}]


def _is_ovlt_version_dir(root: Path) -> bool:
    return (root / "manifest.json").is_file()


def _config_files(root: Path, config: str | None) -> list[Path]:
    """Data files of one config: a `config/` (or `data/config/`) folder, or files named after it."""
    if root.is_file():
        return [root]
    if config is None:
        return _data_files(root)
    for folder in (root / config, root / "data" / config):
        if folder.is_dir():
            return _data_files(folder)
    named = [
        p
        for p in _data_files(root)
        if p.stem == config or p.stem.startswith((f"{config}-", f"{config}."))
    ]
    if named:
        return named
    raise UserError(f"--data: {root} has no config {config!r}")


def _load_files(files: list[Path]):
    import datasets

    if not files:
        raise UserError("--data: no .parquet/.jsonl files found")
    suffix = files[0].suffix
    if suffix == ".arrow":
        return datasets.concatenate_datasets([datasets.Dataset.from_file(str(f)) for f in files])
    builder = "parquet" if suffix == ".parquet" else "json"
    same = [str(f) for f in files if f.suffix == suffix]
    if builder == "parquet":
        import pyarrow.parquet as pq

        if sum(pq.ParquetFile(f).metadata.num_rows for f in same) == 0:
            # `load_dataset` refuses an empty split; keep the schema so the checks still apply.
            return datasets.Dataset(pq.read_table(same[0]))
    elif all(Path(f).stat().st_size == 0 for f in same):
        return datasets.Dataset.from_list([])
    return datasets.load_dataset(builder, data_files=same, split="train")


def _export_version(spec: DataSpec, fmt: str, cache_dir: Path) -> Path:
    """An ovlt-data version dir → its trl export (cached next to the run)."""
    try:
        from ovlt_data.export import export_dataset
    except ImportError as err:  # the data factory is optional at import time
        raise UserError(
            f"--data: {spec.source} is an ovlt-data version dir but ovlt_data.export is unavailable ({err})"
        ) from None
    out = cache_dir / fmt
    marker = out / ".complete"
    # Keyed on the version's fingerprint: a rebuilt version is exported again.
    fingerprint = json.loads((Path(spec.source) / "manifest.json").read_text()).get(
        "fingerprint", ""
    )
    out.mkdir(parents=True, exist_ok=True)
    # Under `accelerate launch` every rank gets here at once: one exports, the others wait.
    with (out.parent / f".{fmt}.lock").open("a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if not marker.exists() or marker.read_text() != fingerprint:
            export_dataset(spec.source, fmt, str(out))
            marker.write_text(fingerprint)
    return out


def load_training_data(
    spec: DataSpec, fmt: str, *, cache_dir: str | Path | None = None, allow_empty: bool = False
):
    """Return a Dataset with the trl columns for `fmt`, images decoded lazily to PIL."""
    import datasets

    # Progress bars for a few local files are noise around a one-line error.
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        return _load_training_data(spec, fmt, cache_dir, allow_empty)
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _load_training_data(spec: DataSpec, fmt: str, cache_dir: str | Path | None, allow_empty: bool):
    import datasets

    if fmt not in FORMAT_COLUMNS:
        raise ValueError(fmt)
    if spec.is_local:
        root = Path(spec.source)
        if (
            root.is_dir()
            and _is_ovlt_version_dir(root)
            and not _has_columns(root, fmt, spec.config)
        ):
            version = root
            root = _export_version(spec, fmt, Path(cache_dir or root / ".ovlt_train_cache"))
            if spec.config and (version / "data" / spec.config).is_dir():
                try:
                    _config_files(root, spec.config)
                except UserError:
                    # The export leaves no file for an empty config: the round has no such rows.
                    empty = datasets.Dataset.from_dict({c: [] for c in FORMAT_COLUMNS[fmt]})
                    where = f"{spec.source}@{spec.config}"
                    return normalise(empty, fmt, where=where, allow_empty=allow_empty)
        if (
            root.is_dir()
            and (root / "dataset_info.json").is_file()
            and (root / "state.json").is_file()
        ):
            ds = datasets.load_from_disk(str(root))
        else:
            files = _config_files(root, spec.config)
            ds = _load_files(files)
            ds = _absolutise_image_paths(ds, files[0].parent)
    else:  # the Hub: real code path, never exercised offline
        try:
            ds = datasets.load_dataset(
                spec.source, spec.config, revision=spec.revision, split="train"
            )
        except Exception as err:  # noqa: BLE001 — network/auth/missing config: one line
            raise UserError(
                f"--data: cannot load {spec.source} from the Hub: {str(err).splitlines()[0]}"
            ) from None
    return normalise(ds, fmt, where=spec.source, allow_empty=allow_empty)


def _has_columns(root: Path, fmt: str, config: str | None) -> bool:
    try:
        files = _config_files(root, config)
        ds = _load_files(files[:1])
    except Exception:  # noqa: BLE001 — unreadable here means "not already in trl format"
        return False
    return all(c in ds.column_names for c in FORMAT_COLUMNS[fmt])


def _absolutise_image_paths(ds, base: Path):
    if "images" not in ds.column_names:
        return ds
    feature = ds.features["images"]
    inner = getattr(feature, "feature", None)
    if type(inner).__name__ == "Image":
        return ds  # already an Image feature (bytes or resolvable paths)

    def fix(example):
        out = []
        for img in example["images"] or []:
            if isinstance(img, str) and "://" not in img:
                path = Path(img) if Path(img).is_absolute() else base / img
                if not path.is_file():
                    raise UserError(
                        f"--data: image not found: {img} (relative paths resolve against {base})"
                    )
                img = str(path.resolve())
            out.append(img)
        return {"images": out}

    return ds.map(fix)


def _clean_content(content: Any) -> Any:
    # Arrow structs fill missing keys with None; chat templates expect absent keys.
    if isinstance(content, list):
        return [{k: v for k, v in block.items() if v is not None} for block in content]
    return content


def normalise(ds, fmt: str, *, where: str = "data", allow_empty: bool = False):
    """Check columns, cast `images` to a lazily decoded Image sequence, tidy messages."""
    import datasets

    missing = [c for c in FORMAT_COLUMNS[fmt] if c not in ds.column_names]
    if missing:
        raise UserError(
            f"--data {where}: not {fmt} data (missing column(s) {', '.join(missing)}; has {', '.join(ds.column_names)})"
        )
    if len(ds) == 0:
        if allow_empty:
            return ds
        raise UserError(f"--data {where}: the dataset is empty (no {fmt} rows)")
    msg_col = "messages" if fmt == "trl-sft" else "prompt"

    def tidy(example):
        return {
            msg_col: [
                {"role": m["role"], "content": _clean_content(m["content"])}
                for m in example[msg_col]
            ]
        }

    if ds.features[msg_col].__class__.__name__ != "Value":
        ds = ds.map(tidy)
    if "images" in ds.column_names:
        inner = getattr(ds.features["images"], "feature", None)
        if type(inner).__name__ != "Image":
            ds = ds.cast_column("images", datasets.List(datasets.Image()))
    if fmt == "trl-grpo":
        ds = (
            ds.cast_column("solution", datasets.Value("string"))
            if ds.features["solution"].dtype != "string"
            else ds
        )
    return ds


def write_jsonl(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Small helper for tests and the demo: rows with image paths → jsonl."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return p
