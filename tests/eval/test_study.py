import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from llmdiff.cli.main import main
from llmdiff.errors import UserError
from llmdiff.eval.study.analysis import bootstrap_net_preference, study_report, summarize, wilson_interval
from llmdiff.eval.study.pairs import collect_pairs
from llmdiff.eval.study.server import Study, make_server
from llmdiff.eval.study.store import Vote, VoteStore


def test_wilson_interval_known_values():
    # Reference values: Wilson score interval at z = 1.96 (e.g. statsmodels proportion_confint method="wilson").
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_summaries_and_bootstrap():
    answers = ["A"] * 6 + ["tie"] * 2 + ["B"] * 2
    s = summarize(answers)
    assert s["counts"] == {"win": 6, "tie": 2, "loss": 2} and s["win"]["rate"] == 0.6
    assert s["net_preference"]["value"] == pytest.approx(0.4)
    low, high = s["net_preference"]["ci95"]
    assert low < 0.4 < high and -1 <= low and high <= 1
    assert bootstrap_net_preference([1] * 5) == (1.0, 1.0)
    assert bootstrap_net_preference([1, -1] * 50, seed=1) == bootstrap_net_preference([1, -1] * 50, seed=1)


def test_report_per_category():
    votes = [Vote("p0", "Animals", "A", {"appeal": "A", "faithfulness": "tie"}),
             Vote("p1", "Food", "B", {"appeal": "B", "faithfulness": "A"}),
             Vote("p1", "Food", "A", {"appeal": "A", "faithfulness": "A"}, rater="r2")]
    report = study_report(votes)
    assert report["votes"] == 3 and report["pairs"] == 2 and report["left_shown"] == {"A": 2, "B": 1}
    assert report["questions"]["appeal"]["counts"] == {"win": 2, "tie": 0, "loss": 1}
    assert report["categories"]["Food"]["faithfulness"]["counts"] == {"win": 2, "tie": 0, "loss": 0}
    assert report["categories"]["Animals"]["faithfulness"]["counts"] == {"win": 0, "tie": 1, "loss": 0}


@pytest.fixture
def folders(tmp_path, make_run):
    run = make_run(tmp_path / "run", [("p0", "a red cat", "Animals"), ("p1", "a blue dog", None)])
    return run / "images" / "ours", run / "images" / "baseline"


def test_pairs_and_their_errors(folders, tmp_path, solid):
    a, b = folders
    pairs = collect_pairs(a, b)
    assert [(p.name, p.prompt, p.category) for p in pairs] == [("p0", "a red cat", "Animals"), ("p1", "a blue dog", None)]
    with pytest.raises(UserError, match="image folder '.*nowhere' does not exist"):
        collect_pairs(a, tmp_path / "nowhere")
    solid((0, 0, 0)).save(a / "extra.png")
    with pytest.raises(UserError, match="only in '.*ours': extra"):
        collect_pairs(a, b)
    (a / "extra.png").unlink()
    from llmdiff.images import save_png

    save_png(solid((1, 1, 1)), b / "p1.png", {"prompt": "something else"})
    with pytest.raises(UserError, match="were made for different prompts"):
        collect_pairs(a, b)
    (b / "p1.png").write_bytes(b"broken")
    with pytest.raises(UserError, match="p1.png' cannot be read"):
        collect_pairs(a, b)
    plain = tmp_path / "plain"
    plain.mkdir()
    solid((1, 1, 1)).save(plain / "p0.png")
    with pytest.raises(UserError, match="no prompt for 'p0'"):
        collect_pairs(plain, plain)
    assert collect_pairs(plain, plain, {"p0": ("given", "C")})[0].prompt == "given"


def test_store_refuses_another_study(tmp_path):
    store = VoteStore(tmp_path / "s.sqlite")
    store.bind({"dir_a": "/x", "dir_b": "/y"})
    store.bind({"dir_a": "/x", "dir_b": "/y"})
    with pytest.raises(UserError, match="belongs to another study \\(dir_b: was '/y', now '/z'\\)"):
        store.bind({"dir_a": "/x", "dir_b": "/z"})
    with pytest.raises(UserError, match="does not exist; votes are collected"):
        VoteStore.existing(tmp_path / "none.sqlite")


@pytest.fixture
def server(folders, tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    study = Study(collect_pairs(*folders), store, seed=0)
    httpd = make_server(study, port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", study, store
    httpd.shutdown()
    httpd.server_close()


def test_vote_over_http_records_order_shown(server, folders):
    url, study, store = server
    page = urllib.request.urlopen(url + "/?rater=ann").read().decode()
    token = re.search(r"name=\"token\" value=\"([^\"]+)\"", page).group(1)
    left_bytes = urllib.request.urlopen(f"{url}/image/{token}/left").read()
    name, left = study.shown[token]
    pair = study.pairs[name]
    assert left_bytes == (pair.path_a if left == "A" else pair.path_b).read_bytes()
    assert pair.prompt in page
    form = urllib.parse.urlencode({"token": token, "rater": "ann", "appeal": "left", "faithfulness": "tie"}).encode()
    final = urllib.request.urlopen(url + "/vote", data=form)
    assert final.url.endswith("/?rater=ann")  # redirected to the next pair
    [vote] = store.votes()
    assert (vote.pair, vote.left_system, vote.rater) == (name, left, "ann")
    assert vote.answers == {"appeal": left, "faithfulness": "tie"}  # 'left' means the system shown left
    with pytest.raises(urllib.error.HTTPError) as replay:
        urllib.request.urlopen(url + "/vote", data=form)
    assert replay.value.code == 409
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(url + "/vote", data=b"token=x&appeal=up")
    assert bad.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as probe:
        urllib.request.urlopen(url + "/image/unknown/left")
    assert probe.value.code == 404


def test_next_pair_prefers_fewest_votes(folders, tmp_path):
    store = VoteStore(tmp_path / "v.sqlite")
    store.add(Vote("p0", None, "A", {"appeal": "A", "faithfulness": "A"}))
    study = Study(collect_pairs(*folders), store, seed=3)
    assert {study.next_pair()[1].name for _ in range(5)} == {"p1"}


def test_cli_report(tmp_path, capsys):
    store = VoteStore(tmp_path / "s.sqlite")
    store.bind({"label_a": "ours", "label_b": "baseline"})
    for answer in ("A", "A", "tie", "B"):
        store.add(Vote("p0", "Animals", "B", {"appeal": answer, "faithfulness": "A"}))
    out = tmp_path / "report.json"
    assert main(["study", "report", "--db", str(tmp_path / "s.sqlite"), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "# Preference study: ours (A) vs baseline (B)" in text
    assert "| appeal | 4 | 50.0% [15.0%, 85.0%] | 25.0% [4.6%, 69.9%] | 25.0% [4.6%, 69.9%] |" in text
    assert json.loads(out.read_text())["questions"]["faithfulness"]["counts"]["win"] == 4
    assert main(["study", "report", "--db", str(tmp_path / "none.sqlite")]) == 2


def test_cli_serve_bad_input(tmp_path, capsys):
    assert main(["study", "serve", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "image folder" in capsys.readouterr().err
