import json

import pytest

from ovlt_eval.benchmarks import BENCHMARKS, get_benchmark
from ovlt_eval.benchmarks.scoring import score_predictions
from ovlt_eval.benchmarks.summary import summarize
from ovlt_eval.errors import UserError


def test_registry_names_and_unknown():
    assert set(BENCHMARKS) == {
        "mathvista",
        "mathverse",
        "mathvision",
        # the reference evaluation's other benchmarks, under its names (eval_openvlthinker.py:30-42)
        "emma-math",
        "emma-chem",
        "emma-code",
        "emma-physics",
        "mmmu-pro-vision",
        "mmmu-pro-4",
        "mmmu-pro-10",
        "hallusionbench",
        "sftseed",  # run_evaluation.py:41, :98
    }
    b = get_benchmark("MathVision")
    assert (b.name, b.hub_id, b.splits) == (
        "mathvision",
        "MathLLMs/MathVision",
        ("test", "testmini"),
    )
    with pytest.raises(
        UserError, match="known: emma-chem, .*mathverse, mathvision, mathvista, mmmu-pro-10"
    ):
        get_benchmark("mmmu")


def test_mathvision_testmini_has_local_images(shared):
    items = get_benchmark("mathvision").load(
        "testmini", shared / "benchmarks/mathvision/testmini.jsonl"
    )
    assert len(items) == 304
    assert all(it.images and it.images[0].endswith(".jpg") for it in items)
    mc = [it for it in items if it.choices]
    assert mc and all(it.kind == "multi_choice" and it.gold in "ABCDE" for it in mc)
    text_opts = next(it for it in mc if "".join(it.choices) != "ABCDE")
    assert "\n(A) " in text_opts.question
    assert set(items[0].breakdown) == {"subject", "level"}


def test_mathvision_test_and_gold_slips(shared):
    items = {
        it.id: it
        for it in get_benchmark("mathvision").load("test", shared / "benchmarks/mathvision")
    }
    assert len(items) == 3040
    golds = {it.gold for it in items.values()}
    assert not any("\x0c" in g or g.startswith("$") or "\\boxed" in g for g in golds)


def test_mathvista_query_and_breakdown(shared):
    items = get_benchmark("mathvista").load("testmini", shared / "benchmarks/mathvista")
    assert len(items) == 1000
    it = next(i for i in items if i.id == "5")
    assert (
        it.kind == "multi_choice" and it.choices == ("97", "102", "107", "122") and it.gold == "97"
    )
    assert it.question.endswith("Choices:\n(A) 97\n(B) 102\n(C) 107\n(D) 122")
    assert isinstance(it.breakdown["skills"], list)
    first = next(i for i in items if i.id == "1")
    assert first.kind == "float" and first.precision == 1


def test_mathverse_text_only_and_versions(shared):
    b = get_benchmark("mathverse")
    items = b.load("testmini_text_only", shared / "benchmarks/mathverse")
    assert len(items) == 788
    assert {i.breakdown["problem_version"] for i in items} == {"Text Only"}
    assert items[0].choices == ("40°", "60°", "120°", "140°") and items[0].gold == "D"
    sample = b.load("testmini", shared / "benchmarks/mathverse/testmini_sample.json")
    assert "Vision Only" in {i.breakdown["problem_version"] for i in sample}
    assert b.score(items[0], "so CED = 140°, answer D", protocol="corrected").correct
    assert b.score(items[0], "The answer is D").correct  # quick match: "D" == "D"
    # Officially the extraction is matched verbatim against the gold letter: an option's text
    # counts only in `corrected` (we parse the options out of the question), under its name.
    s = b.score(items[0], "The answer is 140°")
    assert not s.correct and s.correct_corrected
    assert s.disagreement == "official_option_text_not_read"
    assert not b.score(items[0], "The answer is B", protocol="corrected").correct


def _write_hub_parquet(rows, path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)


def test_parquet_in_hub_format_loads_like_json(shared, tmp_path):
    """Hub parquet: MathVision with `decoded_image` as an Image struct, MathVista with a
    metadata struct, MathVerse config files, all written from the real JSON files."""
    src = shared / "benchmarks"
    vision = [
        json.loads(line) for line in (src / "mathvision/testmini.jsonl").read_text().splitlines()
    ]
    for r in vision[:3]:
        r["decoded_image"] = {
            "bytes": (src / "mathvision" / r["image"]).read_bytes(),
            "path": r["image"],
        }
    for r in vision[3:]:
        r["decoded_image"] = None
    (tmp_path / "vision").mkdir()
    _write_hub_parquet(vision, tmp_path / "vision/testmini-00000-of-00001.parquet")
    b = get_benchmark("mathvision")
    from_parquet = b.load("testmini", tmp_path / "vision")
    from_json = b.load("testmini", src / "mathvision")
    assert [i.id for i in from_parquet] == [i.id for i in from_json]
    assert [i.gold for i in from_parquet] == [i.gold for i in from_json]
    assert (
        isinstance(from_parquet[0].images[0], bytes)
        and from_parquet[0].images[0][:2] == b"\xff\xd8"
    )

    vista = list(json.loads((src / "mathvista/testmini.json").read_text()).values())
    _write_hub_parquet(vista, tmp_path / "testmini-00000-of-00001.parquet")
    vb = get_benchmark("mathvista")
    pv = {i.id: i for i in vb.load("testmini", tmp_path)}
    jv = {i.id: i for i in vb.load("testmini", src / "mathvista")}
    assert pv.keys() == jv.keys()
    assert all(pv[k].gold == jv[k].gold and pv[k].choices == jv[k].choices for k in jv)
    assert pv["5"].breakdown == jv["5"].breakdown

    verse = json.loads((src / "mathverse/testmini_text_only.json").read_text())
    _write_hub_parquet(verse, tmp_path / "testmini_text_only.parquet")
    assert len(get_benchmark("mathverse").load("testmini_text_only", tmp_path)) == 788


def test_bad_data_files_are_one_line_errors(tmp_path):
    b = get_benchmark("mathvision")
    with pytest.raises(UserError, match="does not exist"):
        b.load("test", tmp_path / "nope.jsonl")
    with pytest.raises(UserError, match="no mathvision test file"):
        b.load("test", tmp_path)
    bad = tmp_path / "test.jsonl"
    bad.write_text('{"id": "1"\n')
    with pytest.raises(UserError, match="not valid JSON"):
        b.load("test", bad)
    bad.write_text('{"foo": 1}\n')
    with pytest.raises(UserError, match="lacks id, question, answer"):
        b.load("test", bad)
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(UserError, match="parquet"):
        b.load("test", tmp_path / "x.parquet")
    with pytest.raises(UserError, match="no split"):
        b.load("dev", tmp_path)


def test_scoring_statuses_and_summary(shared):
    b = get_benchmark("mathvision")
    items = b.load("testmini", shared / "benchmarks/mathvision")
    by_id = {i.id: i for i in items}
    free = next(i for i in items if not i.choices)
    mc = next(i for i in items if i.choices)
    preds = {
        free.id: f"reasoning...\n\\boxed{{{free.gold}}}",
        mc.id: "I cannot tell.\nLong text with no decision at all, sorry, nothing to extract here really.",
    }
    samples, summary = score_predictions(b, "testmini", items, preds)
    s = {x["id"]: x for x in samples}
    assert s[free.id]["correct"] and s[free.id]["status"] == "ok"
    assert s[mc.id]["status"] == "no_answer" and not s[mc.id]["correct"]
    assert summary["n"] == 304 and summary["correct"] == 1
    assert summary["accuracy"] == round(100 / 304, 2)
    assert summary["counts"]["missing_prediction"] == 302
    assert sum(v["n"] for v in summary["breakdown"]["level"].values()) == 304
    assert b.score(by_id[free.id], None).status == "missing_prediction"
    with pytest.raises(UserError, match="not in mathvision testmini"):
        score_predictions(b, "testmini", items, {"no-such-id": "1"})
    assert summarize(b, "testmini", items, {})["accuracy"] == 0.0


def test_mathvista_official_normalisation(shared):
    b = get_benchmark("mathvista")
    it = {i.id: i for i in b.load("testmini", shared / "benchmarks/mathvista")}
    five = it["5"]  # choices 97/102/107/122, gold 97
    assert b.score(five, "A").correct
    assert b.score(five, "The answer is (A) 97").correct
    assert b.score(five, "97").correct
    assert b.score(five, "92.5").correct  # official: nearest option by edit distance
    assert b.score(five, "92.5", protocol="corrected").how.endswith("nearest_option")
    several = b.score(five, "(A), (B)")
    # Official: the first "(x)" is the letter; corrected: several options are no answer.
    assert several.correct and several.correct_official and not several.correct_corrected
    assert several.disagreement == "official_first_of_several_options"
    assert not b.score(five, "(A), (B)", protocol="corrected").correct
    one = it["1"]  # float, precision 1, gold 1.2
    assert b.score(one, "so d = 1.2 cm. The answer is 1.2").correct
    assert b.score(one, "1.24").correct and not b.score(one, "1.3").correct
    with pytest.raises(UserError, match="unknown scoring protocol"):
        b.score(one, "1.2", protocol="lenient")


def test_mathvista_official_refusal_and_integer_truncation(shared):
    b = get_benchmark("mathvista")
    it = {i.id: i for i in b.load("testmini", shared / "benchmarks/mathvista")}
    yes_no = next(i for i in it.values() if i.choices == ("Yes", "No") and i.gold == "No")
    refusal = "I am not able to tell from this picture, the details are not visible."
    s = b.score(yes_no, refusal)
    # Official: GPT's non-answer ("N/A") still lands on the nearest option, "No".
    assert s.extracted_official == "N/A" and s.correct_official
    assert not s.correct_corrected and s.disagreement == "official_nearest_option_on_refusal"
    integer = next(i for i in it.values() if i.kind == "integer" and i.gold == "3")
    t = b.score(integer, "The answer is 3.7")
    assert t.correct_official and not t.correct_corrected  # str(int(float("3.7"))) == "3"
    assert t.disagreement == "official_integer_truncation"


def test_mathvision_protocols_on_letter_with_text(shared):
    b = get_benchmark("mathvision")
    items = b.load("test", shared / "benchmarks/mathvision")
    item = next(i for i in items if i.choices and i.choices[ord(i.gold) - 65] == "105")
    s = b.score(item, f"The answer is ({item.gold}) 105")
    assert s.extracted_official == item.gold.lower() + "105"  # MATH-V reads "(D) 105" as "d105"
    assert not s.correct and not s.correct_official and s.correct_corrected
    assert s.disagreement == "official_letter_with_text"
    assert b.score(item, f"The answer is ({item.gold}) 105", protocol="corrected").correct


def test_summary_reports_both_protocols(shared):
    b = get_benchmark("mathvision")
    items = b.load("test", shared / "benchmarks/mathvision")
    item = next(i for i in items if i.choices and i.choices[ord(i.gold) - 65] == "105")
    preds = {item.id: f"The answer is ({item.gold}) 105"}
    for protocol, acc in (("official", 0.0), ("corrected", round(100 / 3040, 2))):
        samples, summary = score_predictions(b, "test", items, preds, protocol=protocol)
        assert summary["protocol"] == protocol and summary["accuracy"] == acc
        assert summary["accuracy_official"] == 0.0
        assert summary["accuracy_corrected"] == round(100 / 3040, 2)
        assert summary["disagreements"] == {"official_letter_with_text": 1}
        row = next(x for x in samples if x["id"] == item.id)
        assert (row["correct_official"], row["correct_corrected"]) == (False, True)
