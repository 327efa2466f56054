import re

import pytest

from llmdiff import __version__
from llmdiff.cli.main import main


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"llmdiff {__version__}"


def test_doctor_reports_versions_device_default_model_and_caches(capsys, monkeypatch, tmp_path):
    import torch

    from llmdiff.devices import resolve_device

    monkeypatch.setenv("LLMDIFF_CACHE", str(tmp_path / "cache"))
    assert main(["doctor"]) == 0  # the test environment has everything the default model needs
    out = capsys.readouterr().out
    assert re.search(rf"^torch +{re.escape(torch.__version__)}$", out, re.M)
    assert re.search(rf"^device \(auto\) +{resolve_device('auto')}$", out, re.M)
    assert re.search(r"^default model +\S+/models/shapes$", out, re.M)
    assert re.search(r"^default LLM +\S+\.gguf$", out, re.M)
    assert f"{tmp_path / 'cache'}" in out


def test_doctor_exits_1_and_says_what_is_missing(capsys, monkeypatch):
    monkeypatch.setattr("llmdiff.defaults.default_model_dir", lambda: None)
    assert main(["doctor"]) == 1
    assert re.search(r"^default model +not installed +<- missing$", capsys.readouterr().out, re.M)
