"""How long the README's first command takes after the install, on a fresh cache (issue 11, item 7).

Runs what `bash scripts/bootstrap.sh demo` runs after the venv exists, each step as its own
process, in a fresh temporary folder with an empty $LATENTEDIT_CACHE (nothing trained or cached
before; the demo assets are the shipped ones):

    latentedit sample --out RUN
    latentedit tag RUN
    latentedit fit-directions RUN --method svd
    latentedit edit RUN --add long_hair --sub short_hair --out RUN/edits/long_hair
    latentedit report RUN --out RUN/report

and prints wall and CPU seconds per step (CPU: user + system of the step's process; on a machine
others are using, wall time grows with their load and CPU time does not), the report's own stage
timings, and the goals: the whole <= 5 min, the report <= 3 min.

    python benchmarks/bench_first_run.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from latentedit.reporting.schema import load_report

GOAL_TOTAL, GOAL_REPORT = 300.0, 180.0


def steps(run: Path) -> list[tuple[str, list[str]]]:
    return [
        ("sample", ["sample", "--out", str(run)]),
        ("tag", ["tag", str(run)]),
        ("fit-directions svd", ["fit-directions", str(run), "--method", "svd"]),
        ("edit", ["edit", str(run), "--add", "long_hair", "--sub", "short_hair", "--out", str(run / "edits" / "long_hair")]),
        ("report", ["report", str(run), "--out", str(run / "report")]),
    ]


def timed(args: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of `python -m cli ARGS`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "latentedit.cli", *args], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (default: a temp dir)")
    args = p.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-first-run-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LATENTEDIT_CACHE": str(work / "cache")}
    run = work / "runs" / "demo"
    load = os.getloadavg()[0]
    rows, total_wall, total_cpu = [], 0.0, 0.0
    for name, cmd in steps(run):
        wall, cpu = timed(cmd, env)
        rows.append((name, wall, cpu))
        total_wall, total_cpu = total_wall + wall, total_cpu + cpu
        print(f"{name:20s} wall {wall:7.1f} s   cpu {cpu:7.1f} s", flush=True)
    report_wall = rows[-1][1]
    print(f"{'total':20s} wall {total_wall:7.1f} s   cpu {total_cpu:7.1f} s   (load average at start {load:.1f})")
    print("\nreport stages (wall / cpu seconds):")
    for stage, s in load_report(run / "report").stages.items():
        print(f"  {stage:28s} {s.seconds:7.1f} {s.cpu_seconds:7.1f}  {s.status}")
    print(f"\ngoal: first command <= {GOAL_TOTAL / 60:.0f} min: {total_wall / 60:.1f} min wall "
          f"({'met' if total_wall <= GOAL_TOTAL else 'missed'}), {total_cpu / 60:.1f} min CPU")
    print(f"goal: report <= {GOAL_REPORT / 60:.0f} min, first run included: {report_wall / 60:.1f} min wall "
          f"({'met' if report_wall <= GOAL_REPORT else 'missed'}), {rows[-1][2] / 60:.1f} min CPU")


if __name__ == "__main__":
    main()
