"""Streaming: memory must not grow with the number of records (100k tiny records against 10k)."""

import json
import subprocess
import sys

import pytest

from llmdiff.data.validate import ValidateConfig, validate_manifest


def make_manifest(path, count):
    with open(path, "w") as file:
        for index in range(count):
            # Every 10th caption repeats an earlier one, every 7th image hash too: the duplicate checks work.
            caption = f"caption {index - 1 if index % 10 == 9 else index} of a shape"
            sha = f"{index - 1 if index % 7 == 6 else index:064x}"
            file.write(json.dumps({"id": f"r{index}", "image": f"img/{index}.png", "caption": caption,
                                   "width": 64 + index % 64, "height": 64, "sha256": sha,
                                   "aesthetic": index % 10}) + "\n")
    return path


# Run in a fresh interpreter so that the peak resident size belongs to this operation alone.
MEASURE = """
import sys, time
from llmdiff.data.filter import FilterConfig, filter_manifest
from llmdiff.data.stats import StatsConfig, manifest_stats
from llmdiff.data.validate import ValidateConfig, validate_manifest

def status(field):
    with open("/proc/self/status") as file:
        return next(int(line.split()[1]) * 1024 for line in file if line.startswith(field + ":"))

operation, manifest, out = sys.argv[1:]
with open("/proc/self/clear_refs", "w") as file:
    file.write("5")  # resets the peak (VmHWM) to the current size, so imports do not mask the run
before = status("VmRSS")
start = time.perf_counter()
if operation == "validate":
    validate_manifest(manifest, out, config=ValidateConfig(check_images=False, max_aspect=8))
elif operation == "filter":
    filter_manifest(manifest, out, FilterConfig(min_words=4, max_aspect=4, scores=["aesthetic>=5"]))
else:
    manifest_stats(manifest, StatsConfig(count_llm_tokens=False))
seconds = time.perf_counter() - start
print(status("VmHWM") - before, seconds)
"""


@pytest.fixture(scope="module", autouse=True)
def linux_only():
    if not sys.platform.startswith("linux"):
        pytest.skip("peak memory is read from /proc")


def measure(operation, manifest, out):
    result = subprocess.run([sys.executable, "-c", MEASURE, operation, str(manifest), str(out)],
                            capture_output=True, text=True, check=True)
    growth, seconds = result.stdout.split()
    return int(growth), float(seconds)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    root = tmp_path_factory.mktemp("memory")
    return {count: make_manifest(root / f"m{count}.jsonl", count) for count in (10_000, 100_000)}


@pytest.mark.parametrize("operation", ["validate", "filter", "stats"])
def test_memory_is_flat_in_dataset_size(manifests, tmp_path, operation):
    small, _ = measure(operation, manifests[10_000], tmp_path / "small.jsonl")
    large, seconds = measure(operation, manifests[100_000], tmp_path / "large.jsonl")
    print(f"{operation}: peak RSS growth {small / 1e6:.1f} MB at 10k records, {large / 1e6:.1f} MB at 100k; "
          f"{100_000 / seconds:,.0f} records/s")
    # Holding anything per record (a set of 90k more ids is ~8 MB) would show; allocator noise stays below.
    assert large - small < 3_000_000


def test_validate_results_match_a_plain_model(manifests, tmp_path):
    report = validate_manifest(manifests[10_000], tmp_path / "ok.jsonl",
                               config=ValidateConfig(check_images=False, max_aspect=8))
    # The same rules, written plainly with sets: a duplicate is one of an earlier *kept* record.
    kept_captions, kept_hashes, expected = set(), set(), {"duplicate_caption": 0, "duplicate_image": 0}
    for index in range(10_000):
        caption = index - 1 if index % 10 == 9 else index
        sha = index - 1 if index % 7 == 6 else index
        duplicate = False
        if caption in kept_captions:
            expected["duplicate_caption"] += 1
            duplicate = True
        if sha in kept_hashes:
            expected["duplicate_image"] += 1
            duplicate = True
        if not duplicate:
            kept_captions.add(caption)
            kept_hashes.add(sha)
    assert dict(report.reasons) == expected
    assert report.kept == len(kept_captions) == len(kept_hashes)
