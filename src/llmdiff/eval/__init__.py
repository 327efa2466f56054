"""Evaluation of an LLM-conditioned model against its base model.

One module per job: `prompts` (prompt sets), `generate` (ours vs baseline, resumable), `prompt_stats`
(token counts), `metrics/` (CLIP score, FID/KID, aesthetic score), `study/` (human preference study) and
`report` (JSON, Markdown and HTML). `run_dir` names the files of one evaluation run.
"""
