"""docs/editor_edit.png: the editor's Edit tab on the shipped model, seed 0, smile moved to +2.

    python docs/make_editor_screenshot.py [MODEL] [SMILE]      # MODEL: default faces64; SMILE: 2

Runs the app on a free port and drives Debian's Chromium with Playwright (the flags of
`latentkit.app.browser`: offline but for 127.0.0.1), as the browser tests do. Keys go in a temporary
LATENTKIT_HOME, so nothing of yours is touched.
"""

import os
import socket
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(model: str = "faces64", smile: float = 2.0) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ["LATENTKIT_HOME"] = tempfile.mkdtemp(prefix="latentkit-shot-")
    from playwright.sync_api import sync_playwright

    from latentkit.app import launch
    from latentkit.app.browser import CHROMIUM, FLAGS

    demo = launch(model, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            page.goto(demo.local_url)
            page.wait_for_selector("#face img")
            src = page.locator("#face img").get_attribute("src")
            slider = page.get_by_label("range slider for smile", exact=True)
            box = slider.bounding_box()  # the slider spans -3..3: drag to `smile`, as a person would
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] / 2, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * (smile + 3) / 6, y, steps=10)
            page.mouse.up()
            page.wait_for_function("old => document.querySelector('#face img').src !== old", arg=src)
            page.wait_for_function("() => document.querySelector('#summary').innerText.includes('smile')")
            page.screenshot(path=str(DOCS / "editor_edit.png"))
            browser.close()
    finally:
        demo.close()
    print("wrote", DOCS / "editor_edit.png")


if __name__ == "__main__":
    main(*sys.argv[1:2], *map(float, sys.argv[2:3]))
