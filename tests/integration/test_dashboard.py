"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver, driven by
selenium) against a running cluster: sign-in, live job list, a job's page to its end, hosts,
the user's view, and a screenshot that is not blank."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.clusterlib import Cluster, wait_until
from tests.restlib import Restd

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900")


@pytest.fixture
def restd(cluster: Cluster) -> Iterator[Restd]:
    with Restd(cluster) as r:
        yield r


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), "apt-get install chromium chromium-driver"
    profile = tempfile.mkdtemp(prefix="qsys-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*BROWSER_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# read in the page, in one step: the live list replaces its rows while we look
def _text(driver, css: str) -> str:  # type: ignore[no-untyped-def]
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css)


def _rows(driver) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """job id -> state family of the rows of the job list."""
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#jobs tbody tr')]"
        ".map(r => [r.dataset.jobId, r.dataset.state]));")


def _busy_pixels(png: bytes) -> float:
    """Share of the screenshot's pixels that differ from its most common colour (the page's
    background)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=image.width * image.height)
    assert colours
    background = max(colours)[0]
    return 1.0 - background / (image.width * image.height)


def test_dashboard_shows_a_job_from_submission_to_its_end(restd: Restd, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    token = restd.token()
    browser.get(f"{restd.address}/login?token={token}")
    assert browser.current_url == f"{restd.address}/", "the sign-in link leads to the summary"
    wait_until(lambda: _text(browser, "#card-hosts-up .n") == "1", 20, "one host up on the summary")
    assert _text(browser, "#who") == "root (token)"
    assert "all.q" in _text(browser, "#queues tbody")

    go = restd.cluster.root / "dashjob.go"  # the job runs until the test has seen it running
    waits = f"until [ -e {go} ]; do sleep 0.1; done"
    reply = restd.tcp("POST", "/api/v1/jobs", token, {"command": ["/bin/sh", "-c", waits],
                                                      "options": ["-N", "dashjob", "-h"]})
    job_id = str(reply.json["job_id"])
    wait_until(lambda: job_id in _rows(browser), 20, "the job to appear in the live list")
    wait_until(lambda: _text(browser, "#card-jobs-pending .n") == "1", 20, "the pending count")
    browser.find_element(By.ID, "filter-user").send_keys("nobody")
    wait_until(lambda: job_id not in _rows(browser), 20, "the user filter to hide the job")
    browser.find_element(By.ID, "filter-user").clear()
    wait_until(lambda: job_id in _rows(browser), 20, "the job to come back without the filter")
    assert restd.tcp("POST", f"/api/v1/jobs/{job_id}/release", token, {}).status == 200
    wait_until(lambda: _rows(browser).get(job_id) == "running", 20, "the list to show the job running")
    assert _text(browser, "#card-jobs-running .n") == "1"

    png = browser.get_screenshot_as_png()
    assert png.startswith(b"\x89PNG")
    assert _busy_pixels(png) > 0.05, "the summary page renders (not a blank page)"
    with open(restd.cluster.root / "dashboard.png", "wb") as shot:
        shot.write(png)

    browser.get(f"{restd.address}/jobs/{job_id}")
    wait_until(lambda: "dashjob" in _text(browser, "#facts"), 20, "the job's facts")
    facts = _text(browser, "#facts")
    assert "stdout_path_list" not in facts, "no -o given: qstat -j shows none either"
    assert f"stdout file (task 1 on node1)\n/root/dashjob.o{job_id}" in facts, "the file, by Grid Engine's rules"
    go.touch()
    wait_until(lambda: browser.execute_script("return document.getElementById('job-state').dataset.state")
               == "finished", 40, "the page to show the job's end")
    assert not browser.find_element(By.ID, "hold").is_displayed(), "a finished job has no actions left"
    assert "exit_status" in _text(browser, "#facts") and "end_time" in _text(browser, "#facts")
    assert f"stdout file (task 1 on node1)\n/root/dashjob.o{job_id}" in _text(browser, "#facts"), "where it wrote"
    accounting = _text(browser, "#accounting tbody")
    assert "node1" in accounting and "all.q" in accounting

    browser.get(f"{restd.address}/hosts")
    wait_until(lambda: "node1" in _text(browser, "#hosts tbody"), 20, "the hosts page")
    assert "up" in _text(browser, "#hosts tbody")

    browser.get(f"{restd.address}/me")
    wait_until(lambda: _text(browser, "#me").startswith("root (uid 0"), 20, "the user's own view")
    wait_until(lambda: "wallclock" in _text(browser, "#usage"), 20, "the user's usage")


def test_dashboard_submit_form_and_sign_in_refusal(restd: Restd, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    browser.get(f"{restd.address}/")
    wait_until(lambda: "Not signed in" in _text(browser, "#message"), 20, "the page to say it is not signed in")
    browser.get(f"{restd.address}/login")
    browser.find_element(By.ID, "token").send_keys(restd.token())
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait_until(lambda: _text(browser, "#card-hosts-up .n") == "1", 20, "the summary after signing in")
    browser.find_element(By.ID, "submit-command").send_keys("sleep 30")
    browser.find_element(By.ID, "submit-options").send_keys("-N formjob")
    browser.find_element(By.ID, "submit-button").click()
    message = wait_until(lambda: _text(browser, "#message"), 20, "the submission's message")
    assert message.startswith("Your job ") and message.endswith('("formjob") has been submitted')
    jobs = restd.unix("GET", "/api/v1/jobs").json
    assert [j["name"] for j in jobs] == ["formjob"]
    restd.unix("DELETE", f"/api/v1/jobs/{jobs[0]['job_id']}")
