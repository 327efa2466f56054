"""Synonym similarity in an LLM's states: the scoring on planted states, the word lists, the command."""

import json

import pytest
import torch

from llmdiff.cli.main import main
from llmdiff.eval.synonyms import (
    Word,
    format_report,
    layer_summary,
    score_pairs,
    synonym_report,
    vocabulary,
    word_states,
)
from llmdiff.worlds.shapes import WorldConfig

WORDS = [Word("colours", "red", "red", "anchor"), Word("colours", "blue", "blue", "anchor"),
         Word("colours", "green", "green", "anchor"), Word("colours", "red", "scarlet", "training"),
         Word("colours", "red", "crimson", "held-out"), Word("colours", "red", "bright red", "training")]


def planted_states():
    """Three layers: at 0 every synonym sits on blue, at 1 on red, at 2 only scarlet does."""
    torch.manual_seed(0)
    red, blue, green = torch.randn(3, 16)
    noise = lambda: 0.05 * torch.randn(16)  # noqa: E731
    layers = [
        [red, blue, green, blue + noise(), blue + noise(), blue + noise()],
        [red, blue, green, red + noise(), red + noise(), red + noise()],
        [red, blue, green, red + noise(), green + noise(), green + noise()],
    ]
    return torch.stack([torch.stack(layer) for layer in layers], dim=1)  # (words, layers, width)


def test_planted_relations_are_found_layer_by_layer():
    layers = score_pairs(planted_states(), WORDS)
    assert [[s.word for s in scores] for scores in layers] == [["scarlet", "crimson", "bright red"]] * 3
    assert [[s.related for s in scores] for scores in layers] == [[False] * 3, [True] * 3, [True, False, False]]
    assert layers[0][0].nearest_other == "blue" and layers[2][1].nearest_other == "green"
    assert layers[1][2].contains_anchor and not layers[1][0].contains_anchor
    summary = layer_summary(layers)
    assert [row["related"] for row in summary] == [0.0, 1.0, pytest.approx(1 / 3)]
    assert summary[2]["related_held-out"] == 0.0 and summary[2]["related_training"] == 0.5
    report = synonym_report(layers, marked=[-1])
    assert report["best_layer"] == 1 and report["marked_layers"] == [2]
    assert report["chance"] == pytest.approx(1 / 3)
    assert report["never_related"] == []
    markdown = format_report(report, "planted")
    assert "| 1 (best) | 1.00 | 1.00 | 1.00 | 1.00 |" in markdown
    assert "| 2 (adapter) |" in markdown


def test_a_word_related_nowhere_is_listed():
    states = planted_states()
    states[3] = states[1]  # scarlet is blue at every layer
    report = synonym_report(score_pairs(states, WORDS))
    assert [p["word"] for p in report["never_related"]] == ["scarlet"]


def test_vocabulary_follows_the_world_and_marks_held_out_words():
    world = WorldConfig(grid=2, max_objects=3, resolution=32, colours=("red", "blue"), shapes=("circle", "star"))
    words = vocabulary("en", world)
    anchors = {(w.category, w.value): w.text for w in words if w.source == "anchor"}
    assert anchors[("colours", "red")] == "red" and ("colours", "green") not in anchors
    assert {w.value for w in words if w.category == "places"} == {"top-left", "top-right", "bottom-left", "bottom-right"}
    held = {w.text for w in words if w.source == "held-out"}
    assert {"crimson", "azure", "orb", "pentagram"} <= held and "scarlet" not in held
    assert any(w.source == "held-out" for w in vocabulary("de", world))
    assert not any(w.source == "held-out" for w in vocabulary("ja", world))


def test_word_states_read_each_words_own_tokens(tiny_models):
    from llmdiff.loading import load_llm_model, load_llm_tokenizer

    tokenizer, model = load_llm_tokenizer(str(tiny_models["llama"])), load_llm_model(str(tiny_models["llama"]))
    states = word_states(model, tokenizer, ["red", "red", "bright red", "blue"], "In the picture: {word}.", batch_size=3)
    assert states.shape[:2] == (4, model.config.num_hidden_layers + 1)
    assert torch.allclose(states[0], states[1])  # the same word in another batch: the same states
    assert not torch.allclose(states[0], states[3])


def test_cli_writes_the_table_for_a_model(tiny_models, tiny_adapter_config, tmp_path, capsys):
    import shutil

    from llmdiff.pipeline import LLMDiffusionPipeline

    with pytest.raises(SystemExit) as help_exit:
        main(["shapes", "synonyms", "--help"])
    assert help_exit.value.code == 0 and "neutral frame" in capsys.readouterr().out
    model = tmp_path / "model"
    shutil.copytree(tiny_models["sd"], model / "base")
    pipe = LLMDiffusionPipeline.from_pretrained(base=tiny_models["sd"], llm=tiny_models["llama"],
                                                adapter_config=tiny_adapter_config)
    pipe.save_adapter(model / "adapter", llm=str(tiny_models["llama"]))
    out = tmp_path / "out"
    assert main(["shapes", "synonyms", "--model", str(model), "--out", str(out)]) == 0, capsys.readouterr().err
    report = json.loads((out / "synonyms.json").read_text())
    layers = json.loads((tiny_models["llama"] / "config.json").read_text())["num_hidden_layers"]
    assert len(report["layers"]) == layers + 1  # the embeddings and every layer
    assert report["words"] > 50 and report["language"] == "en"
    assert "# Synonym similarity" in (out / "synonyms.md").read_text()
    assert main(["shapes", "synonyms", "--model", str(model), "--lora", "--out", str(out)]) == 2
    assert "has no LLM LoRA" in capsys.readouterr().err
    assert main(["shapes", "synonyms", "--model", str(model), "--language", "xx", "--out", str(out)]) == 2
    assert "unknown language 'xx'" in capsys.readouterr().err
