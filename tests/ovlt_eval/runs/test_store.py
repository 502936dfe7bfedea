import json

import pytest

from ovlt_eval.errors import UserError
from ovlt_eval.runs.store import RunLock, SampleStore
from ovlt_eval.runs.summary import ks_for, pass_at_k


def test_append_then_reload_latest_line_wins(tmp_path):
    path = tmp_path / "samples.jsonl"
    with SampleStore(path) as store:
        store.append({"id": "1", "status": "error"})
        store.append({"id": "2", "status": "ok"})
        store.append({"id": "1", "status": "ok", "response": "x"})
    again = SampleStore(path)
    assert len(again) == 2
    assert again.get("1") == {"id": "1", "status": "ok", "response": "x"}
    assert len(path.read_text().splitlines()) == 3  # append-only: nothing rewritten


def test_torn_last_line_is_cut_and_appending_continues(tmp_path):
    path = tmp_path / "samples.jsonl"
    good = json.dumps({"id": "a", "status": "ok"}) + "\n"
    path.write_text(good + '{"id": "b", "sta')  # killed mid-write
    store = SampleStore(path)
    assert set(store.records) == {"a"}
    assert store.torn_bytes == len('{"id": "b", "sta')
    store.append({"id": "b", "status": "ok"})
    store.close()
    lines = path.read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["a", "b"]


def test_torn_line_that_ends_in_newline_but_is_not_json(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b", \n')
    store = SampleStore(path)
    assert set(store.records) == {"a"}
    assert path.read_text() == '{"id": "a"}\n'


def test_corrupt_line_in_the_middle_is_an_error_not_silently_dropped(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "c"}\n')
    with pytest.raises(UserError, match=r"samples.jsonl:2: this line is not valid JSON"):
        SampleStore(path)


def test_pass_at_k_estimator():
    assert pass_at_k(4, 0, 1) == 0.0
    assert pass_at_k(4, 4, 1) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 4) == 1.0
    assert pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)
    assert ks_for(1) == [1]
    assert ks_for(4) == [1, 2, 4]
    assert ks_for(5) == [1, 2, 4, 5]


def test_a_run_directory_is_locked_while_a_run_writes_to_it(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(UserError, match="another ovlt-eval run is writing"):
            with RunLock(tmp_path):
                pass
    with RunLock(tmp_path):  # released
        pass
