import json

import pytest

from llmdiff.cli.main import main
from llmdiff.errors import UserError
from llmdiff.eval.prompts import PromptSelection, load_prompts, read_prompts, write_prompts


def test_published_sets_load_whole(shared_prompts):
    para = load_prompts(shared_prompts / "ParaPrompts_400.csv")
    assert len(para) == 399
    assert para[0].id == "0f04e2fe766b54523b7fe89174c7b2eb" and para[0].category == "Human"
    assert para[0].prompt.startswith("A large pot was placed on top of a burning stove.")
    chinese = load_prompts(shared_prompts / "ParaPrompts_400.csv", PromptSelection(language="zh"))
    assert chinese[0].prompt.startswith("一个烧着火的火炉") and chinese[0].id == para[0].id
    dpg = load_prompts(shared_prompts / "dpg_bench_prompts.jsonl")
    assert len(dpg) == 1065 and [r.id for r in dpg[:3]] == ["0", "1", "10"] and dpg[0].category is None
    parti = load_prompts(shared_prompts / "PartiPrompts.tsv")
    assert len(parti) == 1632 and (parti[0].prompt, parti[0].category, parti[0].id) == ("bond", "Abstract", "00000")


def test_fixture_formats(prompt_files):
    para = load_prompts(prompt_files["para"])
    assert [(r.id, r.prompt, r.category) for r in para] == [
        ("aa11", "A red cat, sitting.", "Animals"), ("bb22", "A blue dog.", "Animals"),
        ("cc33", "A kitchen at dawn.", "Indoor Scenes")]
    assert load_prompts(prompt_files["para"], PromptSelection(language="zh"))[1].prompt == "一只蓝色的狗。"
    assert [r.id for r in load_prompts(prompt_files["dpg"])] == ["0", "1", "10"]
    assert [r.category for r in load_prompts(prompt_files["parti"])] == ["Abstract", "Illustrations"]
    assert [(r.id, r.prompt) for r in load_prompts(prompt_files["txt"])] == [("00000", "first prompt"),
                                                                              ("00001", "second prompt")]
    assert [r.prompt for r in load_prompts(prompt_files["user"])] == ["an owl", "a fox"]
    assert [r.prompt for r in load_prompts(prompt_files["user"], PromptSelection(column="style"))] == ["ink", "oil"]


def test_subsets_keep_source_positions(prompt_files):
    first = load_prompts(prompt_files["para"], PromptSelection(limit=2))
    assert [r.index for r in first] == [0, 1]
    sampled = load_prompts(prompt_files["para"], PromptSelection(limit=2, sample_seed=3))
    again = load_prompts(prompt_files["para"], PromptSelection(limit=2, sample_seed=3))
    assert sampled == again and [r.index for r in sampled] == sorted(r.index for r in sampled)
    indoor = load_prompts(prompt_files["para"], PromptSelection(categories=("Indoor Scenes",)))
    assert [(r.id, r.index) for r in indoor] == [("cc33", 2)]  # index (and so the seed) is the source row


@pytest.mark.parametrize("content, suffix, selection, message", [
    ("Prompt,Category\nx,y\n", ".csv", PromptSelection(language="fr"), "no prompt column for language 'fr'"),
    ("Prompt,Category\nx,y\n", ".csv", PromptSelection(column="Caption"), "no column 'Caption'"),
    ("Prompt,Category\nx,y\n", ".csv", PromptSelection(categories=("Cars",)), "unknown categories ['Cars']"),
    ('{"prompt": "a"}\nnot json\n', ".jsonl", PromptSelection(), "line 2 is not JSON"),
    ("id,prompt\n1,a\n1,b\n", ".csv", PromptSelection(), "prompt id '1' appears twice"),
    ("prompt\na\n\"\"\n", ".csv", PromptSelection(), "row 2: the 'prompt' column is empty"),
    ("", ".txt", PromptSelection(), "holds no prompts"),
    ("a", ".xlsx", PromptSelection(), "must end in .csv, .tsv, .jsonl or .txt"),
])
def test_bad_prompt_files(tmp_path, content, suffix, selection, message):
    path = tmp_path / f"p{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_prompts(path, selection)


def test_missing_file_and_bad_limit(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_prompts(tmp_path / "nope.csv")
    with pytest.raises(UserError, match="at least 1"):
        PromptSelection(limit=0)


def test_selection_round_trip(prompt_files, tmp_path):
    records = load_prompts(prompt_files["para"])
    write_prompts(tmp_path / "prompts.jsonl", records)
    assert read_prompts(tmp_path / "prompts.jsonl") == records


def test_cli_prompts(prompt_files, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["eval", "prompts", str(prompt_files["para"]), "-o", str(run), "--language", "zh", "--limit", "2"]) == 0
    rows = [json.loads(line) for line in (run / "prompts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["prompt"] for r in rows] == ["一只红色的猫。", "一只蓝色的狗。"]
    assert main(["eval", "prompts", str(prompt_files["para"]), "-o", str(run)]) == 2
    assert "already exists" in capsys.readouterr().err
