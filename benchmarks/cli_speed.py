"""CPU time of the command line before it does anything: `stealguard --help`, `import stealguard.cli`, and for
comparison the help of a group whose subcommands import the methods (`stealguard protect --help`). Writes
benchmarks/cli_speed.md.

Run: ``.venv/bin/python benchmarks/cli_speed.py`` on a quiet machine. Each command runs REPEATS times in a fresh
interpreter, alternating between this checkout and the source of commit BEFORE (the last one that imported every
method when the CLI loaded, unpacked from git into a temporary folder); the page gives the median CPU time (user +
system) of the child process and its wall time.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import HERE, stamp, write_section  # noqa: E402

REPEATS = 5
BEFORE = "5c685a5"  # the CLI imported torch, scipy, every method and attack when it loaded
COMMANDS = {
    "stealguard --help": ["-c", "import sys; from stealguard.cli import main; sys.argv = ['stealguard', '--help']; main()"],
    "import stealguard.cli": ["-c", "import stealguard.cli"],
    "stealguard protect --help": ["-c", "import sys; from stealguard.cli import main; "
                                        "sys.argv = ['stealguard', 'protect', '--help']; main()"],
}


def measure(args: list[str], src: str | None = None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one fresh interpreter running ``args`` (``src``: import stealguard from there)."""
    env = dict(os.environ, PYTHONPATH=src) if src else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "archive", BEFORE, "src"], cwd=HERE.parent, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        for name, args in COMMANDS.items():
            now, then = [], []
            for _ in range(REPEATS):  # alternating, so both see the same machine
                now.append(measure(args))
                then.append(measure(args, str(Path(old) / "src")))
            med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
                   for k, v in (("now", now), ("then", then))}
            rows.append(f"| `{name}` | {med['then'][0]:.2f} s | {med['then'][1]:.2f} s | **{med['now'][0]:.2f} s** | "
                        f"{med['now'][1]:.2f} s |")
            print(rows[-1], flush=True)
    page = ["# Command-line start-up time", "", stamp("python benchmarks/cli_speed.py"), "",
            f"Median of {REPEATS} runs each, in fresh interpreters (file caches warm), alternating between commit "
            f"{BEFORE} (whose CLI imported torch, scipy, every method and every attack when it loaded) and this "
            "checkout (the `protect` and `steal` subcommands are registered on first use).", "",
            f"| command | CPU time at {BEFORE} | wall time at {BEFORE} | CPU time now | wall time now |",
            "|---|---|---|---|---|", *rows, ""]
    (HERE / "cli_speed.md").write_text("\n".join(page))
    write_section("cli_speed", "## Command-line start-up\n\nSee [cli_speed.md](cli_speed.md) (`python benchmarks/cli_speed.py`): "
                  "the CPU time of `stealguard --help` and `import stealguard.cli`, now and before the subcommands were "
                  "registered on first use.")
    print(f"wrote {HERE / 'cli_speed.md'}")


if __name__ == "__main__":
    main()
