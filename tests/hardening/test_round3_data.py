"""Issue 18 (hostile input, round 3), data and training side: one bad source row is one
rejected row with a named reason; training readers refuse bad rows in one line naming them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ovlt_eval.errors import UserError
from tests.hardening.test_redteam_data import _build, _card, _jsonl, _png, _rows


def test_choices_that_are_no_option_list_are_rejected_rows(tmp_path, capsys):
    # item 3: 27 choices was IndexError in prompts.py (LETTERS[26]); a literal `5` TypeError;
    # "-" * 100000 + "1" MemoryError in ast.literal_eval.
    img = _png(tmp_path / "a.png")
    rows = [
        {"question": "q?", "answer": "A", "image": img, "choices": "['x', 'y']"},
        {
            "question": "q27?",
            "answer": "A",
            "image": img,
            "choices": str([str(i) for i in range(27)]),
        },
        {"question": "q5?", "answer": "A", "image": img, "choices": "5"},
        {"question": "qm?", "answer": "A", "image": img, "choices": "-" * 100_000 + "1"},
        {"question": "qn?", "answer": "A", "image": img, "choices": "[[1], {'a': 2}]"},
        {"question": "q2?", "answer": "B", "image": img, "choices": "['u', 'v']"},
    ]
    _jsonl(tmp_path / "rows.jsonl", rows)
    fields = {"choices": "choices", "choices_format": "python_list_string"}
    card = _card(tmp_path, {"kind": "local", "path": "rows.jsonl", "fields": fields})
    # a prompt-building stage reads the choices: question_block letters them
    assert _build(card, tmp_path / "out") == 0, capsys.readouterr().err
    v = tmp_path / "out" / "rt" / "v1"
    assert [r["question"] for r in _rows(v, "sft")] == ["q?", "q2?"]
    rejected = _rows(v, "rejected")
    assert [r["reject_reason"] for r in rejected] == ["bad_choices"] * 4
    details = [r["reject_detail"] for r in rejected]
    assert "27 choices" in details[0]
    assert "int, not a list" in details[1]
    assert "characters" in details[2]
    assert "not text" in details[3]


# ----- items 7 and 10: the training readers -----


def _sharegpt(images) -> dict:
    turns = [{"role": "user", "content": "<image>How many?"}, {"role": "assistant", "content": "2"}]
    return {"messages": turns, "images": images}


def _load(path: Path, fmt: str = "trl-sft"):
    from ovlt_train.data import load_training_data, parse_spec

    return load_training_data(parse_spec(str(path)), fmt)


def _refusal(path: Path, fmt: str = "trl-sft") -> str:
    with pytest.raises(UserError) as err:
        _load(path, fmt)
    return str(err.value)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    _png(folder / "ok.png")
    return folder


def test_training_images_outside_the_data_folder_are_refused(data_dir, tmp_path, monkeypatch):
    outside = tmp_path / "outside.png"
    _png(outside)
    rows = _jsonl(data_dir / "rows.jsonl", [_sharegpt(["ok.png"]), _sharegpt([str(outside)])])
    why = _refusal(rows)  # was: trained on the file outside (rc 0)
    assert "row 1" in why and "absolute path outside the data folder" in why
    assert "--allow-absolute-images" in why
    # LLaMA-Factory-style absolute paths: an explicit opt-in
    monkeypatch.setenv("OVLT_ALLOW_ABSOLUTE_IMAGES", "1")
    assert len(_load(rows)) == 2
    # `..` never leaves the folder, opt-in or not
    _jsonl(data_dir / "rows.jsonl", [_sharegpt(["../outside.png"])])
    assert "row 0" in _refusal(rows) and "leaves the data folder" in _refusal(rows)


def test_training_images_that_are_not_images_are_refused(data_dir, monkeypatch):
    (data_dir / "text.png").write_text("not an image\n")
    rows = _jsonl(data_dir / "rows.jsonl", [_sharegpt(["ok.png"]), _sharegpt(["text.png"])])
    why = _refusal(rows)  # was: UnidentifiedImageError traceback at the first batch
    assert "row 1" in why and "not an image PIL can read" in why
    monkeypatch.setenv("OVLT_ALLOW_ABSOLUTE_IMAGES", "1")
    _jsonl(data_dir / "rows.jsonl", [_sharegpt(["/etc/passwd"])])
    assert "not an image PIL can read" in _refusal(rows)
    # GRPO (EasyR1 rows) reads images the same way
    easy = [{"problem": "<image>How many?", "answer": "2", "images": ["text.png"]}]
    _jsonl(data_dir / "rows.jsonl", easy)
    assert "not an image PIL can read" in _refusal(rows, "trl-grpo")


def test_an_images_string_is_refused_not_read_letter_by_letter(data_dir):
    # item 10: "images": "ok.png" was read as the images "o", "k", ... ("image o: not found")
    rows = _jsonl(data_dir / "rows.jsonl", [_sharegpt("ok.png")])
    why = _refusal(rows)
    assert "row 0" in why and "images is a str, not a list" in why


def test_easyr1_answers_that_are_no_text_are_dropped_rows(data_dir, caplog):
    # item 10: a list or null answer trained against "['2']" / None
    rows = [
        {"problem": "<image>How many?", "answer": "2", "images": ["ok.png"]},
        {"problem": "<image>How many?", "answer": None, "images": ["ok.png"]},
        {"problem": "<image>How many?", "answer": ["2", "3"], "images": ["ok.png"]},
    ]
    for bad in rows[1:]:
        path = _jsonl(data_dir / "rows.jsonl", [rows[0], bad])
        ds = _load(path, "trl-grpo")
        assert list(ds["solution"]) == ["2"]
    assert "answer is list, not text" in caplog.text


def test_system_and_tool_turns_in_an_sft_conversation_are_dropped_rows(data_dir, caplog):
    good = _sharegpt(["ok.png"])
    system = _sharegpt(["ok.png"])
    system["messages"] = [{"role": "system", "content": "be brief"}, *system["messages"]]
    tool = _sharegpt(["ok.png"])
    tool["messages"] = [*tool["messages"], {"role": "tool", "content": "42"}]
    path = _jsonl(data_dir / "rows.jsonl", [good, system, tool])
    ds = _load(path)
    assert len(ds) == 1  # was: all three trained
    assert "'system' turn" in caplog.text


def test_sft_cli_refuses_a_non_image_in_one_line(data_dir, tmp_path, capsys, tiny_model_dir):
    from ovlt_train.cli import main as train_cli

    (data_dir / "text.png").write_text("not an image\n")
    path = _jsonl(data_dir / "rows.jsonl", [_sharegpt(["text.png"])])
    argv = ["sft", "--data", str(path), "--model", str(tiny_model_dir), "--out"]
    assert train_cli([*argv, str(tmp_path / "ck")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "row 0" in err, err


# ----- item 2: rotated, mirrored and EXIF-tagged benchmark images -----

SAMPLE = Path(__file__).resolve().parents[2] / "ovlt_eval" / "demo_data" / "mathvision_sample"


def _sample_items(n: int) -> list[dict]:
    import json

    lines = (SAMPLE / "testmini.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if x.strip()][:n]


def test_rotated_mirrored_and_exif_tagged_benchmark_images_are_dropped(tmp_path, capsys):
    from PIL import Image, ImageOps

    items = _sample_items(4)
    rows = []
    for k, it in enumerate(items):
        upright = Image.open(SAMPLE / it["image"]).convert("RGB")
        # stored a quarter turn off with EXIF Orientation 6: shown (and trained on) upright
        stored = upright.transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[0x0112] = 6
        name = f"exif{k}.jpg"
        stored.save(tmp_path / name, exif=exif, quality=92)
        assert ImageOps.exif_transpose(Image.open(tmp_path / name)).size == upright.size
        # another question and answer: only the picture can tell (the 12/12 kept)
        rows.append({"id": f"exif{k}", "question": "Describe: " + it["question"], "answer": "x"})
        rows[-1]["image"] = name
        # the same picture turned or mirrored, under a rewritten question
        for how, op in (
            ("rot", Image.Transpose.ROTATE_270),
            ("flip", Image.Transpose.FLIP_LEFT_RIGHT),
        ):
            name = f"{how}{k}.png"
            upright.transpose(op).save(tmp_path / name)
            rows.append(
                {"id": f"{how}{k}", "question": "Look closely. " + it["question"], "answer": "x"}
            )
            rows[-1]["image"] = name
    clean = Image.new("RGB", (120, 90), "white")
    clean.paste((30, 30, 30), (10, 40, 110, 50))
    clean.save(tmp_path / "clean.png")
    rows.append(
        {"id": "clean", "question": "How long is the bar?", "answer": "5", "image": "clean.png"}
    )
    _jsonl(tmp_path / "rows.jsonl", rows)
    card = _card(tmp_path, {"kind": "local", "path": "rows.jsonl", "fields": {"id": "id"}})
    assert _build(card, tmp_path / "out") == 0, capsys.readouterr().err
    v = tmp_path / "out" / "rt" / "v1"
    assert [r["id"] for r in _rows(v, "sft")] == ["s:clean"]  # was: all 12 planted rows kept
    dropped = {r["id"]: r["reject_reason"] for r in _rows(v, "rejected")}
    assert len(dropped) == 12 and all(
        x.startswith(("contaminated", "benchmark_image")) for x in dropped.values()
    )


def test_an_exif_rotated_image_is_stored_upright(tmp_path):
    from PIL import Image

    from ovlt_data.images import load_image, to_pil

    upright = Image.new("RGB", (40, 20), "white")
    upright.paste((0, 0, 0), (0, 0, 10, 20))  # a black band on the left
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "x.jpg", exif=exif, quality=95)
    img = load_image("x.jpg", base_dir=str(tmp_path))
    assert (img.width, img.height) == (40, 20)  # was (20, 40), tag kept for the trainer to apply
    pil = to_pil(img).convert("L")
    assert pil.getpixel((2, 10)) < 60 and pil.getpixel((35, 10)) > 200
    assert not dict(to_pil(img).getexif()).get(0x0112)
