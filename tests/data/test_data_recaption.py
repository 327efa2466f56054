
import pytest
from data_helpers import COLOURS, read_jsonl, save_image, write_manifest

from llmdiff.cli.main import main
from llmdiff.data.captioners import Captioner, VLMCaptioner, VLMCaptionerConfig
from llmdiff.data.recaption import RecaptionConfig, parts_dir, recaption_manifest
from llmdiff.errors import UserError


class SizeCaptioner:
    """Captions that say what the captioner saw, and a log of every batch it was given."""

    def __init__(self, fail_on_call: int | None = None):
        self.batches: list[list[str]] = []
        self.fail_on_call = fail_on_call

    def caption(self, images):
        if self.fail_on_call is not None and len(self.batches) + 1 == self.fail_on_call:
            raise KeyboardInterrupt
        self.batches.append([f"{image.width}x{image.height}" for image in images])
        return [f"a {image.width} by {image.height} image" for image in images]


class FakeAccelerator:
    """The part of `accelerate.Accelerator` that recaption uses, for one process of several."""

    def __init__(self, index: int, count: int):
        self.process_index, self.num_processes = index, count
        self.is_main_process = index == 0

    def wait_for_everyone(self):
        pass


@pytest.fixture
def manifest(tmp_path):
    records = []
    for index in range(7):
        save_image(tmp_path / "img" / f"{index}.png", (32 + index, 32), COLOURS[index])
        records.append({"id": f"s{index}", "image": f"img/{index}.png", "caption": f"old {index}", "score": index})
    return write_manifest(tmp_path / "m.jsonl", records)


def test_captioners_meet_the_protocol():
    assert isinstance(SizeCaptioner(), Captioner)


def test_captions_replace_old_ones_which_are_kept(manifest, tmp_path):
    captioner = SizeCaptioner()
    report = recaption_manifest(manifest, tmp_path / "out.jsonl", captioner, RecaptionConfig(batch_size=3, progress=False),
                                FakeAccelerator(0, 1))
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [row["caption"] for row in rows] == [f"a {32 + i} by 32 image" for i in range(7)]
    assert [row["original_caption"] for row in rows] == [f"old {i}" for i in range(7)]
    assert rows[3]["score"] == 3 and rows[3]["image"] == "img/3.png"
    assert [len(batch) for batch in captioner.batches] == [3, 3, 1]
    assert (report.captioned_now, report.written, report.failed) == (7, 7, 0)


def test_interrupted_run_resumes_where_it_stopped(manifest, tmp_path):
    output = tmp_path / "out.jsonl"
    config = RecaptionConfig(batch_size=2, progress=False)
    with pytest.raises(KeyboardInterrupt):
        recaption_manifest(manifest, output, SizeCaptioner(fail_on_call=3), config, FakeAccelerator(0, 1))
    assert not output.exists()
    part = parts_dir(output) / "part-00000.jsonl"
    assert [row["id"] for row in read_jsonl(part)] == ["s0", "s1", "s2", "s3"]  # flushed per batch
    with open(part, "a") as file:
        file.write('{"id": "s4", "capt')  # a crash in the middle of a line

    captioner = SizeCaptioner()
    report = recaption_manifest(manifest, output, captioner, config, FakeAccelerator(0, 1))
    assert captioner.batches == [["36x32", "37x32"], ["38x32"]]  # s4 (half-written), s5, s6 only
    assert report.captioned_now == 3 and report.written == 7
    assert [row["id"] for row in read_jsonl(output)] == [f"s{i}" for i in range(7)]

    again = SizeCaptioner()  # a finished run started again only merges
    recaption_manifest(manifest, output, again, config, FakeAccelerator(0, 1))
    assert again.batches == []


def test_processes_split_the_manifest_and_the_main_one_merges(manifest, tmp_path):
    output = tmp_path / "out.jsonl"
    config = RecaptionConfig(batch_size=8, progress=False)
    second = recaption_manifest(manifest, output, SizeCaptioner(), config, FakeAccelerator(1, 2))
    assert second.written is None and not output.exists()
    first = recaption_manifest(manifest, output, SizeCaptioner(), config, FakeAccelerator(0, 2))
    folder = parts_dir(output)
    assert [row["id"] for row in read_jsonl(folder / "part-00000.jsonl")] == ["s0", "s2", "s4", "s6"]
    assert [row["id"] for row in read_jsonl(folder / "part-00001.jsonl")] == ["s1", "s3", "s5"]
    assert first.written == 7
    assert [row["caption"] for row in read_jsonl(output)] == [f"a {32 + i} by 32 image" for i in range(7)]


def test_unreadable_images_are_left_out_and_counted(manifest, tmp_path):
    (tmp_path / "img" / "2.png").write_bytes(b"broken")
    report = recaption_manifest(manifest, tmp_path / "out.jsonl", SizeCaptioner(),
                                RecaptionConfig(progress=False, keep_original=None), FakeAccelerator(0, 1))
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [row["id"] for row in rows] == ["s0", "s1", "s3", "s4", "s5", "s6"]
    assert "original_caption" not in rows[0]
    assert (report.written, report.failed) == (6, 1)
    errors = [row for row in read_jsonl(parts_dir(tmp_path / "out.jsonl") / "part-00000.jsonl") if "error" in row]
    assert [row["id"] for row in errors] == ["s2"]


def test_vlm_captioner_loads_a_real_class_by_path(tiny_llava_dir):
    from PIL import Image

    captioner = VLMCaptioner(VLMCaptionerConfig(model=str(tiny_llava_dir), max_new_tokens=6, device="cpu"))
    assert captioner.prompt_text.startswith("USER: <image>\nDescribe this image in detail")
    assert captioner.prompt_text.endswith("\nASSISTANT:")
    images = [Image.new("RGB", (40, 30), "red"), Image.new("RGB", (64, 64), "blue"), Image.new("L", (20, 50))]
    captions = captioner.caption(images)
    assert len(captions) == 3 and all(isinstance(caption, str) for caption in captions)
    # Batching changes nothing: each image alone gets the same greedy caption.
    assert captions == [captioner.caption([image])[0] for image in images]
    assert captions[0] != captions[1]  # the image reaches the model


def test_recaption_command_with_the_tiny_vlm(manifest, tmp_path, tiny_llava_dir, capsys):
    output = tmp_path / "out.jsonl"
    args = ["data", "recaption", str(manifest), "-o", str(output), "--model", str(tiny_llava_dir),
            "--batch-size", "4", "--max-new-tokens", "5", "--no-progress", "--dtype", "float32",
            "--prompt", "List every shape."]
    assert main(args) == 0
    assert "captioned 7 images" in capsys.readouterr().out
    captioner = VLMCaptioner(VLMCaptionerConfig(model=str(tiny_llava_dir), prompt="List every shape.",
                                                max_new_tokens=5, device="cpu"))
    from PIL import Image

    expected = captioner.caption([Image.open(tmp_path / "img" / f"{i}.png") for i in range(7)])
    assert [row["caption"] for row in read_jsonl(output)] == expected


def test_missing_model_is_a_user_error(manifest, tmp_path, capsys):
    assert main(["data", "recaption", str(manifest), "-o", str(tmp_path / "o.jsonl"), "--model",
                 str(tmp_path / "nowhere")]) == 2
    assert "captioning model" in capsys.readouterr().err
    with pytest.raises(UserError, match="prompt is empty"):
        VLMCaptionerConfig(model="x", prompt=" ")


@pytest.fixture
def shapes_manifest(tmp_path):
    from llmdiff.worlds.shapes import render, sample_scene

    records = []
    for seed in range(6):
        render(sample_scene(seed)).save(tmp_path / f"scene{seed}.png")
        records.append({"id": f"scene{seed}", "image": f"scene{seed}.png", "caption": "", "seed": seed})
    return write_manifest(tmp_path / "shapes.jsonl", records)


def test_shapes_captioner_reads_the_true_scene(shapes_manifest, tmp_path):
    from PIL import Image

    from llmdiff.data.captioners import ShapesCaptioner, ShapesCaptionerConfig
    from llmdiff.worlds.shapes import caption, sample_scene

    captioner = ShapesCaptioner(ShapesCaptionerConfig(style="paragraph", seed=5))
    assert isinstance(captioner, Captioner)
    images = [Image.open(tmp_path / f"scene{seed}.png") for seed in range(6)]
    expected = [caption(sample_scene(seed), "paragraph", "en", captioner.seed_for(image))
                for seed, image in enumerate(images)]
    assert captioner.caption(images) == expected
    assert captioner.caption(images[2:4]) == expected[2:4]  # a caption does not depend on its batch
    assert len(set(expected)) == 6 and all(len(text.split()) > 40 for text in expected)


def test_recaption_command_on_the_shapes_world(shapes_manifest, tmp_path, capsys):
    from PIL import Image

    from llmdiff.data.captioners import ShapesCaptioner, ShapesCaptionerConfig
    from llmdiff.worlds.shapes import caption, sample_scene

    output = tmp_path / "long.jsonl"
    assert main(["data", "recaption", str(shapes_manifest), "-o", str(output), "--captioner", "shapes",
                 "--style", "short", "--batch-size", "4", "--no-progress"]) == 0
    assert "captioned 6 images" in capsys.readouterr().out
    captioner = ShapesCaptioner(ShapesCaptionerConfig(style="short"))
    rows = read_jsonl(output)
    for seed, row in enumerate(rows):
        image = Image.open(tmp_path / f"scene{seed}.png")
        assert row["caption"] == caption(sample_scene(seed), "short", "en", captioner.seed_for(image))
        assert row["original_caption"] == "" and row["seed"] == seed
    assert main(["data", "recaption", str(shapes_manifest), "-o", str(output), "--captioner", "shapes",
                 "--style", "poem"]) == 2
    assert "unknown shapes caption style 'poem'" in capsys.readouterr().err
