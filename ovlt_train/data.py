"""Training data: resolve `DIR_OR_HUB_ID[@ref]` into a trl-format `datasets.Dataset`.

Formats (what `ovlt_data.export` writes for trl):
  trl-sft   `messages` (conversational, plain-string contents) + `images`
  trl-grpo  `prompt` (conversational) + `images` + `solution` (gold answer)
and the two formats the released OpenVLThinker data comes in, read into those:
  LLaMA-Factory sharegpt (ydeng9/OpenVLThinker-sft-iter3): `messages` with string contents holding
      one `<image>` per entry of `images` -> typed parts with the image where its placeholder was
      (train/llama-factory/data/dataset_info.json:2-15; `from`/`value` turns are read too)
  EasyR1 (ydeng9/medium_grpo_only, ydeng9/OpenVLThinker-grpo-hard): `problem` with `<image>`,
      `answer`, `images` -> `prompt` + `solution` (train/easyr1/examples/config.yaml:4-6)
A row whose placeholders do not number its images (LLaMA-Factory refuses it too,
mm_plugin.py:359-360) is dropped and counted, never an abort.

A spec's `@ref` is a dataset config (sft, grpo_medium, grpo_hard, …) when the source has
one by that name, a split (train, test, validation: EasyR1's `repo@train`), otherwise a Hub
revision; `@rev:config` names both. A config the command assumed (`sft`) rather than one the user
named falls back to the whole dataset when the source has no such config (released data has none).
"""

from __future__ import annotations

import fcntl
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError
from ovlt_train.released_data import clean_content, drop_bad_rows, released_to_trl, turns_problem

log = logging.getLogger(__name__)

KNOWN_CONFIGS = ("sft", "grpo_easy", "grpo_medium", "grpo_hard", "grpo")
SPLITS = ("train", "test", "validation")
# The released GRPO sets are one curriculum stage each (openvlthinker_grpo_{medium,hard}.sh:8).
RELEASED_GRPO_STAGE = {
    "ydeng9/medium_grpo_only": "grpo_medium",
    "ydeng9/OpenVLThinker-grpo-hard": "grpo_hard",
    "ydeng9/hard_grpo_geo": "grpo_hard",
}
FORMAT_COLUMNS = {"trl-sft": ("messages",), "trl-grpo": ("prompt", "solution")}
_DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".arrow")


@dataclass(frozen=True)
class DataSpec:
    source: str  # local path or Hub id
    revision: str | None
    config: str | None
    split: str = "train"
    # True when `config` is the command's assumption, not the user's: a source without that
    # config is then read whole
    config_is_default: bool = False

    @property
    def is_local(self) -> bool:
        return Path(self.source).exists()

    @property
    def released_format(self) -> str | None:
        """'llamafactory' / 'easyr1' for the authors' released Hub datasets, else None."""
        from ovlt_data.sources.hub import RELEASED_TRAINING_DATA

        return RELEASED_TRAINING_DATA.get(self.source)

    def with_config(self, config: str | None, *, is_default: bool) -> DataSpec:
        return DataSpec(self.source, self.revision, config, self.split, is_default)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "revision": self.revision,
            "config": self.config,
            "split": self.split,
        }


def parse_spec(text: str, default_config: str | None = None) -> DataSpec:
    source, _, ref = text.partition("@")
    if not source:
        raise UserError(f"--data: empty source in {text!r}")
    revision: str | None = None
    config: str | None = default_config
    is_default = default_config is not None
    split = "train"
    if ref:
        if ":" in ref:
            revision, _, config = ref.partition(":")
            revision, is_default = revision or None, False
        elif ref in KNOWN_CONFIGS or (Path(source) / ref).exists():
            config, is_default = ref, False
        elif ref in SPLITS:
            split = ref
        else:
            revision = ref
    if not Path(source).exists() and ("/" not in source or source.startswith((".", "/"))):
        raise UserError(f"--data: {source!r} is neither a local path nor a Hub id (owner/name)")
    return DataSpec(source, revision, config, split, is_default)


def _data_files(root: Path) -> list[Path]:
    files = [p for p in sorted(root.rglob("*")) if p.suffix in _DATA_SUFFIXES and p.is_file()]
    return [p for p in files if p.name not in {"manifest.json", "dataset_info.json", "state.json"}]


def _is_ovlt_version_dir(root: Path) -> bool:
    return (root / "manifest.json").is_file()


def _split_files(files: list[Path], split: str) -> list[Path]:
    """Hub-style `train-00000-of-00001.parquet` / `test.jsonl` files: those of one split (all
    files when none is named after a split)."""

    def split_of(p: Path) -> str | None:
        head = p.name.split("-")[0].split(".")[0].split("_")[0]
        return head if head in SPLITS else None

    if not any(split_of(p) for p in files):
        return files
    return [p for p in files if split_of(p) == split]


def _config_files(
    root: Path, config: str | None, *, fallback: bool = False, split: str = "train"
) -> list[Path]:
    """Data files of one config: a `config/` (or `data/config/`) folder, or files named after it.
    `fallback`: a source without that config is read whole (one split of it)."""
    if root.is_file():
        return [root]
    if config is None:
        return _split_files(_data_files(root), split)
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
    if fallback and not any(
        p.stem == c or p.parent.name == c for p in _data_files(root) for c in KNOWN_CONFIGS
    ):
        return _split_files(_data_files(root), split)
    raise UserError(f"--data: {root} has no config {config!r}")


def has_config(spec: DataSpec, config: str) -> bool:
    """Whether a local source holds `config` (Hub sources are assumed to, released ones not)."""
    if not spec.is_local:
        return spec.released_format is None
    root = Path(spec.source)
    if root.is_file():
        return False
    if _is_ovlt_version_dir(root):
        return True
    try:
        _config_files(root, config)
    except UserError:
        return False
    return True


def _load_files(files: list[Path]):
    import datasets

    if not files:
        raise UserError("--data: no .parquet/.jsonl files found")
    # datasets logs its own ERROR line before raising: the one line is ours, naming the file
    verbosity = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        return _read_files(files)
    except (UserError, OSError):
        raise  # an OSError is the disk's (full, read-only): `main` reports it as such
    except Exception as err:  # noqa: BLE001 — a torn, truncated or mis-encoded file: one line
        if isinstance(err.__cause__, OSError) and err.__cause__.errno is not None:
            raise err.__cause__ from None  # the datasets cache could not be written
        raise UserError(unreadable(files, err)) from None
    finally:
        datasets.logging.set_verbosity(verbosity)


def unreadable(files: list[Path], err: Exception) -> str:
    """Which file (and line) could not be read, and why: a copy cut short is the usual cause."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for f in files:
        if f.suffix == ".parquet":
            try:
                pq.ParquetFile(f).metadata  # noqa: B018 — reading the footer is the check
            except (pa.ArrowException, OSError) as e:
                return f"--data: {f}: corrupt or truncated parquet ({_first_line(e)})"
        elif f.suffix == ".jsonl":
            with f.open("rb") as fh:
                for i, raw in enumerate(fh, 1):
                    if not raw.strip():
                        continue
                    try:
                        row = json.loads(raw.decode("utf-8").rstrip("\r\n"))
                    except UnicodeDecodeError:
                        return f"--data: {f} line {i}: not UTF-8 text"
                    except ValueError as e:
                        cut = "" if raw.endswith(b"\n") else "; the last line, cut short?"
                        return f"--data: {f} line {i}: not valid JSON ({_first_line(e)}{cut})"
                    if not isinstance(row, dict):
                        return f"--data: {f} line {i}: a JSON {type(row).__name__}, not an object"
    cause = err.__cause__ or err.__context__ or err
    return f"--data: cannot read {', '.join(map(str, files[:3]))}: {_first_line(cause)}"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]


def _read_files(files: list[Path]):
    import datasets

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
    from ovlt_data.artifact import read_manifest  # its checks: a corrupt manifest is one line

    fingerprint = read_manifest(Path(spec.source))["fingerprint"]
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
            files = _config_files(
                root, spec.config, fallback=spec.config_is_default, split=spec.split
            )
            ds = _load_files(files)
            # relative image paths resolve against their file; they must stay in --data
            ds = _absolutise_image_paths(ds, files[0].parent, root if root.is_dir() else None)
    else:  # the Hub: real code path, never exercised offline
        config = spec.config
        if spec.released_format and spec.config_is_default:
            config = None  # the released sets have no configs, only train / test splits
        from ovlt_eval.hub_access import check_hub_ref

        check_hub_ref(spec.source, repo_type="dataset", what="--data")
        try:
            ds = datasets.load_dataset(
                spec.source, config, revision=spec.revision, split=spec.split
            )
        except Exception as err:  # noqa: BLE001 — network/auth/missing config: one line
            raise UserError(
                f"--data: cannot load {spec.source} from the Hub: {str(err).splitlines()[0]}"
            ) from None
    return normalise(ds, fmt, where=spec.source, allow_empty=allow_empty)


def _has_columns(root: Path, fmt: str, config: str | None) -> bool:
    try:
        files = _config_files(root, config, fallback=True)
        ds = _load_files(files[:1])
    except Exception:  # noqa: BLE001 — unreadable here means "not already in trl format"
        return False
    return all(c in ds.column_names for c in FORMAT_COLUMNS[fmt])


def _absolutise_image_paths(ds, base: Path, root: Path | None = None):
    if "images" not in ds.column_names:
        return ds
    feature = ds.features["images"]
    inner = getattr(feature, "feature", None)
    if type(inner).__name__ == "Image":
        return ds  # already an Image feature (bytes or resolvable paths)

    from ovlt_train.image_rows import checked_image, images_problem

    def fix(example, row):
        # inside the data folder, regular, decodable: the benchmark loaders' rule (image_rows.py)
        bad = images_problem(example["images"])
        if bad:
            raise UserError(f"--data: row {row}: {bad}")
        out = []
        for img in example["images"] or []:
            if isinstance(img, str) and "://" not in img:
                img = checked_image(img, base, row, root=root)
            out.append(img)
        return {"images": out}

    return ds.map(fix, with_indices=True)


def normalise(ds, fmt: str, *, where: str = "data", allow_empty: bool = False):
    """Check columns, cast `images` to a lazily decoded Image sequence, tidy messages."""
    import datasets

    ds = released_to_trl(ds, fmt, where=where)
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
    # a row whose turns are not {role, content} (a number, a turn without content) would stop the
    # trainer with a KeyError at the first batch: dropped here with a warning, as a bad row
    ds = ds.map(lambda turns: {"_bad": turns_problem(turns)}, input_columns=[msg_col])
    ds = drop_bad_rows(ds, where)

    def tidy(example):
        return {
            msg_col: [
                {"role": m["role"], "content": clean_content(m["content"])}
                for m in example[msg_col]
            ]
        }

    if ds.features[msg_col].__class__.__name__ != "Value":
        ds = ds.map(tidy)
    if "images" in ds.column_names:
        inner = getattr(ds.features["images"], "feature", None)
        if type(inner).__name__ != "Image":
            try:
                ds = ds.cast_column("images", datasets.List(datasets.Image()))
            except (TypeError, ValueError, NotImplementedError) as err:  # arrow errors included
                raise UserError(
                    f"--data {where}: column images is not a list of image paths or bytes "
                    f"({_first_line(err)})"
                ) from None
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
