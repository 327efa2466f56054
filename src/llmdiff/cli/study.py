"""`llmdiff study`: a side-by-side human preference study between two image folders."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "study",
        help="human preference study: serve pairs, report win/tie/loss",
        description="Show raters the same prompt's image from two folders, in random left/right order, and "
        "ask which is more appealing and which follows the text more faithfully; report the rates.",
    )
    commands = parser.add_subparsers(dest="study_command", required=True, metavar="STUDY_COMMAND")

    serve = commands.add_parser(
        "serve", help="serve the study page", description="Serve the study page for DIR_A vs DIR_B (images "
        "matched by file name; prompts from their llmdiff metadata or --prompts). Votes go to --db.",
    )
    serve.add_argument("dir_a", metavar="DIR_A", help="images of system A (e.g. RUN/images/ours)")
    serve.add_argument("dir_b", metavar="DIR_B", help="images of system B (e.g. RUN/images/baseline)")
    serve.add_argument("--db", default="study.sqlite", help="SQLite file for the votes (default study.sqlite)")
    serve.add_argument("--prompts", help="prompts.jsonl (id, prompt, category) for images without metadata")
    serve.add_argument("--label-a", help="name of system A in reports (default: DIR_A's path)")
    serve.add_argument("--label-b", help="name of system B in reports (default: DIR_B's path)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    serve.add_argument("--seed", type=int, help="seed for pair choice and left/right order (default: random)")
    serve.set_defaults(func=serve_command)

    report = commands.add_parser(
        "report", help="win/tie/loss rates with 95%% intervals", description="Win/tie/loss rates of A against B "
        "per question, with Wilson 95% intervals, a bootstrap interval on the net preference, and a breakdown "
        "per category. Prints Markdown; -o writes the JSON.",
    )
    report.add_argument("--db", default="study.sqlite", help="SQLite file of the votes (default study.sqlite)")
    report.add_argument("-o", "--output", help="write the full report as JSON here")
    report.add_argument("--markdown", help="also write the Markdown here")
    report.set_defaults(func=report_command)


def serve_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llmdiff.eval.prompts import read_prompts
    from llmdiff.eval.study.pairs import collect_pairs
    from llmdiff.eval.study.server import Study, make_server
    from llmdiff.eval.study.store import VoteStore

    prompts = None
    if args.prompts:
        prompts = {r.id: (r.prompt, r.category) for r in read_prompts(Path(args.prompts))}
    pairs = collect_pairs(args.dir_a, args.dir_b, prompts)
    store = VoteStore(args.db)
    store.bind({"dir_a": str(Path(args.dir_a).resolve()), "dir_b": str(Path(args.dir_b).resolve()),
                "label_a": args.label_a or args.dir_a, "label_b": args.label_b or args.dir_b})
    server = make_server(Study(pairs, store, args.seed), args.host, args.port)
    host, port = server.server_address[:2]
    print(f"{len(pairs)} pairs; votes go to {args.db}")
    print(f"open http://{host}:{port}/ (add ?rater=NAME to tag votes); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def report_command(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from llmdiff.eval.study.analysis import markdown, study_report
    from llmdiff.eval.study.store import VoteStore

    store = VoteStore.existing(args.db)
    settings = store.settings()
    labels = {"A": settings.get("label_a", "A"), "B": settings.get("label_b", "B")}
    report = study_report(store.votes(), labels)
    text = markdown(report)
    print(text, end="")
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    return 0
