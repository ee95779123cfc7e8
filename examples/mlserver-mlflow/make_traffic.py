"""Write `traffic.csv`: the requests the team replays in game days (seed 7, 2000 rows)."""

import csv
from pathlib import Path

from fraud import FEATURES, generate

rows, labels = generate(2000, seed=7)
with (Path(__file__).parent / "traffic.csv").open("w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow([*FEATURES, "is_fraud"])
    for row, label in zip(rows, labels, strict=True):
        writer.writerow([*(f"{v:g}" for v in row), label])
