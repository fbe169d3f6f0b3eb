"""The graph playground: a real headless Chromium (Debian's, driven by Playwright) against
a real `graphgrad serve` on loopback, reading the page's numbers from its data-node /
data-value / data-grad attributes; and the endpoints the page uses, over HTTP.

Every wait is the browser's own (a selector that appears, a function that turns true),
never a sleep. Without Chromium these tests fail, saying how to install it.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import httpx
import pytest

from tests.conftest import GRAPHS, ROOT
from tests.test_service import _start

CHROMIUM = os.environ.get("GRAPHGRAD_CHROMIUM", "/usr/bin/chromium")
INSTALL = (
    "the playground's browser tests need Debian's Chromium at {path}: "
    "apt-get update && apt-get install -y chromium chromium-driver "
    "(.ci/run installs it; GRAPHGRAD_CHROMIUM=PATH names another Chromium)"
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WRONG_GATE = ROOT / "tests" / "web" / "wrong_gate.py"
WRONG_GRAPH = """graphgrad: 1
inputs:
  x: [1.0, 2.0, 3.0]
  w: 0.5
nodes:
  s: {op: halfsquare, in: [x]}
  m: {op: mul, in: [s, w]}
  f: {op: sum, in: [m]}
output: f
"""
YAML = {"content-type": "application/yaml"}


def chromium_path(path: str = CHROMIUM) -> str:
    """The Chromium to drive, or a failed test that says how to install it: CI installs
    it, so a missing browser must never pass as a skip."""
    found = shutil.which(path)
    if found is None:
        pytest.fail(INSTALL.format(path=path), pytrace=False)
    return found


@pytest.fixture(scope="module")
def server():
    proc, base = _start("--workers", "2", "--timeout", "20", "--plugins", str(WRONG_GATE))
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A fresh profile in a temporary --user-data-dir; nothing else of the machine's."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "the browser tests need Playwright: pip install -c constraints.txt -e '.[test]'", pytrace=False
        )
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=executable,
            headless=True,
            args=ARGS,
            viewport={"width": 1400, "height": 820},
        )
        context.set_default_timeout(20_000)
        yield context
        context.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # a 400 or 404 answer is logged by the browser as a failed load: the page shows those itself
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    yield page
    page.close()
    assert not errors, f"the page reported errors: {errors}"


def open_graph(page, server: str, name: str) -> None:
    page.goto(f"{server}/?graph={name}")
    page.wait_for_selector('body[data-state="ready"]')


def numbers(page, name: str) -> tuple:
    """A node's value and gradient, read from its data attributes as JSON."""
    node = page.locator(f'[data-node="{name}"]')
    grad = node.get_attribute("data-grad")
    return json.loads(node.get_attribute("data-value")), (json.loads(grad) if grad is not None else None)


def wait_value(page, name: str, before: str) -> None:
    """Until the node's data-value is no longer ``before`` and the page is ready again."""
    page.wait_for_function(
        '([name, before]) => { const n = document.querySelector(`[data-node="${name}"]`);'
        " return n && n.dataset.value !== before && document.body.dataset.state === 'ready'; }",
        arg=[name, before],
    )


def test_simple_reads_the_lectures_numbers(page, server):
    open_graph(page, server, "simple")
    assert numbers(page, "f") == (-12, 1)
    assert numbers(page, "q") == (3, -4)
    assert {n: numbers(page, n)[1] for n in "xyz"} == {"x": -4, "y": -4, "z": 3}
    assert {n: numbers(page, n)[0] for n in "xyz"} == {"x": -2, "y": 5, "z": -4}
    labels = page.locator("svg .edge text").all_text_contents()
    assert "-12" in labels and "3" in labels  # render's labels: the value over the gradient
    assert page.locator("#menu option").all_text_contents() == sorted(p.stem for p in GRAPHS.glob("*.yaml"))


def test_changing_z_reruns_the_picture(page, server):
    open_graph(page, server, "simple")
    page.fill('[data-input-field="z"]', "2")
    wait_value(page, "f", "-12")
    assert numbers(page, "f") == (6, 1)  # (x + y) z = 3 * 2
    assert {n: numbers(page, n)[1] for n in "xyz"} == {"x": 2, "y": 2, "z": 3}
    assert "  z: 2\n" in page.input_value("#source")  # changed in the file, in place
    page.fill('[data-input-slider="z"]', "-1")  # the slider too
    wait_value(page, "f", "6")
    assert numbers(page, "f")[0] == -3 and numbers(page, "x")[1] == -1
    assert "  z: -1\n" in page.input_value("#source")


def test_a_list_input_in_a_flow_mapping_changes_in_place(page, server):
    open_graph(page, server, "simple")
    page.fill(
        "#source",
        "graphgrad: 1\ninputs: {a: [1.0, 2.0], b: 3}\nnodes:\n"
        "  p: {op: mul, in: [a, b]}\n  f: {op: sum, in: [p]}\noutput: f\n",
    )
    page.wait_for_selector('[data-node="a"]')
    page.wait_for_function("() => document.body.dataset.state === 'ready'")
    assert numbers(page, "f") == (9, 1)
    page.fill('[data-input-field="a"]', "[2.0, 4.0, 6.0]")
    wait_value(page, "f", "9")
    assert numbers(page, "a") == ([2, 4, 6], [3, 3, 3]) and numbers(page, "f")[0] == 36
    page.fill('[data-input-field="b"]', "0.5")  # b's place moved when a's text grew
    wait_value(page, "f", "36")
    assert numbers(page, "f")[0] == 6
    assert "inputs: {a: [2.0, 4.0, 6.0], b: 0.5}" in page.input_value("#source")


def test_an_unknown_op_is_shown_at_its_line_and_column(page, server):
    open_graph(page, server, "simple")
    page.fill("#source", page.input_value("#source").replace("op: mul", "op: mull"))
    bubble = page.wait_for_selector(".editor .bubble[data-error-line]")
    assert (bubble.get_attribute("data-error-line"), bubble.get_attribute("data-error-column")) == (
        "15",
        "11",
    )
    assert "unknown op 'mull' (did you mean 'mul'?)" in bubble.text_content()
    assert page.locator(".gutter .error").all_text_contents() == ["15"]
    assert page.locator(".backdrop mark").text_content() == "mull"
    item = page.locator("#errors li")
    assert item.text_content() == "line 15, column 11: node 'f': unknown op 'mull' (did you mean 'mul'?)"
    assert page.locator("#picture.stale").count() == 1  # the last good picture, greyed
    page.fill("#source", page.input_value("#source").replace("op: mull", "op: mul"))
    page.wait_for_function(
        "() => !document.querySelector('.bubble') && document.body.dataset.state === 'ready'"
    )
    assert numbers(page, "f")[0] == -12


def test_clicking_a_node_shows_its_row_of_explain(page, server):
    open_graph(page, server, "simple")
    page.click('[data-node="q"]')
    rows = page.locator('#details[data-selected="q"] table.explain tr')
    cells = [r.locator("td").all_text_contents() for r in rows.all()[1:]]
    assert cells == [
        ["q", "add", "3", "-4", "x", "1", "-4", "distributor"],
        ["q", "", "", "", "y", "1", "-4", ""],
    ]
    assert (
        "passes the upstream gradient unchanged to every input (add)"
        in page.locator("#details").text_content()
    )


def test_check_marks_the_wrong_plugin_gate_in_red(page, server):
    open_graph(page, server, "simple")
    page.fill("#source", WRONG_GRAPH)
    page.wait_for_selector('[data-node="s"]')
    page.wait_for_function("() => document.body.dataset.state === 'ready'")
    page.click("#check")
    blamed = page.wait_for_selector('[data-node="s"][data-blamed="true"]')
    assert "blamed" in blamed.get_attribute("class")
    analytic, numeric = (json.loads(blamed.get_attribute(k)) for k in ("data-analytic", "data-numeric"))
    assert numeric == pytest.approx(2 * analytic, rel=1e-6)  # the gate forgot the factor 2
    assert json.loads(blamed.get_attribute("data-worst-index")) in ([0], [1], [2])
    assert "wrong gradient at [" in blamed.text_content()
    assert page.locator("[data-blamed]").count() == 1  # mul and sum are not blamed
    message = page.locator("#checked .blame").text_content()
    assert "node 's' (halfsquare, plugin" in message and "finite differences give" in message
    assert page.locator('#checked tr[data-check="x"]').get_attribute("data-status") == "failed"
    assert page.locator('#checked tr[data-check="w"]').get_attribute("data-status") == "passed"


def test_check_passes_a_shipped_graph(page, server):
    open_graph(page, server, "copy_gate")
    page.click("#check")
    page.wait_for_selector('#checked[data-status="passed"]')
    assert page.locator("[data-blamed]").count() == 0


def test_a_graph_too_large_to_draw_says_so(page, server):
    open_graph(page, server, "simple")
    nodes = "".join(f"  n{i}: {{op: add, in: [n{i - 1}, x]}}\n" for i in range(1, 301))
    page.fill(
        "#source",
        f"graphgrad: 1\ninputs: {{x: 1}}\nnodes:\n  n0: {{op: neg, in: [x]}}\n{nodes}output: n300\n",
    )
    note = page.wait_for_selector("[data-too-large]")
    assert "302 inputs and nodes; the page draws at most 300" in note.text_content()
    assert "n300 = 299" in page.text_content("#status")  # run all the same


def test_names_only_never_a_path(page, server):
    page.goto(f"{server}/?graph=../pyproject")
    page.wait_for_selector('body[data-state="error"]')
    assert "takes a graph's name" in page.text_content("#status")
    page.goto(f"{server}/?graph=nope")
    page.wait_for_selector('body[data-state="error"]')
    assert "no graph named 'nope'" in page.text_content("#status")


def test_nothing_is_loaded_from_another_site(browser, server):
    page = browser.new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    response = page.goto(f"{server}/?graph=two_layer_svm")
    page.wait_for_selector('body[data-state="ready"]')
    page.close()
    assert urls and all(u.startswith(server + "/") for u in urls), urls
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    for name in ("index.html", "app.js", "style.css"):
        text = (ROOT / "graphgrad" / "service" / "web" / name).read_text()
        # the SVG namespace is a name, not a load
        assert not re.findall(r"(?:https?:)?//(?!www\.w3\.org/2000/svg)[a-z0-9.-]+\.[a-z]{2,}", text), name
        assert "@import" not in text and "url(http" not in text


# the endpoints the page uses


def test_the_graph_menu_endpoints(server):
    listed = httpx.get(f"{server}/v1/graphs").json()["graphs"]
    assert "simple" in listed and "relu" not in listed  # graphs/NAME.yaml, not its subfolders
    r = httpx.get(f"{server}/v1/graphs/simple")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/yaml")
    assert r.content == (GRAPHS / "simple.yaml").read_bytes()
    for bad in ("a.b", "simple.yaml", "%2e%2e", "x%00"):
        r = httpx.get(f"{server}/v1/graphs/{bad}")
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json", bad
    for missing in ("..%2Fpyproject", "nope"):
        assert httpx.get(f"{server}/v1/graphs/{missing}").status_code == 404
    assert httpx.get(f"{server}/web/index.html").status_code == 404
    assert httpx.get(f"{server}/web/..%2Fservice.py").status_code == 404


def test_explain_is_the_run_and_the_picture(server):
    r = httpx.post(f"{server}/v1/explain", content=(GRAPHS / "copy_gate.yaml").read_bytes(), headers=YAML)
    doc = r.json()
    assert (doc["value"], doc["grads"], doc["drawable"]) == (-3.0, {"x": 2.0, "y": 3.0}, True)
    x = next(n for n in doc["nodes"] if n["name"] == "x")
    assert x["value"]["data"] == 3.0 and x["grad"]["data"] == 2.0
    assert x["edit"]["token"] == "3" and x["edit"]["form"] == "number"
    # x used three times: each edge carries its own share, and the copy gate's row sums them
    shares = [e["grad"] for e in doc["edges"] if e["source"] == "x"]
    assert sorted(shares) == ["-4", "3", "3"]
    assert doc["explain"]["x"][0]["gate"] == "copy" and doc["explain"]["x"][0]["downstream"] == "2"
    bad = httpx.post(
        f"{server}/v1/explain",
        content=b"graphgrad: 1\ninputs: {x: 1}\nnodes:\n  f: {op: mull, in: [x]}\noutput: f\n",
        headers=YAML,
    )
    assert bad.status_code == 400 and bad.json()["errors"] == [
        "body:4:11: node 'f': unknown op 'mull' (did you mean 'mul'?)"
    ]


def test_the_menu_folder_is_an_option_and_symlinks_cannot_leave_it(tmp_path):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from graphgrad.service.app import create_app

    async def fetch(app, path: str) -> httpx.Response:
        # the app without its lifespan: these routes need no worker
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.get(path)

    def get(app, path: str) -> httpx.Response:
        # a thread of its own: Playwright's sync API holds this thread's event loop
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, fetch(app, path)).result()

    (tmp_path / "mine.yaml").write_text("graphgrad: 1\ninputs: {x: 1}\nnodes: {}\noutput: x\n")
    (tmp_path / "escape.yaml").symlink_to(ROOT / "pyproject.toml")
    app = create_app(graphs=tmp_path)
    assert get(app, "/v1/graphs").json() == {"graphs": ["mine"]}  # the link leads out
    assert get(app, "/v1/graphs/mine").text.startswith("graphgrad: 1")
    assert get(app, "/v1/graphs/escape").status_code == 404
    assert get(create_app(graphs=None), "/v1/graphs").json() == {"graphs": []}


def test_without_chromium_the_tests_fail_saying_how_to_install_it():
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium chromium-driver"):
        chromium_path("/nonexistent/chromium")


def test_the_page_ships_in_the_package():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {p.name for p in (ROOT / "graphgrad" / "service" / "web").iterdir()}
    assert shipped == {"index.html", "app.js", "style.css"}
    assert {"web/*.html", "web/*.js", "web/*.css"} <= set(data["graphgrad.service"])
