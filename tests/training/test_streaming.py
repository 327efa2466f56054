"""Text-only shards (parquet, webdataset) are read as a stream: a shard at a time, as batches need them,
never the whole corpus in memory; stage 1 trains on them with the online teacher."""

import math

import pytest
import torch
from conftest import tiny_config

from llmdiff.training import data as training_data
from llmdiff.training.config import DataConfig, DataSource, load_config
from llmdiff.training.data import SHUFFLE_BUFFER, ExampleStream
from llmdiff.training.recipes import RECIPES

SHARDS, ROWS = 40, 100


def write_parquet_shards(folder, shards=SHARDS, rows=ROWS):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        ids = [f"s{shard}-{row}" for row in range(rows)]
        table = pa.table({"id": ids, "caption": [f"caption {name}" for name in ids]})
        pq.write_table(table, folder / f"train-{shard:04d}.parquet", row_group_size=25)
    return folder


def write_tar_shards(folder, shards=SHARDS, rows=ROWS):
    import webdataset as wds

    folder.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        with wds.TarWriter(str(folder / f"train-{shard:04d}.tar")) as writer:
            for row in range(rows):
                writer.write({"__key__": f"s{shard}-{row}", "txt": f"caption s{shard}-{row}"})
    return folder


@pytest.mark.parametrize("kind, write, reader", [("parquet", write_parquet_shards, "parquet_rows"),
                                                 ("webdataset", write_tar_shards, "iter_tar_samples")])
def test_shards_are_streamed_not_materialised(tmp_path, monkeypatch, kind, write, reader):
    folder = write(tmp_path / kind)
    opened = []
    original = getattr(training_data, reader)

    def counting(path):
        opened.append(path)
        return original(path)

    monkeypatch.setattr(training_data, reader, counting)
    stream = ExampleStream(DataConfig(train=[DataSource(path=str(folder))], image_field=None), seed=3)
    assert stream.examples == [] and len(stream.shards) == SHARDS and {s[2] for s in stream.shards} == {kind}
    first = stream.next_batch(8)
    # Only the shards that fill the shuffle buffer have been opened, not the corpus.
    assert len(opened) == SHUFFLE_BUFFER // ROWS + 1
    seen = [example.text for example in first + stream.next_batch(SHARDS * ROWS - 8)]
    assert len(opened) == SHARDS
    assert sorted(seen) == sorted(f"caption s{s}-{r}" for s in range(SHARDS) for r in range(ROWS))  # each once
    assert seen[:50] != sorted(seen[:50])  # shuffled across the buffer
    epoch_two = stream.next_batch(8)
    assert stream.epoch == 1 and [e.text for e in epoch_two] != seen[:8]


def test_stage1_trains_on_streamed_text_shards_with_the_online_teacher(models, tmp_path):
    folder = write_parquet_shards(tmp_path / "text", shards=3, rows=20)
    config = load_config(data=tiny_config(models, folder, tmp_path / "run", "align",
                                          data={"train": [str(folder)], "image_field": None}))
    assert config.cache.dir is None
    recipe = RECIPES["align"](config)
    recipe.setup()
    before = {name: value.clone() for name, value in recipe.models["adapter"].state_dict().items()}
    recipe.train()
    recipe.cleanup()
    assert math.isfinite(recipe.last_scalars["loss"]) and recipe.stream.index == 12  # 3 steps of 4
    after = recipe.models["adapter"].state_dict()
    assert any(not torch.equal(value, after[name]) for name, value in before.items())
