"""Win/tie/loss rates of folder A against folder B, with 95% confidence intervals, overall and per category.

Each rate gets a Wilson score interval (Wilson 1927), which stays inside [0, 1] and behaves for small n and
rates near 0 or 1. The net preference (win rate − loss rate) gets a percentile bootstrap interval
(Efron & Tibshirani 1993) over votes, since its three outcomes are not independent.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from llmdiff.eval.study.store import QUESTIONS, Vote

Z_95 = 1.959963984540054  # standard normal quantile for a two-sided 95% interval
BOOTSTRAP_SAMPLES = 10_000


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """(p + z²/2n ± z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n), with p = successes/total."""
    if total == 0:
        return (0.0, 1.0)
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_net_preference(outcomes: list[int], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0):
    """95% percentile interval of mean(outcomes), outcomes being +1 (A wins), 0 (tie), −1 (B wins)."""
    if not outcomes:
        return (float("nan"), float("nan"))
    values = np.asarray(outcomes, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(samples, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return (float(low), float(high))


def summarize(answers: list[str]) -> dict:
    """Counts, rates and intervals for one question's answers ('A', 'tie', 'B')."""
    n = len(answers)
    counts = {"win": answers.count("A"), "tie": answers.count("tie"), "loss": answers.count("B")}
    result: dict = {"n": n, "counts": counts}
    for outcome, count in counts.items():
        low, high = wilson_interval(count, n)
        result[outcome] = {"rate": count / n if n else float("nan"), "ci95": [low, high]}
    outcomes = [1 if a == "A" else -1 if a == "B" else 0 for a in answers]
    result["net_preference"] = {
        "value": (counts["win"] - counts["loss"]) / n if n else float("nan"),
        "ci95": list(bootstrap_net_preference(outcomes)),
    }
    return result


def study_report(votes: list[Vote], labels: dict[str, str] | None = None) -> dict:
    """'win' means folder A's image was preferred, 'loss' folder B's."""
    by_category: dict[str, list[Vote]] = defaultdict(list)
    for vote in votes:
        by_category[vote.category or "uncategorised"].append(vote)
    return {
        "labels": labels or {"A": "A", "B": "B"},
        "votes": len(votes),
        "pairs": len({v.pair for v in votes}),
        "raters": len({v.rater for v in votes}),
        "left_shown": {"A": sum(v.left_system == "A" for v in votes), "B": sum(v.left_system == "B" for v in votes)},
        "questions": {q: summarize([v.answers[q] for v in votes]) for q in QUESTIONS},
        "categories": {
            category: {q: summarize([v.answers[q] for v in group]) for q in QUESTIONS}
            for category, group in sorted(by_category.items())
        },
    }


def markdown(report: dict) -> str:
    a, b = report["labels"]["A"], report["labels"]["B"]
    lines = [f"# Preference study: {a} (A) vs {b} (B)", "",
             f"{report['votes']} votes on {report['pairs']} pairs by {report['raters']} raters.", ""]

    def table(questions: dict) -> list[str]:
        rows = ["| question | n | A wins | tie | B wins | net (A−B) |", "|---|---|---|---|---|---|"]
        for question, s in questions.items():
            cells = [f"{s[o]['rate']:.1%} [{s[o]['ci95'][0]:.1%}, {s[o]['ci95'][1]:.1%}]" for o in ("win", "tie", "loss")]
            net = s["net_preference"]
            rows.append(f"| {question} | {s['n']} | " + " | ".join(cells)
                        + f" | {net['value']:+.2f} [{net['ci95'][0]:+.2f}, {net['ci95'][1]:+.2f}] |")
        return rows

    if report["votes"]:
        lines += table(report["questions"]) + ["", "## By category", ""]
        for category, questions in report["categories"].items():
            lines += [f"### {category}", ""] + table(questions) + [""]
    lines.append("Rates with Wilson 95% intervals; net preference with a bootstrap 95% interval.")
    return "\n".join(lines) + "\n"
