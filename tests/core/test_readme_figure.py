from PIL import Image

from llmdiff.worlds.shapes import WorldConfig, caption_record, compare, parse_image, render, sample_scene


def test_figure_shows_each_row_with_its_verdicts(load_script, tmp_path):
    script = load_script("readme_figure")
    world = WorldConfig(grid=2, max_objects=3, resolution=32)
    rows = []
    for seed, language in enumerate(("en", "zh")):
        scene = sample_scene(seed, world)
        truth = render(scene, world)
        blank = Image.new("RGB", truth.size, (255, 255, 255))
        rows.append((language, caption_record(scene, "paragraph", language, seed=seed).text, truth, truth, blank,
                     compare(parse_image(truth, world), scene), compare(parse_image(blank, world), scene)))
    assert script.verdict(rows[0][5]) == "all correct"
    assert script.verdict(rows[0][6]) == f"0 of {len(sample_scene(0, world).objects)} objects"
    script.figure(rows, tmp_path / "figure.png")
    with Image.open(tmp_path / "figure.png") as image:
        assert image.width > 600 and image.height > 300


def test_paragraphs_are_cut_to_a_few_lines(load_script):
    script = load_script("readme_figure")
    text = script.wrapped("word " * 400, "en", width=40, lines=3)
    assert text.count("\n") == 2 and text.endswith(" …")
    assert script.wrapped("字" * 50, "zh", width=40).split("\n")[0] == "字" * 20
