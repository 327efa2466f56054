import json
import tarfile

import pytest
from data_helpers import save_image, write_manifest

import llmdiff.data.shard as shard_module
from llmdiff.data.shard import ShardConfig, write_shards, shard_paths
from llmdiff.errors import UserError


@pytest.fixture
def manifest(tmp_path):
    """Twelve samples whose images each take about 10 kB: noise does not compress."""
    import numpy as np

    from PIL import Image

    rng = np.random.default_rng(0)
    records = []
    for index in range(12):
        path = tmp_path / "img" / f"{index}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (56, 56, 3), dtype=np.uint8)).save(path)
        records.append({"id": f"s{index:02d}", "image": f"img/{index}.png", "caption": f"caption {index}",
                        "width": 56, "height": 56, "sha256": None, "aesthetic": index / 2})
    save_image(tmp_path / "img" / "bmp.bmp", (8, 8), "red")
    records.append({"id": "bmp", "image": "img/bmp.bmp", "caption": "re-encoded", "width": 8, "height": 8})
    return write_manifest(tmp_path / "m.jsonl", records)


def read_back(paths):
    import webdataset

    return list(webdataset.WebDataset([str(path) for path in paths], shardshuffle=False))


def test_shards_respect_size_and_read_back_with_webdataset(manifest, tmp_path):
    index = write_shards(manifest, tmp_path / "shards", ShardConfig(shard_size=40_000))
    shards = index["shards"]
    assert index["samples"] == 13 == sum(item["samples"] for item in shards)
    assert [item["name"] for item in shards] == [f"shard-{i:06d}.tar" for i in range(len(shards))]
    # A noise sample takes about 12.5 kB of tar: three fit under 40 kB, a fourth does not.
    assert [item["samples"] for item in shards] == [3, 3, 3, 3, 1]
    for item in shards:
        assert item["bytes"] == (tmp_path / "shards" / item["name"]).stat().st_size
        assert item["bytes"] <= 40_960  # the target, rounded up to tar's 10 kB record
    assert json.loads((tmp_path / "shards" / "index.json").read_text()) == index

    samples = read_back(shard_paths(tmp_path / "shards" / "index.json"))
    assert [sample["__key__"] for sample in samples] == [f"s{i:02d}" for i in range(12)] + ["bmp"]
    first = samples[0]
    assert first["png"] == (tmp_path / "img" / "0.png").read_bytes()
    assert first["txt"] == b"caption 0"
    record = json.loads(first["json"])
    assert record["image"] == "s00.png" and record["aesthetic"] == 0.0
    assert samples[-1]["png"].startswith(b"\x89PNG")  # the BMP was re-encoded
    assert not list((tmp_path / "shards").glob(".*"))  # no temp or progress files left


def test_same_manifest_gives_identical_shards(manifest, tmp_path):
    write_shards(manifest, tmp_path / "a", ShardConfig(shard_size=40_000))
    write_shards(manifest, tmp_path / "b", ShardConfig(shard_size=40_000))
    assert (tmp_path / "a" / "shard-000001.tar").read_bytes() == (tmp_path / "b" / "shard-000001.tar").read_bytes()


def test_interrupted_run_resumes_after_last_complete_shard(manifest, tmp_path, monkeypatch):
    calls = []
    real = shard_module.image_member

    def failing(path):
        calls.append(path)
        if len(calls) == 8:
            raise KeyboardInterrupt
        return real(path)

    monkeypatch.setattr(shard_module, "image_member", failing)
    with pytest.raises(KeyboardInterrupt):
        write_shards(manifest, tmp_path / "shards", ShardConfig(shard_size=40_000))
    done = sorted(path.name for path in (tmp_path / "shards").glob("*.tar"))
    assert done == ["shard-000000.tar", "shard-000001.tar"]
    assert not (tmp_path / "shards" / "index.json").exists()

    calls.clear()
    monkeypatch.setattr(shard_module, "image_member", lambda path: calls.append(path) or real(path))
    index = write_shards(manifest, tmp_path / "shards", ShardConfig(shard_size=40_000))
    assert len(calls) == 13 - 6  # the six samples of the two finished shards were not read again
    assert [sample["__key__"] for sample in read_back(shard_paths(tmp_path / "shards" / "index.json"))] == [
        f"s{i:02d}" for i in range(12)] + ["bmp"]
    assert index["samples"] == 13
    with tarfile.open(tmp_path / "shards" / "shard-000002.tar") as tar:
        assert tar.getnames()[0] == "s06.json"


def test_ids_that_webdataset_cannot_key_are_refused(tmp_path):
    save_image(tmp_path / "a.png")
    manifest = write_manifest(tmp_path / "m.jsonl", [{"id": "a.v1", "image": "a.png", "caption": "x"}])
    with pytest.raises(UserError, match=r"m.jsonl line 1: id 'a.v1'"):
        write_shards(manifest, tmp_path / "shards")


def test_missing_image_names_the_line(tmp_path):
    manifest = write_manifest(tmp_path / "m.jsonl", [{"id": "a", "image": "gone.png", "caption": "x"}])
    with pytest.raises(UserError, match="m.jsonl line 1: cannot read image"):
        write_shards(manifest, tmp_path / "shards")
