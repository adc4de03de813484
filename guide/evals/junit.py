"""JUnit XML for CI: a `gate` suite (one test per threshold, failing on a breach and naming the cases
behind it) and one suite per eval suite (one test per case, failing cases carry what went wrong).

The gate suite decides the build (it matches `guide eval`'s exit code); per-case failures inside the
thresholds are shown so reviewers can read them, the way promptfoo lists failing assertions.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guide.evals.report import RunReport

_MAX_IDS = 50


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"


def _suite(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, "testsuite", name=name)


def _case(suite: ET.Element, classname: str, name: str, *, failure: str | None = None, body: str = "",
          skipped: str | None = None, seconds: float = 0.0) -> None:
    tc = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")
    if failure is not None:
        f = ET.SubElement(tc, "failure", message=failure[:1000], type="EvalFailure")
        f.text = body or failure
    elif skipped is not None:
        ET.SubElement(tc, "skipped", message=skipped)


def _finish(suite: ET.Element) -> None:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    suite.set("errors", "0")
    suite.set("time", f"{sum(float(c.get('time', 0)) for c in cases):.3f}")


def to_junit(report: "RunReport") -> ET.ElementTree:
    root = ET.Element("testsuites", name="guide eval")
    if report.gate is not None:
        gate = _suite(root, "gate")
        for c in report.gate.checks:
            name = f"{c.metric} {c.op} {_fmt(c.threshold)}"
            if c.status == "fail":
                ids = ", ".join(c.failing_cases[:_MAX_IDS]) + (f" … (+{len(c.failing_cases) - _MAX_IDS})" if len(c.failing_cases) > _MAX_IDS else "")
                msg = f"{c.metric} = {_fmt(c.value)}, threshold {c.op} {_fmt(c.threshold)}"
                if ids:
                    msg += f"; failing cases: {ids}"
                _case(gate, "gate", name, failure=msg, body=msg + ("\n" + c.description if c.description else ""))
            elif c.status == "skipped":
                _case(gate, "gate", name, skipped="no data for this metric in this run")
            else:
                _case(gate, "gate", name)
        _finish(gate)
    if report.safety is not None:
        s = _suite(root, "safety")
        for c in report.safety.cases:
            msg = None if c.passed else f"{c.id}: expected {c.expected_route}, got {c.route} ({c.outcome}): {c.text[:200]!r}"
            _case(s, f"safety.{c.category or 'none'}", c.id, failure=msg, seconds=c.latency_ms / 1000)
        _finish(s)
    if report.retrieval is not None:
        for mode in report.retrieval.modes:
            s = _suite(root, f"retrieval.{mode.mode}")
            for r in (r for r in report.retrieval.cases if r.mode == mode.mode):
                msg = None if r.passed else (f"{r.id}: none of {r.relevant} in top {report.retrieval.k} "
                                             f"{r.ranking[:report.retrieval.k]} for {r.query!r}")
                _case(s, f"retrieval.{mode.mode}", r.id, failure=msg, seconds=r.latency_ms / 1000)
            _finish(s)
    if report.answers is not None:
        s = _suite(root, "conversations")
        for a in report.answers.cases:
            if a.ungraded:
                continue  # nothing to check it against: a human grades it
            msg = None
            if not a.passed:
                msg = f"{a.id}: " + "; ".join([*a.failures, *a.citation_problems])
            body = "\n".join([*(f"user: {t}" for t in a.turns), f"guide ({a.route}): {a.text}"])
            _case(s, f"conversations.{a.kind}", a.id, failure=msg, body=(msg or "") + "\n\n" + body, seconds=a.latency_ms / 1000)
        _finish(s)
    root.set("tests", str(sum(int(s.get("tests", 0)) for s in root)))
    root.set("failures", str(sum(int(s.get("failures", 0)) for s in root)))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(report: "RunReport", path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    to_junit(report).write(path, encoding="utf-8", xml_declaration=True)
    return path
