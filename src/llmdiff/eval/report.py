"""The run's report: report.json with every number, and report.md / report.html with an image grid.

Images are linked by paths relative to the run directory, so the report moves with it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from llmdiff.eval.prompts import PromptRecord
from llmdiff.eval.run_dir import SYSTEMS, RunDir

GRID_PROMPT_CHARS = 300  # longer prompts are cut in the grid (report.json keeps them whole)


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def build_report(run: RunDir, records: list[PromptRecord]) -> dict:
    stats = _read_json(run.stats)
    metrics = _read_json(run.metrics)
    prompts = []
    for record in records:
        images = {s: str(run.image(s, record.id).relative_to(run.root)) for s in SYSTEMS
                  if run.image(s, record.id).is_file()}
        prompts.append({"id": record.id, "prompt": record.prompt, "category": record.category, "images": images})
    return {
        "run": str(run.root),
        "prompt_count": len(records),
        "images": {s: sum(s in p["images"] for p in prompts) for s in SYSTEMS},
        "prompt_stats": stats["summary"] if stats else None,
        "metrics": _metric_summary(metrics) if metrics else None,
        "metrics_full": metrics,
        "prompts": prompts,
    }


def _metric_summary(metrics: dict) -> dict:
    """{system: {metric: headline number}} — the per-prompt values stay in metrics_full."""
    summary = {}
    for system, values in metrics["systems"].items():
        summary[system] = {
            name: value["mean"] if isinstance(value, dict) and "mean" in value else value
            for name, value in values.items()
        }
    return summary


def write_report(run: RunDir, report: dict) -> list[Path]:
    run.report("json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    run.report("md").write_text(markdown(report), encoding="utf-8")
    run.report("html").write_text(html_page(report), encoding="utf-8")
    return [run.report(s) for s in ("json", "md", "html")]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= GRID_PROMPT_CHARS else text[:GRID_PROMPT_CHARS] + " …"


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _summary_rows(report: dict) -> list[tuple[str, list[str]]]:
    rows = []
    metrics = report["metrics"] or {}
    names = sorted({name for values in metrics.values() for name in values})
    for name in names:
        rows.append((name, [_number(metrics.get(s, {}).get(name, "–")) for s in SYSTEMS]))
    return rows


def markdown(report: dict) -> str:
    lines = [f"# Evaluation: {report['run']}", "", f"{report['prompt_count']} prompts; images: "
             + ", ".join(f"{s} {n}" for s, n in report["images"].items()), ""]
    stats = report["prompt_stats"]
    if stats:
        lines += [
            "## Prompt lengths", "",
            f"CLIP keeps {stats['clip_limit']} prompt tokens; {stats['share_truncated_by_clip']:.1%} of the prompts "
            f"are longer and lose on average {stats['mean_clip_dropped_share']:.1%} of their CLIP tokens.", "",
            "| tokenizer | mean | median | max |", "|---|---|---|---|",
            *(f"| {name} | {stats[key]['mean']:.1f} | {stats[key]['median']} | {stats[key]['max']} |"
              for name, key in (("CLIP", "clip_tokens"), ("LLM", "llm_tokens"))),
            "", "![length histogram](length_histogram.png)", "",
        ]
    rows = _summary_rows(report)
    if rows:
        lines += ["## Metrics", "", "| metric | " + " | ".join(SYSTEMS) + " |", "|---" * (len(SYSTEMS) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in rows]
        lines.append("")
    lines += ["## Images", "", "| prompt | " + " | ".join(SYSTEMS) + " |", "|---" * (len(SYSTEMS) + 1) + "|"]
    for prompt in report["prompts"]:
        text = _short(prompt["prompt"]).replace("|", "\\|")
        cells = [f"![{s}]({prompt['images'][s]})" if s in prompt["images"] else "missing" for s in SYSTEMS]
        lines.append(f"| **{prompt['id']}** {text} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def html_page(report: dict) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>llmdiff evaluation</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:4px;vertical-align:top}img{max-width:256px}.prompt{max-width:420px;font-size:90%}"
        "</style></head><body>",
        f"<h1>Evaluation: {e(report['run'])}</h1><p>{report['prompt_count']} prompts</p>",
    ]
    if report["prompt_stats"]:
        stats = report["prompt_stats"]
        parts.append(
            f"<h2>Prompt lengths</h2><p>CLIP keeps {stats['clip_limit']} prompt tokens; "
            f"{stats['share_truncated_by_clip']:.1%} of the prompts are longer.</p>"
            "<img src='length_histogram.png' alt='length histogram' style='max-width:640px'>"
        )
    rows = _summary_rows(report)
    if rows:
        parts.append("<h2>Metrics</h2><table><tr><th>metric</th>" + "".join(f"<th>{s}</th>" for s in SYSTEMS) + "</tr>")
        parts += [f"<tr><td>{e(n)}</td>" + "".join(f"<td>{e(v)}</td>" for v in values) + "</tr>" for n, values in rows]
        parts.append("</table>")
    parts.append("<h2>Images</h2><table><tr><th>prompt</th>" + "".join(f"<th>{s}</th>" for s in SYSTEMS) + "</tr>")
    for prompt in report["prompts"]:
        cells = "".join(
            f"<td><img src='{e(prompt['images'][s])}' alt='{s}'></td>" if s in prompt["images"] else "<td>missing</td>"
            for s in SYSTEMS
        )
        category = f" <em>({e(prompt['category'])})</em>" if prompt["category"] else ""
        parts.append(f"<tr><td class='prompt'><b>{e(prompt['id'])}</b>{category}<br>{e(_short(prompt['prompt']))}</td>"
                     f"{cells}</tr>")
    parts.append("</table></body></html>\n")
    return "\n".join(parts)
