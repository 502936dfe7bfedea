"""Reading benchmark parquet files with bounds that hold for hostile files.

Parquet compresses: a 2.8 KB MMMU-Pro file whose options are a 10 MB list literal took 22 s
and 2.6 GB, a 14.7 KB file held a 400 MB question, and one row had a million options. So the
sizes are checked before any Python object is built: first the file's own metadata (rows,
each column chunk's uncompressed size), then, row group by row group, each cell's size on the
Arrow arrays (dictionary-encoded columns are kept encoded for this, so a value repeated on
every row is not expanded first). Past a bound the file is refused in one line naming the
column and the row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ovlt_eval.engines.images import MAX_IMAGE_BYTES
from ovlt_eval.errors import UserError

MAX_ROWS = 1_000_000  # the largest benchmark split has tens of thousands of rows
MAX_TEXT_CELL_BYTES = 1 << 20  # a question or an options literal: a few KB at most
MAX_BINARY_CELL_BYTES = MAX_IMAGE_BYTES  # an inlined image
MAX_LIST_ITEMS = 1000  # options, images per row: tens at most
MAX_TEXT_BYTES = 512 << 20  # all text of a file once expanded (as loading.MAX_TEXT_BYTES)
MAX_TEXT_CHUNK_BYTES = 256 << 20  # uncompressed text of one column chunk
MAX_CHUNK_BYTES = 8 << 30  # uncompressed size of any one column chunk (images included)


def read_parquet_rows(paths: list[Path]) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    text_total = 0
    for path in paths:
        f = pq.ParquetFile(path)
        meta = f.metadata
        if len(rows) + meta.num_rows > MAX_ROWS:
            raise UserError(f"{path}: over {MAX_ROWS:,} rows; is this a benchmark split?")
        _check_metadata(path, meta)
        byte_columns = [
            field.name for field in f.schema_arrow if _is_bytes(field.type)
        ]  # read dictionary-encoded where stored so: sized before being expanded
        f = pq.ParquetFile(path, read_dictionary=byte_columns)
        for group in range(meta.num_row_groups):
            table = f.read_row_group(group)
            first_row = len(rows)
            for name, column in zip(table.column_names, table.columns, strict=True):
                text_total += _check_cells(path, name, column, first_row)
                if text_total > MAX_TEXT_BYTES:
                    raise UserError(
                        f"{path}: over {MAX_TEXT_BYTES >> 20} MiB of text; is this a benchmark?"
                    )
            rows.extend(table.to_pylist())
    return rows


def _check_metadata(path: Path, meta) -> None:
    for group in range(meta.num_row_groups):
        rg = meta.row_group(group)
        for c in range(rg.num_columns):
            chunk = rg.column(c)
            size = chunk.total_uncompressed_size
            text = chunk.physical_type == "BYTE_ARRAY" and "String" in _logical(meta, c)
            limit = MAX_TEXT_CHUNK_BYTES if text else MAX_CHUNK_BYTES
            if size > limit:
                raise UserError(
                    f"{path}: column {chunk.path_in_schema} holds {size >> 20} MiB once "
                    f"decompressed (row group {group}), over the {limit >> 20} MiB a benchmark "
                    "column could; is this the official file?"
                )


def _logical(meta, c: int) -> str:
    try:
        return str(meta.schema.column(c).logical_type)
    except Exception:  # noqa: BLE001 - an odd schema only loses the text/binary distinction
        return ""


def _is_bytes(t) -> bool:
    import pyarrow as pa

    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)


def _check_cells(path: Path, name: str, column, first_row: int) -> int:
    """Refuse a cell over its bound; the number of text bytes the column expands to."""
    total = 0
    for chunk in column.chunks:
        total += _check_array(path, name, chunk, first_row)
        first_row += len(chunk)
    return total


def _check_array(path: Path, name: str, arr, first_row: int) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if pa.types.is_dictionary(t):
        lengths = pc.binary_length(arr.dictionary) if _is_bytes(t.value_type) else None
        if lengths is None:
            return _check_array(path, name, arr.dictionary, first_row)
        per_row = pc.take(lengths, arr.indices)
        return _check_lengths(path, name, per_row, pa.types.is_binary(t.value_type), first_row)
    if _is_bytes(t) or pa.types.is_large_binary(t):
        lengths = pc.binary_length(arr)
        return _check_lengths(path, name, lengths, pa.types.is_binary(t), first_row)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        counts = pc.list_value_length(arr)
        most = pc.max(counts).as_py() or 0
        if most > MAX_LIST_ITEMS:
            row = first_row + pc.index(counts, most).as_py()
            raise UserError(
                f"{path}: row {row} has {most:,} items in {name} (at most {MAX_LIST_ITEMS:,})"
            )
        return _check_array(path, name, arr.flatten(), first_row)
    if pa.types.is_struct(t):
        return sum(
            _check_array(path, f"{name}.{t.field(i).name}", arr.field(i), first_row)
            for i in range(t.num_fields)
        )
    return 0


def _check_lengths(path: Path, name: str, lengths, binary: bool, first_row: int) -> int:
    import pyarrow.compute as pc

    if len(lengths) == 0:
        return 0
    limit = MAX_BINARY_CELL_BYTES if binary else MAX_TEXT_CELL_BYTES
    most = pc.max(lengths).as_py() or 0
    if most > limit:
        row = first_row + pc.index(lengths, most).as_py()
        raise UserError(
            f"{path}: row {row}: {name} holds {most:,} bytes, over the {limit:,} a benchmark "
            "field could; is this the official file?"
        )
    return 0 if binary else int(pc.sum(lengths).as_py() or 0)
