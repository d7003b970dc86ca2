"""The fault table: the fault suite (tests/faults/) run, and what each fault class cost.

    python benchmarks/faults.py

Runs ``pytest tests/faults`` with ``SNAKESWEEP_FAULT_TABLE`` set, so every test that
injects faults into a real sweep records its row (faults injected; runs lost; runs
completed twice; incomplete results counted done; tracebacks shown to the user; values
merged that differ from what the run returned, and runs left out of ``sweep.nc``
unnamed; commands that hung past their bound); the rows
are the very counts the tests assert to be 0. The cases of bad input, injection, secrets
and golden ids are counted from the test results (each is a test that checks them).

Also: the recovery time after a kill -9 (from the next invocation's start to its first run
started), against the same time for a first invocation on a fresh sweep in the same run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COUNTED = {
    "test_bad_input": "bad input cases",
    "test_injection": "injection tests",
    "test_secrets": "secret tests",
    "test_golden_ids": "golden id tests",
}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        table, junit = Path(tmp, "table.jsonl"), Path(tmp, "junit.xml")
        t0 = time.monotonic()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/faults",
                f"--junitxml={junit}",
            ],
            cwd=REPO,
            env={**os.environ, "SNAKESWEEP_FAULT_TABLE": str(table)},
        )
        elapsed = time.monotonic() - t0
        rows = (
            [json.loads(line) for line in table.read_text().splitlines()] if table.exists() else []
        )
        cases = Counter()
        failed = Counter()
        for case in ET.parse(junit).getroot().iter("testcase"):
            module = case.get("classname", "").rsplit(".", 1)[-1]
            cases[module] += 1
            if case.find("failure") is not None or case.find("error") is not None:
                failed[module] += 1
    header = [
        "fault class",
        "injected",
        "runs lost",
        "completed twice",
        "incomplete counted done",
        "tracebacks shown",
        "wrong values merged",
        "hangs",
    ]
    body = [
        [
            r["fault"],
            str(r["injected"]),
            str(r["lost"]),
            str(r["twice"]),
            str(r["incomplete_done"]),
            str(r["tracebacks"]),
            str(r.get("wrong", 0)),
            str(r.get("hangs", 0)),
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for b in body:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) + " |")
    print()
    for module, what in COUNTED.items():
        print(f"{what}: {cases[module]} tests, {failed[module]} failed")
    kill = next((r for r in rows if r.get("recovery")), None)  # kill -9 (process group)
    if kill:
        recovery = kill["recovery"]
        base = kill["baseline"]
        print(
            f"recovery after kill -9 (next invocation to its first run started), over "
            f"{len(recovery)} invocations: median {statistics.median(recovery):.2f} s, "
            f"max {max(recovery):.2f} s; a fresh sweep's first invocation: {base:.2f} s "
            f"(median ratio {statistics.median(recovery) / base:.2f}); goal <= 3 s"
        )
    print(
        f"fault suite: {sum(cases.values())} tests, {sum(failed.values())} failed, "
        f"{elapsed:.0f} s (pytest exit status {out.returncode})"
    )
    dirty = [
        r["fault"]
        for r in rows
        if r["lost"]
        or r["twice"]
        or r["incomplete_done"]
        or r["tracebacks"]
        or r.get("wrong")
        or r.get("hangs")
    ]
    return 1 if dirty or out.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
