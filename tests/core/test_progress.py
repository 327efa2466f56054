"""Progress off a terminal is plain lines, never a bar redrawn with \\r."""

import re

from llmdiff.progress import LineProgress, format_duration, progress_bar


def test_off_a_terminal_progress_is_lines_and_a_summary(capsys):
    with progress_bar(4, desc="eval shapes", unit="img", interval=0.0) as bar:
        assert isinstance(bar, LineProgress)  # pytest's captured stderr is not a terminal
        bar.update(2)
        bar.update(2)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert re.fullmatch(r"eval shapes: 2/4 img in \d+\.\d s \(\d+\.\d img/s\)", lines[0]), lines
    # The last update reaches the total: only the summary speaks for it.
    assert len(lines) == 2 and re.fullmatch(r"eval shapes: 4 img in \d+\.\d s \(\d+\.\d img/s\)", lines[1]), lines


def test_lines_wait_for_their_interval_and_disabled_progress_says_nothing(capsys):
    with progress_bar(100, desc="cache llm", unit="text", interval=3600.0) as bar:
        for _ in range(10):
            bar.update(1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cache llm: 10 text in "), lines  # the summary alone
    with progress_bar(3, desc="quiet", disable=True, interval=0.0) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""


def test_durations_read_as_a_person_would_say_them():
    assert format_duration(4.25) == "4.2 s"
    assert format_duration(62) == "1 min 02 s"
    assert format_duration(3 * 3600 + 5 * 60 + 9) == "3 h 05 min"
