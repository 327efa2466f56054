"""Shared fixtures: tiny models of the real classes, built once per test session."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach a model hub

import pytest


@pytest.fixture(scope="session")
def default_tokenizer():
    """The default LLM's real tokenizer (SmolLM2), so tiny models see realistic multilingual tokens."""
    from llmdiff.loading import load_llm_tokenizer

    return load_llm_tokenizer(None)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, default_tokenizer):
    """Paths of tiny SD1.5- and SDXL-shaped bases and tiny Llama, Qwen2 and BERT models."""
    from llmdiff.testing import make_tiny_base, make_tiny_llm

    root = tmp_path_factory.mktemp("tiny_models")
    return {
        "sd": make_tiny_base(root / "sd", "sd"),
        "sdxl": make_tiny_base(root / "sdxl", "sdxl"),
        "llama": make_tiny_llm(root / "llama", "llama", tokenizer=default_tokenizer),
        "qwen2": make_tiny_llm(root / "qwen2", "qwen2", tokenizer=default_tokenizer),
        "bert": make_tiny_llm(root / "bert", "bert"),
    }


# A small adapter keeps the tiny end-to-end runs fast; widths still follow the base model.
TINY_ADAPTER = {"hidden_dim": 64, "num_heads": 4, "num_layers": 1, "num_queries": 16}


@pytest.fixture(scope="session")
def tiny_adapter_config():
    return dict(TINY_ADAPTER)


@pytest.fixture(scope="session")
def load_script():
    """Loads a script of the repository's scripts/ folder as a module, so tests can call its functions."""
    import importlib.util
    from pathlib import Path

    scripts = Path(__file__).resolve().parents[1] / "scripts"

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, scripts / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
