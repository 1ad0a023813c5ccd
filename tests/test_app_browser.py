"""The editor in a real browser: Playwright's Python package driving Debian's chromium (`make browser`).

Never downloads a browser: /usr/bin/chromium is launched with networking off except for 127.0.0.1.
"""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_app_api import free_port, tiny_bundle
from test_app_api import pytestmark as api_marks

from latentkit.app.browser import CHROMIUM, FLAGS
from latentkit.provenance import init_keys

pytestmark = [
    *api_marks,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: run `make browser`"),
]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    from latentkit.app import launch

    home = tmp_path_factory.mktemp("home")
    init_keys(home / "keys")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTKIT_HOME", str(home))
        bundle = tiny_bundle(tmp_path_factory.mktemp("model") / "tiny")
        demo = launch(bundle, port=free_port(), prevent_thread_lock=True, quiet=True)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
                page.set_default_timeout(20_000)
                page.goto(demo.local_url)
                page.wait_for_selector("#face img")
                yield page
                browser.close()
        finally:
            demo.close()


def screenshot(locator) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB"), dtype=np.int16)


def test_dragging_the_smile_slider_changes_the_picture_and_hold_updates_the_recipe(page):
    face = page.locator("#face img")
    before, src = screenshot(face), face.get_attribute("src")
    slider = page.get_by_label("range slider for smile")
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.95, y, steps=10)
    page.mouse.up()
    page.wait_for_function("old => document.querySelector('#face img').src !== old", arg=src)
    page.wait_for_function("() => document.querySelector('#summary').innerText.includes('smile')")
    after = screenshot(face)
    assert float(slider.input_value()) > 2.0
    assert before.shape == after.shape and np.abs(after - before).mean() > 2.0
    assert "holding every other attribute fixed" in page.locator("#summary").inner_text()  # the default
    page.get_by_label("hold").nth(1).uncheck()  # let age follow: the edit list and command say so
    page.wait_for_function("() => !document.querySelector('#summary').innerText.includes('every other')")
    page.get_by_text("Recipe and latent").click()
    command = page.locator("#command").inner_text()
    assert "--hold " in command and "--hold all" not in command and "age" not in command.split("--hold")[1]


def test_an_interpolation_runs_and_shows_a_gif(page):
    page.get_by_role("tab", name="Interpolate").click()
    page.locator("#add_seeds").click()  # the seeds box starts at "0, 1"
    page.wait_for_function("() => document.querySelectorAll('#keyframes img').length === 2")
    page.locator("#animate").click()
    page.wait_for_function("() => (document.querySelector('#gif img') || {}).src?.endsWith('.gif')")
    assert page.locator("#frame img").count() == 1


def test_export_downloads_a_file_that_verifies_and_the_verify_tab_says_so(page, tmp_path, cli):
    page.get_by_role("tab", name="Edit").click()
    page.locator("#export").click()
    link = page.locator("#export_file a[download]").first
    link.wait_for()
    with page.expect_download() as download:
        link.click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.suffix == ".png"
    result = cli("verify", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified   yes" in result.stdout
    page.get_by_role("tab", name="Verify").click()
    page.locator("#verify_upload input[type=file]").set_input_files(str(path))
    page.wait_for_function("() => document.querySelector('#verify_report').innerText.includes('Verified')")
    text = page.locator("#verify_report").inner_text()
    assert "✓ Verified" in text and "watermark" in text
