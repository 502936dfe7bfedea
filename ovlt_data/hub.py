"""Push a built version to the Hub as one commit, tagged `round-N`.

Thin on purpose: `plan_push` decides everything (files, tag, deletions) without the network,
`push` hands the plan to `huggingface_hub.HfApi`. The token is whatever huggingface_hub finds
(HF_TOKEN or `hf auth login`); nothing here reads, prints or writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ovlt_data.artifact import read_manifest
from ovlt_eval.errors import UserError


@dataclass(frozen=True)
class PushPlan:
    repo_id: str
    tag: str
    private: bool
    files: tuple[tuple[str, str], ...]  # (local path, path in repo)
    commit_message: str
    skipped: tuple[str, ...] = ()  # links and non-regular files left out (never uploaded)


def check_repo_id(repo_id: str | None) -> str:
    if not repo_id:
        raise UserError("--push-to-hub needs --repo-id OWNER/NAME")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise UserError(f"--repo-id {repo_id!r}: expected OWNER/NAME")
    return repo_id


def plan_push(version_dir, repo_id: str | None, private: bool = False) -> PushPlan:
    root = Path(version_dir)
    m = read_manifest(root)
    check_repo_id(repo_id)
    files, skipped = pushable_files(root)
    msg = f"{m['name']} {m['version']} (round {m['round']}), fingerprint {m['fingerprint'][:16]}"
    return PushPlan(repo_id, f"round-{m['round']}", private, files, msg, skipped)


def pushable_files(root: Path) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(local path, path in repo) of the regular files inside `root`, and what was left out.

    A build writes no links; one found here was put there by hand or by a crafted download, and
    its target (`~/.netrc`, a token file) must not be uploaded: links, files and folders alike
    are left out, without following them, as is anything resolving outside `root`."""
    import os
    import stat

    base = root.resolve()
    files, skipped = [], []
    for folder, dirs, names in os.walk(base, followlinks=False):
        for d in [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            dirs.remove(d)
            skipped.append(Path(folder, d).relative_to(base).as_posix())
        for name in names:
            p = Path(folder, name)
            rel = p.relative_to(base).as_posix()
            st = p.lstat()
            if not stat.S_ISREG(st.st_mode) or not p.resolve().is_relative_to(base):
                skipped.append(rel)
                continue
            files.append((str(root / rel), rel))
    return tuple(sorted(files)), tuple(sorted(skipped))


def push(
    version_dir, repo_id: str | None, *, private: bool = False, force: bool = False, api=None
) -> str:
    """One commit with every file of the version (stale data files deleted), then the tag.

    A Hub that cannot be reached or refuses is one UserError line, not the client's traceback:
    the version is built, and pushing again is safe (same files, same commit message)."""
    from huggingface_hub import HfApi

    plan = plan_push(version_dir, repo_id, private)
    api = api or HfApi()
    try:
        return _push(plan, api, force)
    except UserError:
        raise
    except Exception as e:  # the Hub client's errors vary (httpx, requests, HfHubHTTPError)
        detail = " ".join(str(e).split())[:200] or type(e).__name__
        raise UserError(
            f"cannot push to the Hub ({type(e).__name__}: {detail}); "
            f"{version_dir} is built: run the push again when the Hub is reachable"
        ) from None


def _push(plan: PushPlan, api, force: bool) -> str:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api.create_repo(plan.repo_id, repo_type="dataset", private=plan.private, exist_ok=True)
    tags = {t.name for t in api.list_repo_refs(plan.repo_id, repo_type="dataset").tags}
    if plan.tag in tags and not force:
        raise UserError(
            f"{plan.repo_id} already has tag {plan.tag}; pass --force to move it to this build"
        )
    new = {p for _, p in plan.files}
    stale = [
        f
        for f in api.list_repo_files(plan.repo_id, repo_type="dataset")
        if f.startswith(("data/", "figures/")) and f not in new
    ]
    ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=local) for local, p in plan.files]
    ops += [CommitOperationDelete(path_in_repo=f) for f in stale]
    info = api.create_commit(
        plan.repo_id, ops, commit_message=plan.commit_message, repo_type="dataset"
    )
    if plan.tag in tags:
        api.delete_tag(plan.repo_id, tag=plan.tag, repo_type="dataset")
    api.create_tag(
        plan.repo_id,
        tag=plan.tag,
        revision=info.oid,
        repo_type="dataset",
        tag_message=plan.commit_message,
    )
    return getattr(info, "commit_url", str(info.oid))
