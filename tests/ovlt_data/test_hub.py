"""The push path without the network: only the Hub API object is a stand-in (it records calls);
the version folder, the plan and the huggingface_hub commit operations are real."""

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from ovlt_data.build import build
from ovlt_data.hub import plan_push, push
from ovlt_eval.errors import UserError

from .helpers import demo_card


@dataclass
class RecordingHubApi:
    tags: list = field(default_factory=list)
    files: list = field(default_factory=list)
    calls: list = field(default_factory=list)

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))

    def list_repo_refs(self, repo_id, **kw):
        return SimpleNamespace(tags=[SimpleNamespace(name=t) for t in self.tags])

    def list_repo_files(self, repo_id, **kw):
        return list(self.files)

    def create_commit(self, repo_id, operations, **kw):
        self.calls.append(("create_commit", repo_id, operations, kw))
        return SimpleNamespace(
            oid="abc123", commit_url=f"https://hf.co/datasets/{repo_id}/commit/abc123"
        )

    def delete_tag(self, repo_id, **kw):
        self.calls.append(("delete_tag", repo_id, kw))

    def create_tag(self, repo_id, **kw):
        self.calls.append(("create_tag", repo_id, kw))


@pytest.fixture(scope="module")
def version(loopback, tmp_path_factory):
    return build(demo_card(loopback, sft=4, grpo=4), out=tmp_path_factory.mktemp("hub"))


def test_plan_lists_every_file_and_the_round_tag(version):
    plan = plan_push(version, "me/ovlt-demo")
    paths = {p for _, p in plan.files}
    assert plan.tag == "round-1"
    assert {"README.md", "manifest.json", "figures/reasoning_length.png"} <= paths
    assert {
        f"data/{c}/train-00000.parquet" for c in ("sft", "grpo_medium", "grpo_hard", "rejected")
    } <= paths
    with pytest.raises(UserError, match="OWNER/NAME"):
        plan_push(version, "no-slash")


def test_push_is_one_commit_then_a_tag(version, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_never_written")
    api = RecordingHubApi(files=["data/sft/train-00007.parquet", "README.md", ".gitattributes"])
    url = push(version, "me/ovlt-demo", private=True, api=api)
    kinds = [c[0] for c in api.calls]
    assert kinds == ["create_repo", "create_commit", "create_tag"]
    _, _, ops, kw = api.calls[1]
    added = {op.path_in_repo for op in ops if type(op).__name__ == "CommitOperationAdd"}
    deleted = {op.path_in_repo for op in ops if type(op).__name__ == "CommitOperationDelete"}
    assert "manifest.json" in added and deleted == {
        "data/sft/train-00007.parquet"
    }  # stale shard goes
    assert kw["repo_type"] == "dataset" and api.calls[0][2]["private"] is True
    assert api.calls[2][2]["tag"] == "round-1" and api.calls[2][2]["revision"] == "abc123"
    assert url.endswith("abc123")
    for p in version.rglob("*"):  # the token is never written anywhere
        if p.is_file():
            assert b"hf_secret_value_never_written" not in p.read_bytes()


def test_existing_tag_is_refused_without_force_and_moved_with_it(version):
    api = RecordingHubApi(tags=["round-1"])
    with pytest.raises(UserError, match="already has tag round-1"):
        push(version, "me/ovlt-demo", api=api)
    assert [c[0] for c in api.calls] == ["create_repo"]  # nothing committed
    api = RecordingHubApi(tags=["round-1"])
    push(version, "me/ovlt-demo", api=api, force=True)
    assert [c[0] for c in api.calls] == ["create_repo", "create_commit", "delete_tag", "create_tag"]


def test_an_unreachable_hub_is_one_line(version):
    """The real Hub client against a port where nothing listens: no traceback, one line."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint="http://127.0.0.1:9", token="hf_not_a_token")
    with pytest.raises(UserError) as e:
        push(version, "me/ovlt-demo", api=api)
    msg = str(e.value)
    assert "\n" not in msg and "cannot push to the Hub" in msg and str(version) in msg
    assert "hf_not_a_token" not in msg
