"""Eval reports: JSON and Markdown per run, a history chart over runs, and what changed since the last run.

Files under the reports folder (`evals/reports/` by default, git-ignored: reports describe one
machine's corpus and index, and a clone starts its own history):

- `<UTC timestamp>.json`: everything the run measured, per question and overall;
- `<UTC timestamp>.md`: the same for a reader;
- `history.html`: a self-contained page with an SVG chart of the main metrics over all runs.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assistant.evaluation.scoring import ERROR, FAIL, PASS

# The metrics charted over runs and listed first in the summary table.
MAIN_METRICS = (
    "correctness",
    "faithfulness",
    "citation_recall",
    "citation_precision",
    "hit_at_k",
    "mrr",
    "abstention_recall",
    "abstention_precision",
    "false_premise_corrected",
)
COUNTS = ("questions", "passed", "failed", "errors", "source_missing", "non_verbatim_citations")
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
_CHANGE_ORDER = ("newly failing", "status changed", "answer changed", "newly passing", "new question", "removed")


def fmt(name: str, value: object) -> str:
    """A metric value for people: "—" when missing, ms for latencies, counts as integers, else 3 decimals."""
    if value is None:
        return "—"
    if name.endswith("_ms") and isinstance(value, int | float):
        return f"{value:.0f} ms"
    if name in COUNTS and isinstance(value, int | float):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _bound(name: str, thresholds: Mapping[str, Mapping[str, float]]) -> str:
    if name in thresholds.get("minimum", {}):
        return f">= {thresholds['minimum'][name]:g}"
    if name in thresholds.get("maximum", {}):
        return f"<= {thresholds['maximum'][name]:g}"
    return ""


def summary_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, value, bound, verdict) rows: main metrics first, then latencies and counts."""
    summary: dict[str, Any] = report["summary"]
    thresholds: dict[str, dict[str, float]] = report.get("thresholds", {})
    breached = {line.split(" ", 1)[0] for line in report.get("breaches", [])}
    names = [*MAIN_METRICS, *(n for n in summary if n not in MAIN_METRICS)]
    rows = []
    for name in names:
        bound = _bound(name, thresholds)
        if summary.get(name) is None:
            verdict = "no data"
        elif bound:
            verdict = "BELOW" if name in breached and bound.startswith(">") else "ABOVE" if name in breached else "ok"
        else:
            verdict = ""
        rows.append((name, fmt(name, summary.get(name)), bound, verdict))
    return rows


def summary_table(report: Mapping[str, Any]) -> str:
    """The summary as an aligned plain-text table for the terminal."""
    rows = [("metric", "value", "threshold", ""), *summary_rows(report)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def changes(previous: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Questions whose result differs from the previous run, newly failing first.

    A result changed when its status changed or, with the same status, its answer text or its
    cited sources changed (a corpus update that changes an answer shows up here).
    """

    def key(row: Mapping[str, Any]) -> str:
        return f"{row['golden']}/{row['id']}"

    before = {key(r): r for r in previous}
    after = {key(r): r for r in current}
    found: list[dict[str, str]] = []
    for name, row in after.items():
        old = before.get(name)
        if old is None:
            found.append({"question": name, "change": "new question", "before": "", "after": row["status"]})
            continue
        was, now = old["status"], row["status"]
        if was == PASS and now in {FAIL, ERROR}:
            change = "newly failing"
        elif was in {FAIL, ERROR} and now == PASS:
            change = "newly passing"
        elif was != now:
            change = "status changed"
        elif old["answer"] != row["answer"] or old["cited_sources"] != row["cited_sources"]:
            change = "answer changed"
        else:
            continue
        found.append({"question": name, "change": change, "before": was, "after": now, "answer": row["answer"]})
    found += [
        {"question": name, "change": "removed", "before": old["status"], "after": ""}
        for name, old in before.items()
        if name not in after
    ]
    return sorted(found, key=lambda c: (_CHANGE_ORDER.index(c["change"]), c["question"]))


def previous_report(folder: Path, before: str) -> dict[str, Any] | None:
    """The latest report in `folder` whose file name sorts before `before`, if any."""
    earlier = sorted(p for p in folder.glob("*.json") if p.stem < before)
    for path in reversed(earlier):
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a half-written or foreign file is not a report
        if "results" in data and "summary" in data:
            data["file"] = path.name
            return data
    return None


def _validity_lines(report: Mapping[str, Any]) -> list[str]:
    validity = report.get("judge_validity")
    if not validity:
        return ["- judge validity: not measured (run `assistant eval --validate-judges`)"]
    lines = [
        f"- judge validity (balanced accuracy against human labels, 0.5 = chance; {validity.get('measured', '?')}); "
        "read judge-based scores as a screen and check the statements listed below:"
    ]
    for dataset, row in validity.get("datasets", {}).items():
        lines.append(f"  - {dataset}: {fmt('', row.get('balanced_accuracy'))} (n = {row.get('n')}; {row.get('task')})")
    return lines


def _names(sources: Sequence[str]) -> str:
    return ", ".join(sources) if sources else "none"


def _cell(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown(report: Mapping[str, Any]) -> str:
    """The report for a reader."""
    judge = report["judge"]
    ingest = report["ingest"]
    lines = [
        f"# Eval report {report['created']}",
        "",
        f"- index fingerprint: `{report['index_fingerprint']}`; {report['corpus']['documents']} documents",
        f"- corpus update before this run: added {_names(ingest['added'])}; changed {_names(ingest['updated'])}; "
        f"removed {_names(ingest['removed'])}",
        f"- judge: `{judge.get('name')}` ({', '.join(f'{k}={v}' for k, v in judge.items() if k != 'name')})",
        *_validity_lines(report),
        f"- golden sets: {', '.join(report['golden'])}; retrieval depth k = {report['k']}",
        f"- run time: {report['seconds']:.1f} s",
        "",
        "## Summary",
        "",
        "| metric | value | threshold | |",
        "|---|---|---|---|",
        *(f"| {n} | {v} | {b} | {s} |" for n, v, b, s in summary_rows(report)),
        "",
    ]
    if report["breaches"]:
        lines += ["## Out of bounds", "", *(f"- {b}" for b in report["breaches"]), ""]
    previous = report.get("previous") or "no previous report"
    lines += [f"## Changed since {previous}", ""]
    if report["changes"]:
        lines += ["| question | change | before | after |", "|---|---|---|---|"]
        lines += [f"| {c['question']} | {c['change']} | {c['before']} | {c['after']} |" for c in report["changes"]]
    else:
        lines.append("Nothing changed." if report.get("previous") else "First run: nothing to compare with.")
    results = report["results"]
    attention = [r for r in results if r["status"] != PASS]
    lines += ["", "## Not passing", ""]
    for r in attention:
        gone = f"expected source gone: {', '.join(r['missing_sources'])}" if r["missing_sources"] else ""
        detail = r["error"] or gone
        lines.append(f"- **{r['golden']}/{r['id']}** ({r['kind']}, {r['status']}): {_cell(detail or r['answer'], 300)}")
    if not attention:
        lines.append("Every question passed.")
    flagged = [(r, s, "unsupported") for r in results for s in r["unsupported"]]
    flagged += [(r, s, "contradicted") for r in results for s in r["contradicted"]]
    lines += ["", "## Statements the judge did not find supported by their citations", ""]
    lines += [f"- {r['id']} ({verdict}): {_cell(s, 300)}" for r, s, verdict in flagged] or ["None."]
    lines += [
        "",
        "## All questions",
        "",
        "| question | kind | status | faithfulness | cit. recall | cit. precision | hit@k | RR | ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = [fmt("", r[m]) for m in ("faithfulness", "citation_recall", "citation_precision", "hit")]
        cells += [fmt("", r["reciprocal_rank"]), fmt("", r["latency_ms"] and round(r["latency_ms"]))]
        lines.append(f"| {r['golden']}/{r['id']} | {r['kind']} | {r['status']} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def history_html(reports: Sequence[Mapping[str, Any]]) -> str:
    """A self-contained HTML page charting the main metrics over `reports` (oldest first) as SVG."""
    width, height, left, top, bottom = 860, 320, 50, 20, 40
    plot_w, plot_h = width - left - 190, height - top - bottom
    count = len(reports)

    def x(i: int) -> float:
        return left + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h * (1 - value)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick)}" y2="{y(tick)}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 8}" y="{y(tick) + 4}" text-anchor="end">{tick:.2f}</text>')
    for i in range(count):
        parts.append(f'<text x="{x(i)}" y="{height - 20}" text-anchor="middle">{i + 1}</text>')
    for n, name in enumerate(MAIN_METRICS):
        colour = _COLOURS[n % len(_COLOURS)]
        points = [(x(i), y(r["summary"][name])) for i, r in enumerate(reports) if r["summary"].get(name) is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in points]
        ly = top + 16 * n
        parts.append(f'<rect x="{left + plot_w + 20}" y="{ly}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{left + plot_w + 36}" y="{ly + 9}">{name}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 5}" text-anchor="middle">run</text></svg>')
    header = "".join(f"<th>{html.escape(n)}</th>" for n in ("run", "report", "fingerprint", "judge", *MAIN_METRICS))
    rows = []
    for i, r in enumerate(reports):
        cells = [str(i + 1), r["created"], r["index_fingerprint"], str(r["judge"].get("name"))]
        cells += [fmt(n, r["summary"].get(n)) for n in MAIN_METRICS]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Eval history</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:3px 6px}</style></head><body><h1>Eval history</h1>"
        f"{''.join(parts)}<table><tr>{header}</tr>{''.join(rows)}</table></body></html>\n"
    )


def write_reports(folder: Path, stem: str, report: Mapping[str, Any]) -> tuple[Path, Path, Path]:
    """Write `<stem>.json`, `<stem>.md` and the refreshed `history.html`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / f"{stem}.json", folder / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(markdown(report))
    history = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and "summary" in data and "created" in data:
            history.append(data)
    history_path = folder / "history.html"
    history_path.write_text(history_html(history))
    return json_path, md_path, history_path
