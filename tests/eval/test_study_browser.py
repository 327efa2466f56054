"""A vote cast by clicking in headless Chromium lands in the study database."""

import shutil
import threading

import pytest

from llmdiff.eval.study.pairs import collect_pairs
from llmdiff.eval.study.server import Study, make_server
from llmdiff.eval.study.store import VoteStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("no headless browser: install the Debian packages chromium and chromium-driver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_click_vote_lands_in_database(browser, tmp_path, make_run):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    run = make_run(tmp_path / "run", [("p0", "a red cat", "Animals"), ("p1", "a blue dog", "Animals")])
    store = VoteStore(tmp_path / "votes.sqlite")
    study = Study(collect_pairs(run / "images" / "ours", run / "images" / "baseline"), store, seed=1)
    server = make_server(study, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/?rater=robot")
        prompt = browser.find_element(By.ID, "prompt").text
        assert browser.execute_script("return document.getElementById('left-image').naturalWidth") == 32
        browser.find_element(By.ID, "appeal-right").click()
        browser.find_element(By.ID, "faithfulness-tie").click()
        browser.find_element(By.ID, "submit").click()
        WebDriverWait(browser, 10).until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "small"),
                                                                                           "1 votes so far"))
    finally:
        server.shutdown()
        server.server_close()
    [vote] = store.votes()
    right = "B" if vote.left_system == "A" else "A"
    assert vote.answers == {"appeal": right, "faithfulness": "tie"} and vote.rater == "robot"
    assert study.pairs[vote.pair].prompt == prompt and vote.category == "Animals"
