"""A real browser on the page: type a paragraph, click Generate, see an image; keep a screenshot.

Needs Chromium and its driver (Debian: `apt-get install chromium chromium-driver`); skipped, saying so,
only when they are missing. The screenshot goes to $LLMDIFF_TEST_ARTIFACTS (default outputs/test-artifacts).
"""

import os
import re
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
PARAGRAPH = (
    "A small red-brick lighthouse stands on a rocky point at dusk. Its lamp throws a pale beam across a calm "
    "sea, and a blue rowing boat lies pulled up on the pebbles below."
)

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="no headless browser: install Debian's chromium and chromium-driver (apt-get install chromium "
    "chromium-driver) to run the real-browser test",
)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--window-size=1400,1500", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def artifacts_dir() -> Path:
    path = Path(os.environ.get("LLMDIFF_TEST_ARTIFACTS", "outputs/test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_page_generates_an_image(live_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(live_server.url + "/")
    prompt = wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "#prompt textarea")))
    prompt.send_keys(PARAGRAPH)
    # The live token count follows the text, against the model's limit.
    wait.until(lambda _: _token_count(browser) > 20)
    browser.find_element(By.CSS_SELECTOR, "#generate").click()
    image = wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, "#gallery img")))
    wait.until(lambda _: image.get_property("naturalWidth") > 0)
    wait.until(lambda _: '"prompt"' in _text(browser, "#image-settings") or PARAGRAPH[:20] in _text(browser, "#image-settings"))
    time.sleep(0.5)  # let the progress overlay fade before the picture
    shot = artifacts_dir() / "serve-page.png"
    browser.save_screenshot(str(shot))
    print(f"\nscreenshot: {shot.resolve()}")
    assert shot.stat().st_size > 10_000
    tokens = _text(browser, "#token-count")
    assert "tokens" in tokens and "truncated" not in tokens
    saved = list(live_server.output_dir.glob("*.png"))
    assert saved, "the page's image was not saved in the server's output dir"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    # Offline by construction: everything the page loaded came from this server.
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(live_server.url) for url in loaded), loaded

    # Each image can be opened, downloaded, and its settings shown.
    browser.find_element(By.CSS_SELECTOR, "#gallery button[aria-label^='Thumbnail 1']").click()
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "#gallery button[aria-label='Download']"))

    # An example paragraph is one click away, and the token count follows it.
    english_count = _token_count(browser)
    browser.find_element(By.XPATH, "//button[contains(., '中文')]").click()
    wait.until(lambda _: "竹林" in prompt.get_attribute("value"))
    wait.until(lambda _: _token_count(browser) not in (0, english_count))


def _token_count(browser) -> int:
    match = re.search(r"(\d+) / \d+ tokens", _text(browser, "#token-count"))
    return int(match.group(1)) if match else 0


def _text(browser, selector: str) -> str:
    from selenium.webdriver.common.by import By

    elements = browser.find_elements(By.CSS_SELECTOR, selector)
    return elements[0].text if elements else ""
