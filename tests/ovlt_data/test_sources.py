import io
import json
from pathlib import Path

import pytest
from PIL import Image as PILImage

from ovlt_data.schema import Example, Rejected
from ovlt_data.sources import SourceContext, get_source_kind
from ovlt_data.sources.synthetic import synthetic_example
from ovlt_eval.errors import UserError

from .helpers import SHARED

CTX = SourceContext(max_pixels=20_000_000, base_dir=Path("."))


def _open(kind, opts, name="src", ctx=CTX):
    k = get_source_kind(kind)
    return list(k.open(name, k.validate_options(opts, "test"), ctx))


def test_synthetic_is_deterministic_and_exact():
    a = _open("synthetic", {"n": 30, "seed": 3})
    b = _open("synthetic", {"n": 30, "seed": 3})
    assert [x.images[0].sha256 for x in a] == [x.images[0].sha256 for x in b]
    assert [x.answer for x in a] == [x.answer for x in b]
    c = _open("synthetic", {"n": 30, "seed": 4})
    assert [x.images[0].sha256 for x in a] != [x.images[0].sha256 for x in c]
    tasks = {x.provenance["task"] for x in a}
    assert tasks == {"counting", "bar_chart", "geometry"}
    assert any(x.answer_type == "multi_choice" for x in a) and any(
        x.answer_type == "integer" for x in a
    )
    for x in a:
        if x.answer_type == "multi_choice":
            assert x.answer in "ABCDE"[: len(x.choices)]
        else:
            assert x.answer.isdigit()


def test_synthetic_hypotenuse_answer_matches_the_drawn_triangle():
    for i in range(60):
        ex = synthetic_example("s", 0, i, ["geometry"], 0.0)
        if "hypotenuse" in ex.question:
            assert int(ex.answer) in (5, 13, 10, 17, 15, 25)


def _png(w=32, h=32) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (w, h), "red").save(buf, format="PNG")
    return buf.getvalue()


def test_local_bad_inputs_are_rejected_with_reasons(tmp_path):
    (tmp_path / "ok.png").write_bytes(_png())
    (tmp_path / "corrupt.png").write_bytes(_png()[:40])
    (tmp_path / "huge.png").write_bytes(_png(8000, 6500))  # 52 MP, tiny file
    rows = [
        {"id": "ok", "question": "How many?", "answer": "3", "image": "ok.png"},
        {"id": "corrupt", "question": "How many?", "answer": "3", "image": "corrupt.png"},
        {"id": "missing", "question": "How many?", "answer": "3", "image": "nope.png"},
        {"id": "empty", "question": "How many?", "answer": "  ", "image": "ok.png"},
        {"id": "nonstr", "question": "How many?", "answer": ["3"], "image": "ok.png"},
        {"id": "nofield", "question": "How many?", "image": "ok.png"},
        {"id": "huge", "question": "How many?", "answer": "3", "image": "huge.png"},
        {"id": "num", "question": "How many?", "answer": 4, "image": "ok.png"},
    ]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    out = _open("local", {"path": str(path), "fields": {"id": "id"}})
    by_id = {x.id.split(":", 1)[1]: x for x in out}
    assert isinstance(by_id["ok"], Example) and by_id["ok"].answer_type == "integer"
    assert isinstance(by_id["num"], Example) and by_id["num"].answer == "4"
    reasons = {k: v.reason for k, v in by_id.items() if isinstance(v, Rejected)}
    assert reasons == {
        "corrupt": "corrupt_image",
        "missing": "missing_image",
        "empty": "empty_answer",
        "nonstr": "bad_answer",
        "nofield": "missing_field",
        "huge": "image_too_large",
        "8": "bad_record",
    }
    assert by_id["nofield"].detail == "answer"


def test_local_parquet_and_image_folder(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.Table.from_pylist(
            [
                {
                    "q": "What is 2+2?",
                    "a": "4",
                    "opts": None,
                    "img": {"bytes": _png(), "path": None},
                },
                {
                    "q": "Pick one",
                    "a": "1",
                    "opts": ["x", "y"],
                    "img": {"bytes": _png(), "path": None},
                },
            ]
        ),
        tmp_path / "d.parquet",
    )
    out = _open(
        "local",
        {
            "path": str(tmp_path / "d.parquet"),
            "fields": {
                "question": "q",
                "answer": "a",
                "choices": "opts",
                "images": "img",
                "answer_format": "choice_index",
            },
        },
    )
    assert [x.answer for x in out] == ["4", "B"]
    assert out[1].choices == ("x", "y") and out[1].answer_type == "multi_choice"

    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.png").write_bytes(_png())
    (folder / "metadata.jsonl").write_text(
        json.dumps({"file_name": "a.png", "question": "q?", "answer": "1"}) + "\n"
    )
    out = _open("local", {"path": str(folder)})
    assert isinstance(out[0], Example) and out[0].images[0].width == 32


def test_local_missing_path_is_one_line():
    with pytest.raises(UserError, match="path not found"):
        _open("local", {"path": "/nonexistent/x.jsonl"})


@pytest.mark.skipif(
    not (SHARED / "sources" / "tabmwp").exists(), reason="shared TabMWP not present"
)
def test_tabmwp_local_reads_the_real_files():
    out = _open("tabmwp_local", {"path": str(SHARED / "sources" / "tabmwp")})
    assert len(out) == 1000 and all(isinstance(x, Example) for x in out)
    kinds = {x.answer_type for x in out}
    assert {"integer", "float", "multi_choice"} <= kinds
    mc = next(x for x in out if x.answer_type == "multi_choice")
    assert mc.answer in mc.choices


def test_hub_source_offline_is_one_line(monkeypatch):
    import datasets.config
    import huggingface_hub.constants

    # read at import time, so set the constants too (no network wait in the test)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError) as e:
        _open("hub", {"dataset": "geometry3k"}, name="geo")
    assert "hiyouga/geometry3k" in str(e.value) and "\n" not in str(e.value)
