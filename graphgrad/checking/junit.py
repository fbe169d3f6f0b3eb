"""Check reports as JUnit XML, the format CI systems read."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

from graphgrad.checking.verify import FileReport
from graphgrad.errors import visible
from graphgrad.format.writing import write_atomic


def write_junit(reports: list[FileReport], path: str | Path) -> None:
    """One testsuite, one testcase per file, a failure or error element where due;
    the file is written whole or not at all."""
    suite = ET.Element(
        "testsuite",
        name="graphgrad",
        tests=str(len(reports)),
        failures=str(sum(r.status in ("failed", "inconclusive") for r in reports)),
        errors=str(sum(r.status == "error" for r in reports)),
        time=f"{sum(r.seconds for r in reports):.3f}",
    )
    for r in reports:
        case = ET.SubElement(suite, "testcase", classname="graphgrad", name=r.file, time=f"{r.seconds:.3f}")
        if r.status != "passed":
            lines = [visible(line) for line in r.messages()]
            tag = "error" if r.status == "error" else "failure"
            kind = r.status if r.status == "inconclusive" else tag
            element = ET.SubElement(case, tag, message=lines[0] if lines else r.status, type=kind)
            element.text = "\n".join(lines)
    tree = ET.ElementTree(ET.Element("testsuites"))
    tree.getroot().append(suite)
    ET.indent(tree)
    out = io.BytesIO()
    tree.write(out, encoding="utf-8", xml_declaration=True)
    write_atomic(path, out.getvalue(), what="--junit")
