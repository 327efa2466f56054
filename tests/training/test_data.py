"""Examples from manifests and shards, in a resumable order; unreadable images skipped and counted."""

import io
import json
import tarfile

import pytest
import torch
from PIL import Image

from llmdiff.training.config import DataConfig, DataSource
from llmdiff.training.data import CorruptImageError, Example, ExampleStream, ImageLoader, record_examples

RECORD = {
    "id": "scene1",
    "image": "scene1.png",
    "captions": {"en": {"short": "a red circle", "paragraph": "A red circle sits left."},
                 "de": {"short": "ein roter Kreis", "paragraph": "Ein roter Kreis liegt links."}},
}


def test_multilingual_record_pairs_each_language_with_english(tmp_path):
    config = DataConfig(train=[DataSource(path="x")], text_fields=("captions.*.paragraph",),
                        clip_text_field="captions.en.paragraph")
    examples = record_examples(RECORD, config, tmp_path, "fallback")
    assert [(e.text, e.clip_text) for e in examples] == [
        ("A red circle sits left.", "A red circle sits left."),
        ("Ein roter Kreis liegt links.", "A red circle sits left."),
    ]
    assert examples[0].image == str(tmp_path / "scene1.png")
    assert examples[1].id == "scene1:captions.*.paragraph[de]"


def test_star_in_clip_field_follows_the_text_field(tmp_path):
    config = DataConfig(train=[DataSource(path="x")], text_fields=("captions.en.*",), clip_text_field="captions.en.*",
                        image_field=None)
    examples = record_examples(RECORD, config, None, "f")
    assert [e.clip_text for e in examples] == ["a red circle", "A red circle sits left."]
    assert examples[0].image is None


def test_star_in_clip_field_takes_the_same_position_of_the_text_field():
    # Each language's short caption pairs with the English short one, each paragraph with the English paragraph.
    config = DataConfig(train=[DataSource(path="x")], text_fields=("captions.*.short", "captions.*.paragraph"),
                        clip_text_field="captions.en.*", image_field=None)
    examples = record_examples(RECORD, config, None, "f")
    assert [(e.text, e.clip_text) for e in examples] == [
        ("a red circle", "a red circle"),
        ("ein roter Kreis", "a red circle"),
        ("A red circle sits left.", "A red circle sits left."),
        ("Ein roter Kreis liegt links.", "A red circle sits left."),
    ]


def _ids(stream, count):
    return [stream.next_example().id for _ in range(count)]


def test_order_is_seeded_and_resumes_exactly(dataset):
    config = DataConfig(train=[DataSource(path=str(dataset))])
    first = ExampleStream(config, seed=3)
    head = _ids(first, 11)
    state = first.state_dict()
    tail = _ids(first, 9)
    assert sorted(head[:8]) == sorted(f"s{i}:caption" for i in range(8))  # one epoch = every example once
    assert head[:8] != head[8:] + tail[:5]  # epochs are reshuffled
    resumed = ExampleStream(config, seed=3)
    resumed.load_state_dict(state)
    assert _ids(resumed, 9) == tail
    assert _ids(ExampleStream(config, seed=4), 8) != head[:8]


def test_a_stage_that_skips_examples_reads_what_one_run_reads_next(dataset):
    config = DataConfig(train=[DataSource(path=str(dataset))])
    whole = _ids(ExampleStream(config, seed=3), 20)
    later = ExampleStream(DataConfig(train=[DataSource(path=str(dataset))], skip_examples=11), seed=3)
    assert later.state_dict() == {"epoch": 1, "index": 3}  # into the second epoch (8 examples each)
    assert _ids(later, 9) == whole[11:]
    with pytest.raises(Exception, match="data.skip_examples must be ≥ 0"):
        DataConfig(train=[DataSource(path=str(dataset))], skip_examples=-1)


def _shard(path, count):
    with tarfile.open(path, "w") as tar:
        for index in range(count):
            buffer = io.BytesIO()
            Image.new("RGB", (20, 12), (index * 20, 0, 0)).save(buffer, format="PNG")
            files = {"png": buffer.getvalue(), "txt": f"caption {index}".encode(),
                     "json": json.dumps({"id": f"k{index}", "lang": "en"}).encode()}
            for extension, data in files.items():
                info = tarfile.TarInfo(f"k{index}.{extension}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_webdataset_shards_stream_and_resume(tmp_path):
    for shard in range(2):
        _shard(tmp_path / f"train-{shard}.tar", 5)
    config = DataConfig(train=[DataSource(path=str(tmp_path / "train-*.tar"))], image_field="png", resolution=8)
    stream = ExampleStream(config, seed=0)
    examples = [stream.next_example() for _ in range(7)]
    assert {e.text for e in examples} <= {f"caption {i}" for i in range(5)}
    assert isinstance(examples[0].image, bytes)
    assert ImageLoader(8).load(examples[0]).shape == (3, 8, 8)
    state = stream.state_dict()
    rest = _ids(stream, 6)
    resumed = ExampleStream(config, seed=0)
    resumed.load_state_dict(state)
    assert _ids(resumed, 6) == rest


def test_images_resized_cropped_and_scaled(tmp_path):
    path = tmp_path / "wide.png"
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 10, 20))  # a blue band at the far left is cropped away
    image.save(path)
    tensor = ImageLoader(16).load(Example("x", "t", "t", str(path)))
    assert tensor.shape == (3, 16, 16)
    assert torch.allclose(tensor[:, 8, 8], torch.tensor([1.0, -1.0, -1.0]))


def test_unreadable_images_are_counted_and_stop_the_run_over_the_limit(tmp_path):
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    Image.new("RGB", (8, 8)).save(good)
    bad.write_bytes(b"garbage")
    loader = ImageLoader(8, max_corrupt_fraction=0.45, min_seen=4)
    results = [loader.load(Example(str(i), "t", "t", str(good if i % 4 else bad))) for i in range(8)]
    assert [r is None for r in results] == [True, False, False, False] * 2
    assert loader.summary() == "2 of 8 image reads failed and were skipped"
    clean = ImageLoader(8)
    clean.load(Example("0", "t", "t", str(good)))
    assert clean.summary() == "1 image read, none failed"
    strict = ImageLoader(8, max_corrupt_fraction=0.1, min_seen=4)
    with pytest.raises(CorruptImageError, match="2 of 4 images could not be read"):
        for i in range(4):
            strict.load(Example(str(i), "t", "t", str(bad if i % 2 else good)))
