"""Helpers shared by benchmark generators: machine description and section replacement in README.md."""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import re
import sys
from pathlib import Path

from stealguard.bench.report import machine  # noqa: F401 - one description of the machine

HERE = Path(__file__).resolve().parent


def stamp(command: str) -> str:
    return f"Command: `{command}` · machine: {machine()} · date: {_dt.date.today().isoformat()}"


def write_section(name: str, body: str, readme: Path = HERE / "README.md") -> None:
    """Replace (or append) the block between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in README.md."""
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    block = f"<!-- BEGIN {name} -->\n{body.rstrip()}\n<!-- END {name} -->"
    pattern = re.compile(rf"<!-- BEGIN {re.escape(name)} -->.*?<!-- END {re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)


def report_rows(scenario: str, name: str) -> list[dict]:
    """The rows of ``benchmarks/SCENARIO/NAME`` (a harness report's CSV); exits with one line when it is missing."""
    path = HERE / scenario / name
    if not path.exists():
        sys.exit(f"{path} is missing: run `python benchmarks/run.py {scenario}` first")
    with open(path) as f:
        return list(csv.DictReader(f))


def aggregator_args(script: str, doc: str, default: list[str], argv: list[str] | None = None) -> tuple[list[str], str]:
    """The scenarios a page-assembling script (``benchmarks/SCRIPT``) was given on its command line (default:
    ``default``) and the command that reproduces the page."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="*", default=default)
    scenarios = ap.parse_args(argv).scenarios
    return scenarios, f"python benchmarks/{script}" + ("" if scenarios == default else " " + " ".join(scenarios))


def page_head(title: str, command: str, scenarios: list[str], what: str) -> list[str]:
    """A page's title, stamp and the reports it is made from, then ``what`` (its own reading notes)."""
    return [f"# {title}", "", stamp(command), "",
            "Made from the harness reports of " + ", ".join(f"[{s}]({s}/report.md)" for s in scenarios)
            + f" (`python benchmarks/run.py SCENARIO`). {what}", ""]


def verification_rows(scenario: str) -> dict[tuple[str, str, str], dict]:
    """A report's verification.csv rows by (method, access, suspect), each with its ``details`` parsed."""
    out = {}
    for r in report_rows(scenario, "verification.csv"):
        if "details" not in r:
            sys.exit(f"{scenario}/verification.csv has no details column: rerun `python benchmarks/run.py {scenario}`")
        r["details"] = json.loads(r["details"] or "{}")
        out[(r["method"], r["access"], r["suspect"])] = r
    return out


def model_rows(scenario: str) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """From a report's attacks.csv: test accuracy by (method, "Source") for each protected victim and by
    (method, theft) for each stolen copy, and the copies' fidelity to their victim by (method, theft)."""
    acc, fid = {}, {}
    for r in report_rows(scenario, "attacks.csv"):
        model = r["model"]
        if model.startswith("**Victim** ("):
            acc[(model[len("**Victim** ("):].split(", seed")[0], "Source")] = float(r["test accuracy"])
        elif " (victim " in model:
            theft, rest = model.split(" (victim ", 1)
            key = (rest.split(", seed")[0], theft)
            acc[key], fid[key] = float(r["test accuracy"]), float(r["fidelity to its victim"])
    return acc, fid


def fmt_p(x) -> str:
    """A p-value cell: '–' when missing, scientific below 0.001."""
    if x in (None, ""):
        return "–"
    v = float(x)
    return f"{v:.1e}" if v < 1e-3 else f"{v:.3f}"


def fmt(x, spec="{:.3f}") -> str:
    """A number cell: '–' when missing."""
    return "–" if x is None else spec.format(x)
