"""pytest plugin: every graph file under the paths pytest is given is a test item.

``pytest graphs/`` collects each ``*.yaml`` / ``*.yml`` file that starts a line with
``graphgrad:`` and checks it as ``graphgrad check`` does. A file that does not load is
a failing item with its located messages, never a collection error.
Options: ``--graphgrad-checker NAME``, ``--graphgrad-plugins PATH`` (repeatable),
``--graphgrad-isolate`` (a worker process per file), ``--no-graphgrad``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from graphgrad.checking.batch import BatchOptions, check_file, check_files
from graphgrad.checking.verify import FileReport

_MARKER = re.compile(rb"^graphgrad\s*:", re.MULTILINE)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("graphgrad", "graphgrad graph files")
    group.addoption("--graphgrad-checker", default=None, metavar="NAME", help="checker for every graph file")
    group.addoption(
        "--graphgrad-plugins",
        action="append",
        default=[],
        metavar="PATH",
        help="a graphgrad plugin file, folder or module (repeatable)",
    )
    group.addoption(
        "--graphgrad-isolate",
        action="store_true",
        help="check each graph file in its own worker process (survives crashing plugins)",
    )
    group.addoption("--no-graphgrad", action="store_true", help="do not collect graph files")


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml") or parent.config.getoption("no_graphgrad"):
        return None
    try:
        with file_path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if _MARKER.search(head):
        return GraphFile.from_parent(parent, path=file_path)
    return None


class GraphFile(pytest.File):
    """A graph file: one item that checks it."""

    def collect(self):
        yield GraphItem.from_parent(self, name=self.path.name)


class GraphCheckFailed(Exception):
    """A graph file failed its check, or did not load."""

    def __init__(self, report: FileReport):
        self.report = report
        super().__init__(report.status)


class GraphItem(pytest.Item):
    """Loads, runs and checks one graph file."""

    def runtest(self) -> None:
        config = self.config
        options = BatchOptions(
            checker=config.getoption("graphgrad_checker"),
            plugins=tuple(config.getoption("graphgrad_plugins")),
        )
        if config.getoption("graphgrad_isolate"):
            report = check_files([str(self.path)], options, jobs=1)[0]
        else:
            report = check_file(str(self.path), options)
        if report.status != "passed":
            raise GraphCheckFailed(report)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, GraphCheckFailed):
            report = excinfo.value.report
            title = {
                "error": "could not be checked",
                "inconclusive": "gradient check inconclusive (rounding hides the answer)",
            }.get(report.status, "gradient check failed")
            return "\n".join([f"{self.path}: {title}", *(f"  {m}" for m in report.messages())])
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"graph {self.name}"
