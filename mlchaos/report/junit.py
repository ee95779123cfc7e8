"""``junit.xml``: one testcase per experiment, for CI systems that read JUnit.

- ``fail`` becomes a ``<failure>`` whose message lists each missed target with its value;
- ``inconclusive`` and ``invalid`` become an ``<error>``: the game day could not tell, which
  must not show as green;
- each measured duration is a ``<property>``, a simulated one (mlchaos's doing) has a
  ``NAME.simulated`` property beside it saying why it was not judged, and each event has an
  ``EVENT.by`` property naming who caused it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from mlchaos.schema.results import ExperimentResults, ResultsDocument
from mlchaos.vocabulary import Verdict

__all__ = ["render_junit"]


def render_junit(document: ResultsDocument, out_dir: Path) -> Path:
    experiments = document.experiments
    suite = ET.Element(
        "testsuite",
        name=f"mlchaos.{document.scenario}",
        tests=str(len(experiments)),
        failures=str(sum(e.verdict in (Verdict.FAIL, Verdict.STOPPED) for e in experiments)),
        errors=str(sum(e.verdict in (Verdict.INCONCLUSIVE, Verdict.INVALID) for e in experiments)),
        timestamp=document.started_at,
    )
    for exp in experiments:
        suite.append(_testcase(document.scenario, exp))
    path = out_dir / "junit.xml"
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path


def _testcase(scenario: str, exp: ExperimentResults) -> ET.Element:
    group = f"mlchaos.{scenario}" + (f".{exp.service}" if exp.service else "")  # by service
    case = ET.Element("testcase", classname=group, name=exp.name)
    case.set("time", f"{_elapsed(exp):.3f}")
    properties = ET.SubElement(case, "properties")
    simulated = exp.simulated
    for key, value in exp.durations_s.items():
        if value is not None:
            ET.SubElement(properties, "property", name=key, value=f"{value:g}")
        if key in simulated:  # mlchaos's doing: reported, never judged
            ET.SubElement(properties, "property", name=f"{key}.simulated", value=simulated[key])
    for event, actor in exp.actors.items():
        who = f"{actor.actor or '?'} ({actor.party or 'not recorded'})"
        ET.SubElement(properties, "property", name=f"{event}.by", value=who)
    if exp.floor_s is not None:
        ET.SubElement(properties, "property", name="floor_s", value=f"{exp.floor_s:g}")
    message = "; ".join(exp.reasons) or exp.verdict
    if exp.verdict == Verdict.FAIL:
        ET.SubElement(case, "failure", message=message, type="missed-target").text = _detail(exp)
    elif exp.verdict == Verdict.STOPPED:
        ET.SubElement(case, "failure", message=message, type="stopped").text = _detail(exp)
    elif exp.verdict in (Verdict.INCONCLUSIVE, Verdict.INVALID):
        ET.SubElement(case, "error", message=message, type=exp.verdict).text = _detail(exp)
    return case


def _detail(exp: ExperimentResults) -> str:
    lines = [f"- {reason}" for reason in exp.reasons]
    lines += [f"- not judged: {note}" for note in exp.notes]
    lines += [f"{event}: {at or 'never'}" for event, at in exp.timeline.items()]
    return "\n".join(lines)


def _elapsed(exp: ExperimentResults) -> float:
    from mlchaos.report.view import offset

    value = offset(exp, exp.timeline.get("reverted"))
    return value if value is not None else 0.0
