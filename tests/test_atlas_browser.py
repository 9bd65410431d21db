"""The atlas and the labelling page in a real browser: headless Debian Chromium driven by Selenium
through Debian's chromedriver (.ci/run installs both; nothing is downloaded)."""

from __future__ import annotations

import shutil

import pytest

from tests.test_atlas import build

webdriver = pytest.importorskip("selenium.webdriver", reason="the browser tests need selenium (the test extra)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM and CHROMEDRIVER, "the browser tests need Debian's chromium and chromium-driver (.ci/run)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def check_images(driver) -> int:
    """Scroll every image into view (the layer grid loads lazily), wait for all to load; returns how many."""
    driver.execute_script("for (const i of document.images) i.scrollIntoView();")
    broken = "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);"
    WebDriverWait(driver, 15).until(lambda d: not d.execute_script(broken), message="images did not load")
    return len(driver.find_elements(By.TAG_NAME, "img"))


def test_walk_the_atlas(browser, tmp_path):
    site = tmp_path / "site"
    build(site)
    d = browser
    d.get((site / "index.html").as_uri())
    assert d.find_element(By.TAG_NAME, "h1").text == "tiny"
    d.find_element(By.LINK_TEXT, "conv2").click()
    assert d.current_url.endswith("/layers/conv2.html")
    grid = d.find_elements(By.CSS_SELECTOR, ".grid img")
    assert len(grid) == 6 and all(i.get_attribute("loading") == "lazy" for i in grid)
    assert check_images(d) == 6
    d.find_element(By.CSS_SELECTOR, 'a.cell[href$="conv2/3.html"]').click()
    assert d.current_url.endswith("/units/conv2/3.html")
    assert d.find_element(By.TAG_NAME, "h1").text == "conv2:3"
    assert check_images(d) == 2 + 2 + 3  # positive, negative, 2 diverse, 3 examples
    assert d.find_elements(By.CSS_SELECTOR, "svg.hist rect") and d.find_elements(By.CSS_SELECTOR, "svg.kernel")
    # Follow an input weight to a conv1 unit, and from there an output weight back to conv2.
    link = d.find_element(By.CSS_SELECTOR, "a.weight")
    target = link.text
    link.click()
    layer, unit = target.split(":")
    assert layer == "conv1" and d.current_url.endswith(f"/units/conv1/{unit}.html")
    assert d.find_element(By.TAG_NAME, "h1").text == target
    assert check_images(d) == 7
    errors = console_errors(d)
    outputs = d.find_elements(By.CSS_SELECTOR, ".weight")  # conv1 is the first layer: outputs only
    assert len(outputs) == 8 and all(o.text.startswith("conv2:") for o in outputs)
    back = d.find_element(By.CSS_SELECTOR, "a.weight")
    target = back.text
    back.click()
    assert d.current_url.endswith(f"/units/conv2/{target.split(':')[1]}.html")
    assert check_images(d) == 7
    # Search by unit id; a unit that is not in the atlas is refused with a message.
    box = d.find_element(By.ID, "search-box")
    box.send_keys("conv2:9\n")
    assert "not in this atlas" in d.find_element(By.ID, "search-msg").text
    box.clear()
    box.send_keys("conv2:5\n")
    WebDriverWait(d, 10).until(lambda drv: drv.current_url.endswith("/units/conv2/5.html"))
    assert d.find_element(By.TAG_NAME, "h1").text == "conv2:5"
    assert check_images(d) == 7
    assert errors + console_errors(d) == []


def test_label_page_answers_persist_across_reload(browser, tmp_path):
    """`neuronscope label` in the browser: label a few crops by clicking, reload, the labels are still there."""
    import os
    import re
    import signal
    import subprocess
    import sys

    from neuronscope.dataset import LabelSession, compute_stats
    from tests.test_atlas import ROOT, tiny_model

    result = tmp_path / "result"
    compute_stats(tiny_model(), "conv2", None, result, resize=64, size=64, batch_size=8, workers=0, figures="none",
                  progress=False, per_stratum=2)
    server = subprocess.Popen([sys.executable, "-m", "neuronscope", "label", str(result), "--neuron", "3", "--port",
                               "0", "--categories", "curve,other"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = server.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/s/[^/\s]+/", line)
        assert url, line + server.stderr.read()
        d = browser
        d.get(url.group(0))

        def progress():
            return d.find_element(By.ID, "progress").text

        WebDriverWait(d, 15).until(lambda _: progress().startswith("0 of "))
        total = int(progress().split()[2])
        assert check_images(d) == 1
        chosen = ["other", "curve", "curve"]
        for k, label in enumerate(chosen):
            button = next(b for b in d.find_elements(By.CSS_SELECTOR, "#buttons button") if b.text.endswith(label))
            button.click()
            WebDriverWait(d, 15).until(lambda _, k=k: progress().startswith(f"{k + 1} of "))
            assert check_images(d) == 1  # the next crop
        d.refresh()
        WebDriverWait(d, 15).until(lambda _: progress() == f"3 of {total} labelled")
        assert check_images(d) == 1 and d.find_element(By.ID, "error").text == ""
        assert console_errors(d) == []  # the page's icon.png: no /favicon.ico request, so no 404 either
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert f"stopped with 3 of {total} answers saved" in out
    assert LabelSession(result).answers == dict(enumerate(chosen))
