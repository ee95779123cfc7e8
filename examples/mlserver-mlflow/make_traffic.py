"""Write `traffic.csv`: the requests the team replays in game days (seed 7, 2000 rows): each
transaction's own fields and its customer's id, as clients send them, and the true label."""

import csv
from pathlib import Path

from fraud import FEATURES, REQUEST, generate

rows, labels, who = generate(2000, seed=7)
with (Path(__file__).parent / "traffic.csv").open("w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow([*REQUEST, "is_fraud"])
    for row, label, customer in zip(rows, labels, who, strict=True):
        fields = dict(zip(FEATURES, row, strict=True))
        writer.writerow([customer, *(f"{fields[f]:g}" for f in REQUEST[1:]), label])
