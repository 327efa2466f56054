"""Train every connector family of the study at one equal budget, evaluate them alike, and chart the result.

    llmdiff shapes make --n 20000 --out data/study
    python scripts/compare_connectors.py --data data/study [--out runs/study/connectors] [--dry-run]

Rows and stages: configs/study/connectors/study.yaml (docs/studies.md says what each row is). Finished stages
are skipped, so a stopped run resumes where it stopped. --budget-steps and --batch-size scale every row alike
(the steps are split between a row's stages as its configs split them); --scenes sets the evaluation's scenes.
Writes OUT/<row>/... (each stage's run and the row's model folder), OUT/eval/{test,val}/shapes_eval.*,
OUT/summary.json and OUT/summary.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a dataset folder made by llmdiff shapes make")
    parser.add_argument("--out", default="runs/study/connectors", help="output folder (default runs/study/connectors)")
    parser.add_argument("--study", default=str(ROOT / "configs" / "study" / "connectors" / "study.yaml"),
                        help="the study file naming the rows and their stage configs")
    parser.add_argument("--budget-steps", type=int, help="optimizer steps per row, over its stages (default: the configs')")
    parser.add_argument("--batch-size", type=int, help="examples per step in every stage (default: the configs')")
    parser.add_argument("--scenes", type=int, help="test and validation scenes of the evaluation (default: the study's)")
    parser.add_argument("--languages", help="paragraph languages of the evaluation (default: all six)")
    parser.add_argument("--wording", help="held-out wording languages of the evaluation (default en,de,fr; none: off)")
    parser.add_argument("--eval-batch-size", type=int, help="images per generation call in the evaluation and timing")
    parser.add_argument("--placement-seeds", type=int, help="seeds of the placement check (0: none; default: the study's)")
    parser.add_argument("--rows", help="only these rows, comma-separated")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every stage of every row (e.g. train.mixed_precision=bf16)")
    parser.add_argument("--timing-images", type=int, default=32, help="images per model timed (default 32)")
    parser.add_argument("--device", default="cpu", help="device of the generation timing (default cpu)")
    parser.add_argument("--dry-run", action="store_true", help="print every command, run nothing")
    args = parser.parse_args(argv)

    from llmdiff.errors import UserError
    from llmdiff.studies.connectors import dry_run, plan_study, run_study

    try:
        only = [name.strip() for name in args.rows.split(",") if name.strip()] if args.rows else None
        if args.timing_images < 1:
            raise UserError("--timing-images must be at least 1")
        plan = plan_study(args.study, args.data, args.out, args.budget_steps, args.batch_size, args.scenes, only,
                          args.set, args.timing_images,
                          {"batch_size": args.eval_batch_size, "placement_seeds": args.placement_seeds,
                           "languages": args.languages, "wording": args.wording})
        if args.dry_run:
            dry_run(plan)
            return 0
        run_study(plan, args.device)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
