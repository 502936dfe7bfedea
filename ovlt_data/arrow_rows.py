"""Python rows -> an Arrow table for the parquet writer, without `pa.array`.

`pa.array` / `Table.from_pylist` import pandas on first use (pyarrow probes every input for
pandas types), ~0.25 s per process: a fifth of a warm rebuild. The build's schema has six column
kinds (artifact.COLUMNS), so the columns are laid out here directly as Arrow buffers (validity
bitmap, int32 offsets, values) and assembled with `Array.from_buffers`, which needs no probing.
"""

from __future__ import annotations

from typing import Any


def _validity(np, pa, valid: list[bool]):
    if all(valid):
        return None
    return pa.py_buffer(np.packbits(np.array(valid, dtype=bool), bitorder="little").tobytes())


def _offsets(np, pa, lengths: list[int]):
    off = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=off[1:])
    if off[-1] >= 2**31:
        raise ValueError("a parquet row group over 2 GiB in one column: lower ROWS_PER_GROUP")
    return pa.py_buffer(off.astype(np.int32).tobytes())


def _binary(np, pa, typ, values: list[Any]):
    valid = [v is not None for v in values]
    texts = ["" if v is None else v for v in values]
    if all(isinstance(v, str) and v.isascii() for v in texts):
        # ASCII: one encode for the whole column, and a character count is a byte count
        lengths = [len(v) for v in texts]
        blob = "".join(texts).encode("ascii")
    else:
        data = [v.encode() if isinstance(v, str) else bytes(v) for v in texts]
        lengths = [len(b) for b in data]
        blob = b"".join(data)
    return pa.Array.from_buffers(
        typ,
        len(values),
        [_validity(np, pa, valid), _offsets(np, pa, lengths), pa.py_buffer(blob)],
        null_count=valid.count(False),
    )


def _fixed(np, pa, typ, values: list[Any]):
    valid = [v is not None for v in values]
    if pa.types.is_boolean(typ):
        flat = np.array([bool(v) for v in values], dtype=bool)
        data = np.packbits(flat, bitorder="little").tobytes()
    else:
        dtype = np.int64 if pa.types.is_int64(typ) else np.float64
        data = np.array([0 if v is None else v for v in values], dtype=dtype).tobytes()
    return pa.Array.from_buffers(
        typ,
        len(values),
        [_validity(np, pa, valid), pa.py_buffer(data)],
        null_count=valid.count(False),
    )


def column(typ, values: list[Any]):
    """One Arrow array of `typ` (string, binary, int64, float64, bool, list<...>, struct<...>)."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_string(typ) or pa.types.is_binary(typ):
        return _binary(np, pa, typ, values)
    if pa.types.is_int64(typ) or pa.types.is_float64(typ) or pa.types.is_boolean(typ):
        return _fixed(np, pa, typ, values)
    if pa.types.is_list(typ):
        valid = [v is not None for v in values]
        lengths = [0 if v is None else len(v) for v in values]
        child = column(typ.value_type, [x for v in values if v is not None for x in v])
        return pa.Array.from_buffers(
            typ,
            len(values),
            [_validity(np, pa, valid), _offsets(np, pa, lengths)],
            null_count=valid.count(False),
            children=[child],
        )
    if pa.types.is_struct(typ):
        valid = [v is not None for v in values]
        children = [
            column(f.type, [None if v is None else v.get(f.name) for v in values]) for f in typ
        ]
        return pa.Array.from_buffers(
            typ,
            len(values),
            [_validity(np, pa, valid)],
            null_count=valid.count(False),
            children=children,
        )
    raise TypeError(f"no row layout for arrow type {typ}")


def table(rows: list[dict[str, Any]], schema):
    """Same table as `pa.Table.from_pylist(rows, schema=schema)` for the build's column kinds."""
    import pyarrow as pa

    return pa.Table.from_arrays(
        [column(f.type, [r.get(f.name) for r in rows]) for f in schema], schema=schema
    )
