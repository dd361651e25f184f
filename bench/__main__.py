"""Run the benchmarks and write bench/results.md: `python -m bench [name ...]`.

Each ``bench/bench_<name>.py`` is run as its own process (so peak RSS is its own) and prints
a Markdown section with its numbers; this runner prefixes the machine it ran on (its kind, not
its name) and collects the sections into one table file, the only place numbers are kept.
The file is committed, so no path of the machine appears in it. Benchmarks report numbers;
nothing here passes or fails on a time.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def machine() -> str:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = psutil.virtual_memory().total / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory_gib:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def without_local_paths(text: str) -> str:
    """Paths of this machine as the reader would write them: the checkout as `.`, the
    temporary directory as `$TMPDIR`, the home directory as `~`."""
    for path, name in ((ROOT, "."), (Path(tempfile.gettempdir()), "$TMPDIR"), (Path.home(), "~")):
        text = text.replace(str(path.resolve()), name).replace(str(path), name)
    return text


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names]
    sections = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}.",
        "",
    ]
    failed = []
    for script in scripts:
        print(f"== {script.stem}", file=sys.stderr, flush=True)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(script.relative_to(ROOT))],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        sys.stderr.write(done.stderr[-4000:])
        took = time.monotonic() - started
        if done.returncode:
            failed.append(script.stem)
            sections += [f"## {script.stem}", "", f"FAILED (exit {done.returncode})", ""]
            continue
        sections += [done.stdout.strip(), "", f"_{script.stem} took {took:.0f} s in all._", ""]
    (HERE / "results.md").write_text(without_local_paths("\n".join(sections)))
    print(f"wrote {HERE / 'results.md'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
