import json

from llmdiff.cli.main import main


def test_report_with_stats_metrics_and_grid(tmp_path, make_run, capsys):
    run = make_run(tmp_path / "run", [("p0", "a <b>red</b> cat", "Animals"), ("p1", "x" * 400, None)])
    (run / "stats.json").write_text(json.dumps({"summary": {
        "count": 2, "clip_limit": 75, "clip_tokens": {"mean": 50.0, "median": 50, "min": 3, "max": 97},
        "llm_tokens": {"mean": 40.0, "median": 40, "min": 4, "max": 76},
        "share_truncated_by_clip": 0.5, "mean_clip_dropped_share": 0.11}, "prompts": []}))
    (run / "metrics.json").write_text(json.dumps({"metrics": ["clip_score", "fid"], "systems": {
        "ours": {"clip_score": {"mean": 31.5, "std": 1.0, "per_prompt": [30.5, 32.5]}, "fid": 12.25},
        "baseline": {"clip_score": {"mean": 29.0, "std": 0.0, "per_prompt": [29.0, 29.0]}, "fid": 14.5}}}))
    (run / "images" / "baseline" / "p1.png").unlink()
    assert main(["eval", "report", str(run)]) == 0
    assert capsys.readouterr().out.split() == [str(run / f"report.{s}") for s in ("json", "md", "html")]
    report = json.loads((run / "report.json").read_text())
    assert report["images"] == {"ours": 2, "baseline": 1}
    assert report["metrics"] == {"ours": {"clip_score": 31.5, "fid": 12.25}, "baseline": {"clip_score": 29.0, "fid": 14.5}}
    assert report["metrics_full"]["systems"]["ours"]["clip_score"]["per_prompt"] == [30.5, 32.5]
    assert report["prompts"][0]["images"] == {"ours": "images/ours/p0.png", "baseline": "images/baseline/p0.png"}
    markdown = (run / "report.md").read_text()
    assert "| clip_score | 31.5 | 29 |" in markdown and "| fid | 12.25 | 14.5 |" in markdown
    assert "![ours](images/ours/p0.png) | ![baseline](images/baseline/p0.png)" in markdown
    assert "x" * 300 + " …" in markdown and "missing" in markdown
    page = (run / "report.html").read_text()
    assert "a &lt;b&gt;red&lt;/b&gt; cat" in page and "<img src='images/baseline/p0.png'" in page
    assert "50.0% of the prompts are longer" in page


def test_report_without_stats_or_metrics(tmp_path, make_run):
    run = make_run(tmp_path / "run", [("p0", "a cat", None)])
    assert main(["eval", "report", str(run)]) == 0
    report = json.loads((run / "report.json").read_text())
    assert report["metrics"] is None and report["prompt_stats"] is None
