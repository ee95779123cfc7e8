"""The workers of one gateway: each serves the same port (``SO_REUSEPORT``) and counts what it
served; the one an admin request reaches asks the others, on their fault path's loopback
port, and answers for all. A worker that does not answer is left out and named."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Siblings", "merge_faults", "merge_metrics", "merge_outcomes"]


class Siblings:
    """The other workers, by the loopback port their fault path listens on."""

    def __init__(self, state_dir: Path, index: int, token: str | None = None) -> None:
        self.dir = state_dir / "gateway-workers"
        self.index = index
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def register(self, port: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        staged = self.dir / f".{self.index}.tmp"
        staged.write_text(f"{port} {os.getpid()}")
        os.replace(staged, self.dir / str(self.index))

    def ports(self) -> dict[str, int]:
        found = {}
        for entry in self.dir.glob("[0-9]*"):
            if entry.name != str(self.index):
                with contextlib.suppress(OSError, ValueError):
                    found[entry.name] = int(entry.read_text().split()[0])
        return found

    async def gather(
        self, session: aiohttp.ClientSession, path: str, text: bool = False
    ) -> tuple[list[Any], list[str]]:
        """Each other worker's answer to ``path``, and the workers that gave none."""

        async def one(port: int) -> Any:
            url = f"http://127.0.0.1:{port}{path}"
            timeout = aiohttp.ClientTimeout(total=2)
            async with session.get(url, headers=self.headers, timeout=timeout) as answer:
                answer.raise_for_status()
                return await (answer.text() if text else answer.json())

        ports = self.ports()
        answers = await asyncio.gather(*(one(p) for p in ports.values()), return_exceptions=True)
        got = [a for a in answers if not isinstance(a, BaseException)]
        missing = [w for w, a in zip(ports, answers, strict=True) if isinstance(a, BaseException)]
        return got, missing


def merge_outcomes(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Per second: answers and 2xx summed; per version: answers summed, the first and last
    answer the earliest and latest of any worker's; per status code: summed."""
    seconds: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    versions: dict[tuple[int, str], list[float]] = {}
    codes: dict[tuple[int, int], int] = defaultdict(int)
    for doc in documents:
        for second, answered, ok in doc["outcomes"]:
            seconds[second][0] += answered
            seconds[second][1] += ok
        for second, version, n, first, last in doc["versions"]:
            seen = versions.get((second, version))
            if seen is None:
                versions[(second, version)] = [n, first, last]
            else:
                seen[0] += n
                seen[1], seen[2] = min(seen[1], first), max(seen[2], last)
        for second, code, n in doc["codes"]:
            codes[(second, code)] += n
    latest = [doc["latest"] for doc in documents if doc.get("latest")]
    return {
        "outcomes": [[s, a, ok] for s, (a, ok) in sorted(seconds.items())],
        "versions": [[s, v, int(n), f, la] for (s, v), (n, f, la) in sorted(versions.items())],
        "codes": [[s, c, n] for (s, c), n in sorted(codes.items())],
        "latest": max(latest, key=lambda pair: float(pair[0])) if latest else None,
    }


def merge_faults(lists: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The leases as the first list has them, with every worker's counts added up."""
    merged: dict[str, dict[str, Any]] = {}
    for leases in lists:
        for lease in leases:
            seen = merged.get(lease["id"])
            if seen is None:
                merged[lease["id"]] = dict(lease)
                continue
            seen["applied"] += lease["applied"]
            seen["unrewritten"] += lease["unrewritten"]
            seen["why_not"] = seen["why_not"] or lease["why_not"]
    return list(merged.values())


def merge_metrics(texts: list[str]) -> str:
    """Prometheus text from every worker, as one: counters and histograms summed, gauges (a
    fault active) the largest."""
    families: dict[str, tuple[str, str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            _, _, samples = families.setdefault(
                family.name, (family.type, family.documentation, {})
            )
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue  # a per-process timestamp, not a count
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if family.type == "gauge":
                    samples[key] = max(samples.get(key, sample.value), sample.value)
                else:
                    samples[key] = samples.get(key, 0.0) + sample.value
    lines = []
    for name, (kind, doc, samples) in families.items():
        named = f"{name}_total" if kind == "counter" else name
        lines += [f"# HELP {named} {doc}", f"# TYPE {named} {kind}"]
        for (series, labels), value in samples.items():
            shown = ",".join(f'{k}="{_escaped(v)}"' for k, v in labels)
            lines.append(f"{series}{{{shown}}} {value!r}" if shown else f"{series} {value!r}")
    return "\n".join(lines) + "\n"


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
