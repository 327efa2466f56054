import csv
import json

import pytest
from data_helpers import read_jsonl, save_image

from llmdiff.data.imageinfo import sha256_bytes
from llmdiff.data.ingest import IngestConfig, ingest_sources
from llmdiff.data.manifest import iter_records
from llmdiff.errors import UserError


def test_folder_with_sidecar_captions(good_folder, tmp_path):
    output = tmp_path / "m.jsonl"
    report = ingest_sources([good_folder], output)
    assert report.records == 4 and report.unreadable == 0
    rows = read_jsonl(output)
    assert [row["id"] for row in rows] == ["img0", "img1", "img2", "more_photo"]
    assert [row["caption"] for row in rows] == ["a red square", "a green square", "a blue square", "a blue photo"]
    assert [(row["width"], row["height"]) for row in rows] == [(64, 64), (72, 64), (80, 64), (96, 64)]
    assert rows[0]["image"] == "images/img0.png"  # relative: the images sit below the manifest's folder
    assert rows[0]["sha256"] == sha256_bytes((good_folder / "img0.png").read_bytes())


def test_unreadable_images_are_listed_with_nulls(messy_folder, tmp_path):
    report = ingest_sources([messy_folder], tmp_path / "m.jsonl")
    rows = {row["id"]: row for row in read_jsonl(tmp_path / "m.jsonl")}
    assert report.records == 11 and report.unreadable == 2
    assert rows["garbage"]["width"] is None and rows["garbage"]["sha256"] is not None
    assert rows["nocaption"]["caption"] == ""


def test_csv_table_with_extra_columns(good_folder, tmp_path):
    table = good_folder / "captions.csv"
    with open(table, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["file", "text", "aesthetic", "source", "id"])
        writer.writerow(["img0.png", "first", "6.5", "web", "007"])
        writer.writerow(["./more/../more/photo.jpg", "2", "4", "", ""])
    ingest_sources([table], tmp_path / "m.jsonl")
    rows = list(iter_records(tmp_path / "m.jsonl"))
    # Extra columns become numbers; ids and captions stay text.
    assert [(row["id"], row["caption"], row["aesthetic"], row["source"]) for row in rows] == [
        ("007", "first", 6.5, "web"), ("more_photo", "2", 4, None)]
    assert rows[1]["image"] == str(good_folder / "more" / "photo.jpg")
    assert rows[1]["width"] == 96


def test_jsonl_and_parquet_tables_agree(good_folder, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"key": "k1", "image": str(good_folder / "img1.png"), "caption": "one", "score": 0.5},
            {"key": "k2", "image": "img2.png", "caption": "two", "score": 0.9}]
    (good_folder / "t.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    pq.write_table(pa.Table.from_pylist(rows), good_folder / "t.parquet")
    ingest_sources([good_folder / "t.jsonl"], tmp_path / "a.jsonl")
    ingest_sources([good_folder / "t.parquet"], tmp_path / "b.jsonl")
    assert read_jsonl(tmp_path / "a.jsonl") == read_jsonl(tmp_path / "b.jsonl")
    first = read_jsonl(tmp_path / "a.jsonl")[0]
    assert (first["id"], first["caption"], first["score"], first["width"]) == ("k1", "one", 0.5, 72)


def test_webdataset_tars_are_extracted(good_folder, tmp_path):
    import webdataset

    tar = tmp_path / "in-000.tar"
    with webdataset.TarWriter(str(tar)) as writer:
        writer.write({"__key__": "sub/a", "png": (good_folder / "img0.png").read_bytes(), "txt": "from txt",
                      "json": {"aesthetic": 7.0}})
        writer.write({"__key__": "b", "jpg": (good_folder / "more" / "photo.jpg").read_bytes(),
                      "json": {"caption": "from json", "width": 1}})
    output = tmp_path / "out" / "m.jsonl"
    output.parent.mkdir()
    report = ingest_sources([tar], output)
    rows = read_jsonl(output)
    assert report.records == 2
    assert [(row["id"], row["caption"], row["image"]) for row in rows] == [
        ("sub_a", "from txt", "m-images/sub_a.png"), ("b", "from json", "m-images/b.jpg")]
    assert rows[0]["aesthetic"] == 7.0
    assert rows[1]["width"] == 96  # measured, not the tar's stale value
    assert (output.parent / "m-images" / "sub_a.png").read_bytes() == (good_folder / "img0.png").read_bytes()


@pytest.mark.parametrize(
    "content, message",
    [
        ("image,caption\nhttp://x/a.png,cat\n", "line 2: 'http://x/a.png' is a URL"),
        ("picture,caption\na.png,cat\n", "line 2: no image column"),
        ("image,caption\n,cat\n", "line 2: empty image path"),
        ("image,caption\na.png,cat,extra\n", "line 2: more cells than header columns"),
    ],
)
def test_bad_tables_name_file_and_line(tmp_path, content, message):
    table = tmp_path / "t.csv"
    table.write_text(content)
    with pytest.raises(UserError) as error:
        ingest_sources([table], tmp_path / "m.jsonl")
    assert str(table) in str(error.value) and message in str(error.value)
    assert not (tmp_path / "m.jsonl").exists()  # nothing half-written


def test_named_column_must_exist(tmp_path):
    save_image(tmp_path / "a.png")
    (tmp_path / "t.csv").write_text("image,caption\na.png,cat\n")
    with pytest.raises(UserError, match="no column 'alt'"):
        ingest_sources([tmp_path / "t.csv"], tmp_path / "m.jsonl", IngestConfig(caption_column="alt"))
