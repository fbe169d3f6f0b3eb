"""The README's picture of the playground, taken from a real page:

    python -m tests.web.screenshot docs/img/playground.png [GRAPH [NODE]]

starts `graphgrad serve` on a free loopback port, opens /?graph=GRAPH in Debian's
headless Chromium, clicks NODE (its row of explain shows) and saves the page.
"""

from __future__ import annotations

import sys
import tempfile

from tests.test_service import _start
from tests.test_web import ARGS, chromium_path


def main(out: str, graph: str = "sigmoid_neuron", node: str = "s3") -> None:
    from playwright.sync_api import sync_playwright

    proc, base = _start("--workers", "1")
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=chromium_path(),
                headless=True,
                args=ARGS,
                viewport={"width": 1400, "height": 860},
            )
            page = context.new_page()
            page.goto(f"{base}/?graph={graph}")
            page.wait_for_selector('body[data-state="ready"]')
            page.click(f'[data-node="{node}"]')
            page.wait_for_selector(f'#details[data-selected="{node}"]')
            page.screenshot(path=out)
            context.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main(*sys.argv[1:])
