"""The study's bar chart: object recall per column and row, with the 95% intervals the evaluation gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def chart_columns(summary: dict, split: str = "test") -> list[str]:
    """Every column some row has, main columns first, then the held-out wording columns, in table order."""
    columns: list[str] = []
    for key in ("columns", "wording"):
        for row in summary["rows"].values():
            for name in row.get(split, {}).get(key, {}):
                if name not in columns:
                    columns.append(name)
    return columns


def write_recall_chart(summary: dict, path: Path, split: str = "test") -> Path:
    """Grouped bars (one group per column, one bar per row) of recall with its 95% interval as error bars."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    from matplotlib import pyplot as plt

    from llmdiff.files import atomic_output

    columns = chart_columns(summary, split)
    rows = list(summary["rows"])
    width = 0.8 / max(1, len(rows))
    fig, axis = plt.subplots(figsize=(max(8.0, 0.9 * len(columns) * max(1, len(rows)) * 0.35 + 3), 4.5))
    positions = np.arange(len(columns))
    for index, name in enumerate(rows):
        cells = {**summary["rows"][name].get(split, {}).get("columns", {}),
                 **summary["rows"][name].get(split, {}).get("wording", {})}
        values, low, high = [], [], []
        for column in columns:
            cell = cells.get(column) or {}
            recall = cell.get("recall")
            interval = cell.get("recall_ci95") or [recall, recall]
            values.append(np.nan if recall is None else recall)
            low.append(0.0 if recall is None else recall - interval[0])
            high.append(0.0 if recall is None else interval[1] - recall)
        axis.bar(positions + (index - (len(rows) - 1) / 2) * width, values, width, yerr=[low, high], capsize=2,
                 label=name)
    axis.set_xticks(positions, columns, rotation=35, ha="right", fontsize=8)
    axis.set_ylabel("object recall (95% interval)")
    axis.set_ylim(0, 1.05)
    axis.set_title(f"Connector families on the shapes world ({split} scenes)")
    axis.legend(fontsize=7, ncol=min(4, len(rows)), loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, "wb") as file:
        fig.savefig(file, format="png", dpi=120)
    plt.close(fig)
    return path
