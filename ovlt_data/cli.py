"""`ovlt-data`: build, merge, export, inspect and diff versioned data rounds.

ovlt-data build --round 2 [--out DIR] [--limit N] [--shard I/N] [--dry-run]
                [--push-to-hub --repo-id OWNER/NAME [--private] [--force]]
ovlt-data build --card cards/rounds/demo.yaml
ovlt-data merge DIR_SHARD0 DIR_SHARD1 ... [--out DIR]
ovlt-data export DIR --format trl-sft|trl-grpo|llamafactory|easyr1 --out OUT
ovlt-data inspect DIR
ovlt-data diff A B
"""

from __future__ import annotations

import argparse
import json
import sys

from ovlt_eval.errors import DefaultsHelpFormatter, OneLineParser


class _Help(DefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each option's help; descriptions keep their line breaks."""


def _parser() -> argparse.ArgumentParser:
    from ovlt_data.export import FORMATS

    p = OneLineParser(
        prog="ovlt-data",
        description="OpenVLThinker data factory: build, merge, export, inspect and diff "
        "versioned data rounds.",
        epilog="ovlt-data COMMAND --help describes each command.",
        formatter_class=_Help,
    )
    commands = ["build", "merge", "export", "inspect", "diff"]
    sub = p.add_subparsers(dest="command", metavar="{" + ",".join(commands) + "}")

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=description, formatter_class=_Help)

    b = command(
        "build",
        "build a round from its card",
        "Build a versioned dataset (OUT/<name>/<version>/) from a round card. Re-running a build "
        "replays the model-call cache: same card, same rows, same fingerprint.",
    )
    which = b.add_mutually_exclusive_group(required=True)
    which.add_argument("--round", type=int, help="build cards/rounds/roundN.yaml")
    which.add_argument("--card", help="path to a round card (YAML)")
    b.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a card field (dotted keys, list indexes as numbers, YAML values); "
        "repeatable",
    )
    b.add_argument("--out", default="out/data", help="output root: OUT/<name>/<version>/")
    b.add_argument("--cache", help="SQLite model-call cache (default: OUT/cache.sqlite)")
    b.add_argument("--limit", type=int, help="at most N rows per source (default: all)")
    b.add_argument(
        "--shard", metavar="I/N", help="build only slice I of N (join them with `ovlt-data merge`)"
    )
    b.add_argument("--dry-run", action="store_true", help="print the plan; call no model")
    b.add_argument(
        "--push-to-hub", action="store_true", help="push the version as one commit tagged round-N"
    )
    b.add_argument("--repo-id", metavar="OWNER/NAME", help="Hub dataset repo for --push-to-hub")
    b.add_argument("--private", action="store_true", help="create the Hub repo as private")
    b.add_argument(
        "--force", action="store_true", help="replace an existing version / move an existing tag"
    )
    b.add_argument("--no-progress", action="store_true", help="no progress bars")
    b.add_argument(
        "--max-error-rate",
        type=float,
        default=0.1,  # = ovlt_data.build.MAX_ERROR_RATE (not imported: --help stays fast)
        metavar="R",
        help="refuse the build (write nothing, exit 2) when more than this share of its model "
        "requests failed; 1 accepts any",
    )

    m = command(
        "merge",
        "join the shards of one build",
        "Join the shard folders of one `build --shard` run into one version "
        "(the same fingerprint as an unsharded build).",
    )
    m.add_argument("shards", nargs="+", help="the shard folders, every one of the build")
    m.add_argument("--out", help="merged version folder (default: next to the shards)")
    m.add_argument("--force", action="store_true", help="replace an existing merged folder")

    e = command(
        "export", "export a version for a trainer", "Write a version in a trainer's format."
    )
    e.add_argument("dir", help="a built version folder")
    e.add_argument("--format", required=True, choices=list(FORMATS), help="the trainer's format")
    e.add_argument("--out", required=True, help="folder for the exported files")

    i = command(
        "inspect",
        "what a version holds and how it was made",
        "Rows per config, stages and drops, models, cache use and the fingerprint of a version.",
    )
    i.add_argument("dir", help="a built version folder")
    i.add_argument("--json", action="store_true", help="print the whole manifest as JSON")

    d = command(
        "diff",
        "what changed between two versions",
        "Only what differs between two versions: card fields, code, models, rows per config "
        "(added / removed / changed ids) and drop reasons.",
    )
    d.add_argument("a", help="the first version folder (A)")
    d.add_argument("b", help="the second version folder (B)")
    return p


def _format_plan(plan: dict) -> str:
    lines = [
        f"plan: {plan['card']} {plan['version']} (round {plan['round']}), card sha256 {plan['card_sha256'][:16]}",
        "sources:",
    ]
    for s in plan["sources"]:
        lines.append(
            f"  {s['name']:<18} {s['kind']:<13} pool={s['pool']:<5} rows={s['rows']}  ({s['origin']})"
        )
    lines.append("stages:")
    for st in plan["stages"]:
        model = f" model={st['model']}" if st["model"] else ""
        gens = "=unknown" if st["max_generations"] is None else f"<={st['max_generations']}"
        calls = (
            f" samples/row={st['samples_per_row']} generations{gens}"
            if st["samples_per_row"]
            else ""
        )
        bench = f" against {', '.join(st['benchmarks'])}" if st.get("benchmarks") else ""
        lines.append(f"  {st['stage']:<13} pools={','.join(st['pools'])}{model}{calls}{bench}")
    total = "unknown" if plan["max_generations"] is None else f"<= {plan['max_generations']}"
    lines.append(f"model generations: {total} ({plan['note']})")
    return "\n".join(lines)


def build_summary(version_dir) -> str:
    """The end of `ovlt-data build`: rows per config, new or cached model calls, time, where."""
    from ovlt_data.artifact import read_manifest

    m = read_manifest(version_dir)
    counts = m["stats"]["counts"]
    cache = m.get("cache", {})
    hits, misses = cache.get("hits", 0), cache.get("misses", 0)
    how = (
        "built"
        if misses
        else ("reused from the cache (no model call)" if hits else "built (no model call)")
    )
    width = max(len(c) for c in counts)
    reasons = m["stats"].get("reject_reasons", {})
    failed = sum(n for k, n in reasons.items() if k.endswith(":model_error"))
    lines = [
        f"{m['name']} {m['version']} (round {m['round']}): {how} in {m['build_seconds']:.1f} s",
        *(f"  {c:<{width}}  {n:>7} rows" for c, n in counts.items()),
        f"  model calls: {misses} made, {hits} reused from the cache",
        *(
            [f"  model requests failed: {failed} (rows in `rejected`; a re-run retries them)"]
            if failed
            else []
        ),
        f"  fingerprint {m['fingerprint'][:16]}",
        f"{version_dir}",  # last, alone: scripts take the folder from the last line
    ]
    return "\n".join(lines)


def _run(args) -> int:
    if args.command == "build":
        from ovlt_data.build import build, check_error_rate_option, plan
        from ovlt_data.card import card_path_for_round

        card = args.card or card_path_for_round(args.round)
        if args.limit is not None and args.limit < 1:
            from ovlt_eval.errors import UserError

            raise UserError("--limit must be >= 1")
        from ovlt_data.card import MAX_ROWS

        if args.limit is not None and args.limit > MAX_ROWS:
            from ovlt_eval.errors import UserError

            raise UserError(f"--limit {args.limit}: at most {MAX_ROWS} rows per source")
        if args.dry_run:
            if args.shard is not None:  # a wrong --shard is refused by the plan as by the build
                from ovlt_data.planning import Shard

                Shard.parse(args.shard)
            print(_format_plan(plan(card, limit=args.limit, overrides=args.overrides)))
            return 0
        check_error_rate_option(args.max_error_rate)
        if args.push_to_hub:
            from ovlt_data.hub import check_repo_id

            check_repo_id(args.repo_id)  # before the build, not after
        if args.no_progress:  # the hf engine's weight-loading bar too
            from ovlt_eval.progress import silence_progress

            silence_progress()
        out = build(
            card,
            args.out,
            limit=args.limit,
            shard=args.shard,
            cache_path=args.cache,
            force=args.force,
            progress=not args.no_progress and sys.stderr.isatty(),
            overrides=args.overrides,
            max_error_rate=args.max_error_rate,
        )
        print(build_summary(out))
        if args.push_to_hub:
            from ovlt_data.hub import push

            print(push(out, args.repo_id, private=args.private, force=args.force))
        return 0
    if args.command == "merge":
        from ovlt_data.merge import merge

        print(merge(args.shards, args.out, force=args.force))
        return 0
    if args.command == "export":
        from ovlt_data.export import export_dataset

        for p in export_dataset(args.dir, args.format, args.out):
            print(p)
        return 0
    if args.command == "inspect":
        from ovlt_data.artifact import check_data, read_manifest
        from ovlt_data.inspection import inspect_version

        if args.json:
            manifest = read_manifest(args.dir)
            check_data(args.dir, manifest)
            print(json.dumps(manifest, indent=1))
        else:
            print(inspect_version(args.dir))
        return 0
    if args.command == "diff":
        from ovlt_data.inspection import diff_versions

        print(diff_versions(args.a, args.b))
        return 0
    return 2


def main(argv=None) -> int:
    from ovlt_eval.errors import run_command

    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    return run_command(
        f"ovlt-data {args.command}",
        args,
        lambda: _run(args),
        on_interrupt="re-run the same command to resume from the cache",
    )


if __name__ == "__main__":
    sys.exit(main())
