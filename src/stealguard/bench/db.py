"""The results database of a benchmark run: one SQLite file (``RUN/results.sqlite``) users can query directly.

Tables:

- ``meta(key, value)``: the scenario (JSON) and its SHA-256, the stealguard version, when the run started.
- ``jobs(key, kind, status, result, error, seconds, finished)``: every job of the grid that finished (``done``) or
  failed; ``result`` is the job's JSON result.
- ``models(job, role, grp, seed, label, attack, arch, width, accuracy, fidelity, queries, sha256, path, seconds)``:
  every model the run produced or loaded (roles: victim, protected, stolen, independent).
- ``verdicts(job, method, method_label, seed, access, suspect, suspect_kind, attack, applicable, stolen, p_value,
  effect, alpha, suspicion, queries, fidelity, decision, note, details, seconds)``: one row per verification.

A job's row and the rows it derives are written in one transaction by the coordinating process only, so a run
killed at any moment leaves each job either fully recorded or not at all; the next run redoes only what is missing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from ..errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS jobs (key TEXT PRIMARY KEY, kind TEXT, status TEXT, result TEXT, error TEXT,
                                 seconds REAL, finished TEXT);
CREATE TABLE IF NOT EXISTS models (job TEXT PRIMARY KEY, role TEXT, grp TEXT, seed INTEGER, label TEXT, attack TEXT,
                                   arch TEXT, width REAL, accuracy REAL, fidelity REAL, queries INTEGER, sha256 TEXT,
                                   path TEXT, seconds REAL);
CREATE TABLE IF NOT EXISTS verdicts (job TEXT PRIMARY KEY, method TEXT, method_label TEXT, seed INTEGER, access TEXT,
                                     suspect TEXT, suspect_kind TEXT, attack TEXT, applicable INTEGER, stolen INTEGER,
                                     p_value REAL, effect REAL, alpha REAL, suspicion REAL, queries INTEGER,
                                     fidelity REAL, decision TEXT, note TEXT, details TEXT, seconds REAL);
"""

# columns that differ between two runs of the same grid only by timing or by where files were written
TIMING = {"seconds", "finished", "path", "details"}


class ResultsDB:
    """A run's results database (created if missing)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = sqlite3.connect(self.path, timeout=30)
            self.con.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ConfigError(f"{self.path} is not a stealguard results database: {e}") from None
        self.con.execute("PRAGMA journal_mode=WAL")

    def close(self) -> None:
        """Close the database connection."""
        self.con.close()

    # ------------------------------------------------------------------------------------------ meta
    def meta(self, key: str) -> str | None:
        """The value stored under ``key`` in the run's metadata, or None."""
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def holds_other_version(self, name: str, digest: str) -> bool:
        """Whether the database holds results of another version of scenario ``name`` (same name, another digest)."""
        have = self.meta("scenario_sha256")
        return have is not None and have != digest and self.meta("scenario_name") == name

    def bind_scenario(self, scenario: dict, digest: str, version: str) -> None:
        """Tie the database to one scenario; a different scenario in the same run folder is refused."""
        have = self.meta("scenario_sha256")
        if have is not None and have != digest:
            name = self.meta("scenario_name")
            what = (f"an earlier version of scenario {name} (its file has changed since)"
                    if self.holds_other_version(scenario["name"], digest) else f"another scenario ({name})")
            raise ConfigError(f"{self.path.parent} holds results of {what}; use a new --out folder, or delete that one "
                              "(trained models stay in the artifact cache)")
        if have is None:
            with self.con:
                self.con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
                    ("scenario_sha256", digest), ("scenario_name", scenario["name"]), ("scenario", json.dumps(scenario, sort_keys=True)),
                    ("stealguard_version", version), ("started", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))])

    def scenario(self) -> dict:
        """The scenario this run is bound to (as a dict); an error if none is bound yet."""
        text = self.meta("scenario")
        if text is None:
            raise ConfigError(f"{self.path} has no scenario: not a finished or started bench run")
        return json.loads(text)

    # ------------------------------------------------------------------------------------------ jobs
    def done(self) -> dict[str, dict]:
        """Results of the finished jobs, by key."""
        return {k: json.loads(r) for k, r in self.con.execute("SELECT key, result FROM jobs WHERE status = 'done'")}

    def failed(self) -> dict[str, str]:
        """The failed jobs: key -> error line."""
        return dict(self.con.execute("SELECT key, error FROM jobs WHERE status = 'failed'"))

    def keep_only(self, keys) -> int:
        """Forget the jobs (and their model and verdict rows) whose keys are not in ``keys``: jobs an earlier
        stealguard planned for the same scenario and this one does not (a job shared differently, say), which
        would otherwise appear in the report beside the current ones. Returns how many were forgotten."""
        keys = set(keys)
        stale = [k for (k,) in self.con.execute("SELECT key FROM jobs") if k not in keys]
        with self.con:
            for table, col in (("jobs", "key"), ("models", "job"), ("verdicts", "job")):
                self.con.executemany(f"DELETE FROM {table} WHERE {col} = ?", [(k,) for k in stale])
        return len(stale)

    def record(self, job, result: dict) -> None:
        """Store a finished job and the rows it derives, atomically."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self.con:
            self.con.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, 'done', ?, NULL, ?, ?)",
                             (job.key, job.kind, json.dumps(result, sort_keys=True, default=str), result.get("seconds"), now))
            if job.kind == "verify":
                self._verdict(job, result)
            else:
                self._model(job, result)

    def record_failure(self, job, error: str) -> None:
        """Record that ``job`` failed with ``error`` (a later run of the scenario tries it again)."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self.con:
            self.con.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, 'failed', NULL, ?, NULL, ?)", (job.key, job.kind, error, now))

    def _model(self, job, r: dict) -> None:
        s = job.spec
        role = {"victim": "victim", "protect": "protected", "steal": "stolen", "independent": "independent"}[job.kind]
        if job.kind == "protect" and "path" not in r:
            return  # a fingerprint: no new model
        grp = s.get("group") or (s["method"]["label"] if job.kind == "protect" else None)
        label = (s["attack"]["label"] if job.kind == "steal" else job.key.split("/", 1)[1])
        self.con.execute("INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
            job.key, role, grp, s.get("seed"), label, s["attack"]["attack"] if job.kind == "steal" else None,
            r.get("arch"), r.get("width"), r.get("accuracy"), r.get("fidelity"), r.get("queries"), r.get("sha256"),
            r.get("path"), r.get("seconds")))

    def _verdict(self, job, r: dict) -> None:
        s = job.spec
        self.con.execute("INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
            job.key, s["method"]["method"], s["method"]["label"], s["seed"], s["level"], s["suspect"], s["suspect_kind"],
            s["attack"], int(r["applicable"]), None if "stolen" not in r else int(r["stolen"]), r.get("p_value"),
            r.get("effect"), r.get("alpha"), r.get("suspicion"), r.get("queries"), r.get("fidelity"), r.get("decision"),
            r.get("note"), json.dumps(r.get("details"), sort_keys=True, default=str), r.get("seconds")))

    # ------------------------------------------------------------------------------------------ reading
    def rows(self, table: str, where: str = "", params: tuple = ()) -> list[dict]:
        """Rows of ``table`` as dicts (``where``: an SQL clause with ``?`` placeholders filled from ``params``)."""
        cur = self.con.execute(f"SELECT * FROM {table} {where}", params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def snapshot(self) -> dict[str, list[tuple]]:
        """The results without timing or file locations, sorted: two runs of one scenario that computed the same
        things have equal snapshots (what the resumability and executor tests compare)."""
        out = {}
        for table in ("models", "verdicts"):
            rows = self.rows(table)
            out[table] = sorted(tuple((k, v) for k, v in r.items() if k not in TIMING) for r in rows)
        out["jobs"] = sorted(self.con.execute("SELECT key, kind, status FROM jobs").fetchall())
        return out
