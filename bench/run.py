"""Run every benchmark and record the results in bench/RESULTS.md (`make bench`).

Each script prints its own table; this file keeps the command, the machine
and the output together so a number is never separated from how it was made.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SCRIPTS = [
    "emulator_bench.py",
    "operations_bench.py",
    "billing_bench.py",
    "app_bench.py",
    "webhook_bench.py",
    "intake_open_loop.py --configs 2x4,2x2",
    "renewal_storm.py",
    "usage_bench.py",
    "seat_bench.py",
]


def main() -> None:
    selected = sys.argv[1:] or SCRIPTS
    sections = []
    for entry in selected:
        # An entry may carry the script's options: "renewal_storm.py --subs 200".
        script, *options = shlex.split(entry)
        command = " ".join(["uv run python", f"bench/{script}", *options])
        print(f"== {command}", flush=True)
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(BENCH / script), *options],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.monotonic() - started
        lines = [
            line
            for line in result.stdout.splitlines()
            if " INFO " not in line and " WARNING " not in line
        ]
        output = "\n".join(lines).strip()
        print(output)
        if result.returncode != 0:
            print(result.stderr[-3000:], file=sys.stderr)
        status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
        sections.append(
            f"## {script}\n\nCommand: `{command}` ({elapsed:.0f} s, {status})\n\n"
            f"```\n{output}\n```\n"
        )
    header = (
        "# Benchmark results\n\n"
        f"Recorded {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
        + (
            "`make bench` (`uv run python bench/run.py`)"
            if selected == SCRIPTS
            else f"`uv run python bench/run.py {' '.join(shlex.quote(e) for e in selected)}`"
        )
        + f" on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}.\n"
        "Each script's docstring says what it measures; targets come from the issues.\n\n"
    )
    # Scripts not run this time keep their last recorded section (and say when).
    results = BENCH / "RESULTS.md"
    if selected != SCRIPTS and results.exists():
        previous = results.read_text()
        recorded = previous.split("\n", 3)[2] if previous.count("\n") > 3 else ""
        kept = {
            part.split("\n", 1)[0].strip(): "## " + part for part in previous.split("\n## ")[1:]
        }
        ran = {section.split("\n", 1)[0][3:].strip(): section for section in sections}
        sections = []
        for entry in SCRIPTS:
            script = shlex.split(entry)[0]  # sections are named by the script alone
            if script in ran:
                sections.append(ran[script])
            elif script in kept:
                sections.append(_kept_section(kept[script], recorded))
    results.write_text(header + "\n".join(sections))
    print(f"\nwritten to {BENCH / 'RESULTS.md'}")


def _kept_section(section: str, recorded: str) -> str:
    """A section carried over from an earlier run names the run that recorded it, once.

    A section kept before already names it; adding the header of the run that kept it
    would pile up one line per run, each naming a run that did not measure it.
    """
    section = section.rstrip("\n")
    if "\n(Kept from: " in section:
        return section + "\n"
    return section + f"\n\n(Kept from: {recorded})\n"


if __name__ == "__main__":
    main()
