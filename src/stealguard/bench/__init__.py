"""The benchmark harness: scenario files -> a grid of jobs (protect, steal, train independent models, verify) run
on this machine or a Ray cluster into a resumable SQLite results database, and reports in the papers' layouts.

``stealguard bench run SCENARIO --out RUN``, ``stealguard bench report RUN``, ``stealguard bench list``.
"""

from .db import ResultsDB
from .report import write_report
from .runner import run_bench
from .scenario import Scenario, load_scenario, parse_scenario, shipped_scenarios

__all__ = ["ResultsDB", "Scenario", "load_scenario", "parse_scenario", "run_bench", "shipped_scenarios", "write_report"]
