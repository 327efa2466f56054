"""Tiny models and datasets for the training tests, built once per session."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

# Small enough that a step takes milliseconds; widths follow the real base models.
TINY_ADAPTER = {"hidden_dim": 32, "num_heads": 4, "num_layers": 1, "mlp_ratio": 2.0}

from llmdiff.training.tiny import write_tiny_dataset as write_dataset  # noqa: E402


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    from llmdiff.training.tiny import make_tiny_setup

    return make_tiny_setup(tmp_path_factory.mktemp("train_models"))


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("data"))


def tiny_config(models, dataset, output, stage="align", family="sd", **groups):
    """A RunConfig dict for the tiny models; `groups` update its sections (e.g. train={...})."""
    config = {
        "stage": stage,
        "output_dir": str(output),
        "model": {"base": str(models[family]), "llm": str(models["llm"]), "adapter_config": dict(TINY_ADAPTER)},
        "data": {"train": [str(dataset)], "text_fields": ["caption"], "resolution": 16},
        "train": {"max_steps": 3, "batch_size": 4},
        "optim": {"lr": 1e-3},
        "loss": {"teacher_chunks": 1},
        "checkpoint": {"every_steps": 1000, "keep_last": 2},
        "log": {"progress": False, "tensorboard": False, "sample_steps": 2},
    }
    for group, values in groups.items():
        if isinstance(values, dict):
            config.setdefault(group, {}).update(values)
        else:
            config[group] = values
    return config
