"""Shapes datasets and the `llmdiff shapes` command."""

import json
import tarfile

import pytest
from PIL import Image

from llmdiff.cli.main import main
from llmdiff.errors import UserError
from llmdiff.worlds.shapes import (
    LANGUAGES,
    STYLES,
    WorldConfig,
    render,
    sample_scene,
    score,
)
from llmdiff.worlds.shapes.dataset import SPLIT_SEED_BASE, DatasetConfig, make_dataset
from llmdiff.worlds.shapes.tokenizer import clip_tokenizer

WORLD = WorldConfig(resolution=32, grid=2, max_objects=4)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, default_tokenizer):
    out = tmp_path_factory.mktemp("shapes") / "data"
    config = DatasetConfig(n=40, world=WORLD, shard_size=16, workers=1, batch_size=16)
    stats = make_dataset(config, out, default_tokenizer)
    return out, stats


def read_records(out):
    return [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]


def test_layout_and_splits(dataset):
    out, _ = dataset
    records = read_records(out)
    assert [r["split"] for r in records] == ["train"] * 36 + ["val"] * 2 + ["test"] * 2
    assert [r["seed"] for r in records if r["split"] == "val"] == [SPLIT_SEED_BASE["val"], SPLIT_SEED_BASE["val"] + 1]
    assert len({r["key"] for r in records}) == 40
    for name in ("world.json", "stats.json", "caption_lengths.png"):
        assert (out / name).is_file()
    assert not list(out.glob("*.tmp"))
    assert json.loads((out / "world.json").read_text())["splits"] == {"train": 36, "val": 2, "test": 2}


def test_images_are_the_renders_of_their_scenes_and_score_one(dataset):
    out, _ = dataset
    for record in read_records(out)[:10]:
        scene = sample_scene(record["seed"], WORLD)
        assert record["scene"] == scene.to_dict()
        image = Image.open(out / record["image"])
        assert image.tobytes() == render(scene, WORLD).tobytes()
        positions = [m["clip_token"] for m in record["captions"]["en"]["paragraph"]["mentions"]]
        metrics = score(image.convert("RGB"), scene, WORLD, positions)
        assert metrics.all_correct == 1.0
        assert metrics.recall_after_window in (None, 1.0)


def test_records_carry_every_caption_with_token_counts(dataset):
    out, _ = dataset
    tokenizer = clip_tokenizer()
    for record in read_records(out)[:5]:
        assert set(record["captions"]) == set(LANGUAGES)
        for styles in record["captions"].values():
            assert set(styles) == set(STYLES)
            for entry in styles.values():
                assert entry["clip_tokens"] == len(tokenizer(entry["text"]).input_ids)
                assert entry["llm_tokens"] > 0
            mentions = styles["paragraph"]["mentions"]
            assert [m["object"] for m in mentions] == list(range(len(record["scene"]["objects"])))
            for mention in mentions:
                _, end = mention["chars"]
                assert styles["paragraph"]["text"][end - 1] in ".。"


def test_stats_and_shards(dataset):
    out, stats = dataset
    assert stats["en"]["short"]["clip_tokens"]["over_77"] == 0.0
    assert stats["en"]["paragraph"]["clip_tokens"]["min"] > 77
    assert 0.0 <= stats["en"]["paragraphs_with_object_after_window"] <= 1.0
    shards = sorted(p.name for p in (out / "shards").iterdir())
    assert shards == ["test-000000.tar", "train-000000.tar", "train-000001.tar", "train-000002.tar", "val-000000.tar"]
    with tarfile.open(out / "shards" / "train-000000.tar") as tar:
        names = tar.getnames()
        assert sorted(names[:3]) == ["train-00000000.json", "train-00000000.png", "train-00000000.txt"]
        assert len(names) == 16 * 3
        text = tar.extractfile("train-00000000.txt").read().decode()
    assert text == read_records(out)[0]["captions"]["en"]["paragraph"]["text"]


def test_same_config_makes_identical_records(dataset, tmp_path, default_tokenizer):
    out, _ = dataset
    config = DatasetConfig(n=40, world=WORLD, workers=1, batch_size=7)
    make_dataset(config, tmp_path / "again", default_tokenizer)
    assert (tmp_path / "again" / "records.jsonl").read_bytes() == (out / "records.jsonl").read_bytes()


@pytest.mark.slow
def test_worker_processes_make_the_same_records(dataset, tmp_path, default_tokenizer):
    out, _ = dataset
    config = DatasetConfig(n=40, world=WORLD, workers=2, batch_size=8)
    make_dataset(config, tmp_path / "parallel", default_tokenizer)
    assert (tmp_path / "parallel" / "records.jsonl").read_bytes() == (out / "records.jsonl").read_bytes()


def test_refuses_a_non_empty_directory_unless_overwrite(tmp_path, default_tokenizer):
    (tmp_path / "notes.txt").write_text("keep me")
    config = DatasetConfig(n=2, world=WORLD, workers=1, languages=("en",))
    with pytest.raises(UserError, match="not empty"):
        make_dataset(config, tmp_path, default_tokenizer)
    make_dataset(config, tmp_path, default_tokenizer, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"  # only dataset outputs are replaced
    assert len(read_records(tmp_path)) == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [({"n": 0}, "must be positive"), ({"n": -3}, "must be positive"), ({"n": 5, "languages": ("en", "xx")}, "unknown language"),
     ({"n": 5, "styles": ("tweet",)}, "unknown caption style"), ({"n": 5, "val_fraction": 0.6, "test_fraction": 0.5}, "fractions")],
)
def test_dataset_config_rejects_bad_input(kwargs, message):
    with pytest.raises(UserError, match=message):
        DatasetConfig(**kwargs)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--n", "0"], "must be positive"),
        (["--n", "5", "--languages", "en,klingon"], "unknown language 'klingon'"),
        (["--n", "5", "--styles", "poem"], "unknown caption style 'poem'"),
        (["--n", "5", "--grid", "2", "--max-objects", "5"], "impossible scenes"),
    ],
)
def test_cli_make_rejects_bad_input_with_status_2(argv, message, tmp_path, capsys):
    assert main(["shapes", "make", "--out", str(tmp_path / "d"), *argv]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_cli_make_refuses_a_non_empty_directory(tmp_path, capsys):
    (tmp_path / "x").write_text("")
    assert main(["shapes", "make", "--n", "3", "--out", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cli_render_then_score(tmp_path, capsys):
    png = tmp_path / "scene.png"
    assert main(["shapes", "render", "--seed", "9", "--out", str(png), "--language", "fr"]) == 0
    assert "forme" in capsys.readouterr().out
    assert main(["shapes", "score", str(png), "--seed", "9"]) == 0
    assert json.loads(capsys.readouterr().out)["all_correct"] == 1.0
    assert main(["shapes", "score", str(png), "--seed", "9", "--resolution", "96"]) == 2
    assert "96x96" in capsys.readouterr().err
    Image.open(png).convert("RGBA").save(tmp_path / "rgba.png")
    assert main(["shapes", "score", str(tmp_path / "rgba.png"), "--seed", "9"]) == 2
    assert "RGB" in capsys.readouterr().err
    assert main(["shapes", "score", str(tmp_path / "missing.png"), "--seed", "9"]) == 2


def test_cli_make_and_stats(tmp_path, capsys):
    out = tmp_path / "d"
    argv = ["shapes", "make", "--n", "6", "--out", str(out), "--resolution", "32", "--grid", "2", "--max-objects", "3",
            "--languages", "en,ja", "--workers", "1", "--shards", "4"]
    assert main(argv) == 0
    records = read_records(out)
    assert len(records) == 6 and set(records[0]["captions"]) == {"en", "ja"}
    assert main(argv) == 2  # now non-empty
    assert main([*argv, "--overwrite"]) == 0
    capsys.readouterr()
    assert main(["shapes", "stats", str(out), "--figure", str(tmp_path / "lengths.png")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == {"en", "ja"}
    assert Image.open(tmp_path / "lengths.png").size == (1000, 360)
    assert main(["shapes", "stats", str(tmp_path / "nothing")]) == 2


def test_cli_stats_plots_every_style_and_names_the_languages_it_has(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["shapes", "make", "--n", "4", "--out", str(out), "--languages", "de", "--styles", "freeform",
                 "--workers", "1"]) == 0
    capsys.readouterr()
    # A dataset of freeform captions only: before, any dataset without short or paragraph captions was refused.
    assert main(["shapes", "stats", str(out), "--language", "de", "--figure", str(tmp_path / "de.png")]) == 0
    assert set(json.loads(capsys.readouterr().out)["de"]) == {"freeform"}
    assert Image.open(tmp_path / "de.png").size == (1000, 360)
    assert main(["shapes", "stats", str(out), "--figure", str(tmp_path / "en.png")]) == 2
    assert "no 'en' captions (its languages: de)" in capsys.readouterr().err
    assert not (tmp_path / "en.png").exists()
