"""The text timeline a postmortem draws: one row per event on a shared time axis.

```
injected     ●                                                  +0.0s
detected     ────●   ┆                                          +2.7s
```
"""

from __future__ import annotations

from typing import Any

from mlchaos.vocabulary import TARGET_OF_EVENT, shown_events

__all__ = ["WIDTH", "text_timeline"]

WIDTH = 48


def text_timeline(exp: dict[str, Any]) -> str:
    """``exp`` is an experiment view (see `mlchaos.report.view`); ┆ marks each event's target."""
    offsets: dict[str, float | None] = exp["offsets"]
    targets = exp["targets_s"]
    known = [v for v in offsets.values() if v is not None]
    span = max([*known, *targets.values(), 1.0])
    scale = WIDTH / span
    simulated = {e for e, a in (exp.get("actors") or {}).items() if a.get("party") == "mlchaos"}
    simulated -= {"injected", "reverted"}  # mlchaos's by definition: they start and end it
    rows = []
    seen = [e for e, v in offsets.items() if v is not None]
    for event in shown_events(seen, targets):
        value = offsets[event]
        line = [" "] * (WIDTH + 1)
        key = TARGET_OF_EVENT.get(event)
        if key and key in targets:
            line[min(WIDTH, round(targets[key] * scale))] = "┆"
        if value is not None:
            position = min(WIDTH, max(0, round(value * scale)))
            for i in range(position):
                if line[i] == " ":
                    line[i] = "─"
            line[position] = "●"
            label = f"+{value:.1f}s" + (" simulated" if event in simulated else "")
        else:
            label = "never"
        rows.append(f"{event:<13}{''.join(line)}  {label}")
    rows.append(f"{'':<13}0{'':>{WIDTH - 1}}{span:.0f}s")
    return "\n".join(rows)
