"""The evidence report: one self-contained HTML page a third party (an arbiter, a platform) can read and check.

:func:`write_report` turns a :class:`~stealguard.verdict.Verdict` or a
:class:`~stealguard.methods.combined.CombinedVerdict` into a page with the combined verdict first (and how its
false-positive bound is obtained), then one panel per kit: the decision, the rule, p, the effect, the queries, the
method's measured blind spot or caveat, a plot of the suspect's score against the kit's independent reference models
and stolen-like models (where the kit holds per-model scores, ``Verdict.details["score"]``), and the SHA-256 of the
kit manifest, of the suspect (or its URL) and of the audit log and its last entry for a remote suspect. Plots are PNG
inlined as data URIs; a Content-Security-Policy forbids every request, so the page loads nothing from anywhere.
Checked in a real headless Chromium by tests/test_sac.py; a sample page is docs/evidence-sample.html (made by
scripts/evidence_sample).
"""

from __future__ import annotations

import base64
import html
import io
import time
from pathlib import Path

from .verdict import Verdict

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222;line-height:1.4}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:1.6em}
.verdict{font-size:1.3em;font-weight:bold;padding:.4em .7em;border-radius:4px;display:inline-block}
.stolen{background:#fde2e1;color:#8a1c17} .clear{background:#e3f1e4;color:#1e5b25}
.panel{border:1px solid #ccc;border-radius:6px;padding:.8em 1.2em;margin:1em 0}
table{border-collapse:collapse} td,th{padding:.15em .7em .15em 0;text-align:left;vertical-align:top}
th{white-space:nowrap;width:12em}
code{font-size:.85em;word-break:break-all} .note{color:#555;font-size:.92em}
"""


def _e(v) -> str:
    return html.escape(str(v), quote=True)


def _p(v) -> str:
    return "–" if v is None else f"{float(v):.3g}"


def score_plot(score: dict, title: str) -> str:
    """A data URI of a PNG strip plot: the kit's independent reference models, its stolen-like models, the decision
    threshold and the suspect, on the score axis."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 2.1), dpi=100)
    ax = fig.add_subplot()
    rows = [("independent\nreferences", score["independent"], "#2b7bba", "o"),
            ("stolen-like\nmodels", score["stolen_like"], "#d9822b", "s")]
    rows = [r for r in rows if r[1]]
    for y, (_, values, colour, marker) in enumerate(rows):
        ax.scatter(values, [y] * len(values), c=colour, marker=marker, s=40, alpha=0.8, zorder=2)
    ax.axvline(score["suspect"], color="#c0392b", lw=2, zorder=3, label="suspect")
    if score.get("threshold") is not None:
        ax.axvline(score["threshold"], color="#555", ls="--", lw=1, label="threshold")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    side = "higher" if score.get("higher_is_stolen", True) else "lower"
    ax.set_xlabel(f"{score['name']} ({side} = more like the protected model)", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _panel(v: Verdict, extra: dict | None = None) -> str:
    word = "STOLEN" if v.stolen else "not shown stolen"
    rows = [("the kit's own decision", f'<span class="verdict {"stolen" if v.stolen else "clear"}">{word}</span>'),
            ("access", _e(v.access)), ("p-value", _e(_p(v.p_value)) + (f" (alpha {v.alpha:g})" if v.alpha else "")),
            ("effect", _e(_p(v.effect))), ("queries", _e(v.queries)), ("seconds", _e(v.seconds))]
    if extra:
        rows.append(("in the combined test", _e(f"Holm-adjusted p {_p(extra['adjusted'])}"
                                                  + (", rejected" if extra["rejected"] else ", not rejected"))))
    rows.append(("test", _e(v.decision or "–")))
    if v.stolen and v.caveat:
        rows.append(("caveat", _e(v.caveat)))
    if v.blind_spot:
        rows.append(("measured blind spot", _e(v.blind_spot)))
    rows.append(("kit manifest SHA-256", f"<code>{_e(v.kit_id or '–')}</code>"))
    hashed = v.suspect and len(v.suspect) == 64 and all(c in "0123456789abcdef" for c in v.suspect)
    rows.append(("suspect SHA-256" if hashed else "suspect", f"<code>{_e(v.suspect or '–')}</code>"))
    remote = v.details.get("remote")
    if remote:
        rows += [("audit log", f"<code>{_e(remote.get('audit_log'))}</code>, {_e(remote.get('audit_log_entries'))} entries"),
                 ("audit log SHA-256", f"<code>{_e(remote.get('audit_log_sha256'))}</code>"),
                 ("last entry SHA-256", f"<code>{_e(remote.get('audit_log_last_entry_sha256', '–'))}</code>")]
    table = "".join(f"<tr><th>{k}</th><td>{val}</td></tr>" for k, val in rows)
    s = v.details.get("score")
    if s:
        figure = (f'<img class="plot" alt="{_e(s["name"])}" src="{score_plot(s, f"{v.method}: the suspect against the kit")}">'
                  f'<p class="note">{len(s["independent"])} independent reference model(s), {len(s["stolen_like"])} '
                  "stolen-like model(s) of the kit; the red line is the suspect.</p>")
    else:
        figure = ('<p class="note">This kit holds no per-model reference scores for this test; the p-value above is '
                  "the test's own.</p>")
    return f'<div class="panel"><h2>{_e(v.method)}</h2><table>{table}</table>{figure}</div>'


def render(result) -> str:
    """The report page of ``result`` (a Verdict or a CombinedVerdict) as one HTML string."""
    from . import __version__

    verdicts = getattr(result, "verdicts", None)
    parts = []
    if verdicts is None:  # one kit
        word = "STOLEN" if result.stolen else "not shown stolen"
        head = (f'<p><span class="verdict {"stolen" if result.stolen else "clear"}">{word}</span></p>'
                f"<p>One kit ({_e(result.method)}), p = {_e(_p(result.p_value))}, {result.queries} queries.</p>")
        parts.append(_panel(result))
    else:
        word = "STOLEN" if result.stolen else "not shown stolen"
        head = (f'<p><span class="verdict {"stolen" if result.stolen else "clear"}">{word}</span></p>'
                f"<p>Combined over {len(result.kits)} kit(s) at family-wise level alpha {result.alpha:g}: "
                f"p = {_e(_p(result.p_value))} (the smallest Holm-adjusted p-value), {result.queries} queries in all.</p>"
                f'<p class="note">Bound: {_e(result.bound)}.</p>')
        if result.mixed:
            head += f'<p class="note">Kits of different protected models, combined because: {_e(result.mixed)}</p>'
        for s in result.skipped:
            head += (f'<p class="note">Skipped {_e(s["method"])} kit <code>{_e(s["kit_id"])}</code>: '
                     f"{_e(s['reason'])}</p>")
        parts += [_panel(v, k) for v, k in zip(result.verdicts, result.kits)]
    suspect = getattr(result, "suspect", None)
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>stealguard evidence report</title><style>{STYLE}</style></head><body>"
            f"<h1>Ownership verification: evidence report</h1>"
            f'<p class="note">Suspect <code>{_e(suspect or "–")}</code>. Written by stealguard {_e(__version__)} on '
            f"{when}. Every figure below is in the verdict JSON as well; the SHA-256 values tie it to the exact kit, "
            "suspect and audit log.</p>"
            f"<h2>Verdict</h2>{head}{''.join(parts)}</body></html>\n")


def write_report(result, path: str | Path) -> Path:
    """Write the report page of ``result`` to ``path`` and return it."""
    path = Path(path)
    path.write_text(render(result), encoding="utf-8")
    return path
