#!/usr/bin/env python3
"""Writes N `ravis score` input lines (JSON Lines) for the end-to-end CLI benchmark.

Usage: python3 scripts/gen-score-lines.py N > lines.jsonl
Mix: 40 % sdq-parent-4-17, 20 % sdq-teacher-4-17, 20 % mchat-r, 20 % epds; random answers
with a fixed seed, so every run measures the same input.
"""
import json
import random
import sys


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = random.Random(7)
    out = sys.stdout
    for i in range(n):
        kind = i % 5
        if kind in (0, 1):
            line = {"instrument": "sdq-parent-4-17",
                    "answers": {str(j): rng.randint(0, 2) for j in range(1, 26)},
                    "administered_on": "2026-10-01",
                    "child": {"birth_date": "2019-05-02", "sex": "female", "gestational_age_weeks": 39}}
        elif kind == 2:
            line = {"instrument": "mchat-r",
                    "answers": {str(j): rng.randint(0, 1) for j in range(1, 21)},
                    "administered_on": "2026-11-20",
                    "child": {"birth_date": "2025-01-10", "sex": "male", "gestational_age_weeks": None}}
        elif kind == 3:
            line = {"instrument": "epds",
                    "answers": {str(j): rng.randint(0, 3) for j in range(1, 11)},
                    "administered_on": "2026-10-01",
                    "child": {"birth_date": "2026-09-01", "sex": "female", "gestational_age_weeks": None}}
        else:
            line = {"instrument": "sdq-teacher-4-17",
                    "answers": {str(j): rng.randint(0, 2) for j in range(1, 26)},
                    "administered_on": "2026-10-01",
                    "child": {"birth_date": "2017-03-04", "sex": "male", "gestational_age_weeks": 40}}
        out.write(json.dumps(line, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
