"""The similarity report an instructor reads: ``similarity.csv`` (every pair, ranked) and
``similarity.html`` (the pairs at or above the thresholds, side by side, with the shared lines
marked). ``similarity.py`` finds the pairs."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path


def write_report(
    pairs: list,
    students: dict[str, dict[str, list[str]]],
    output: Path,
    thresholds: dict[str, float],
    assignment: str,
) -> tuple[Path, Path]:
    output.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ("rank", "kind", "student_a", "student_b", "score", "shared_fingerprints")
        + ("fraction_of_a", "fraction_of_b", "at_or_above_threshold")
    )
    for rank, p in enumerate(pairs, start=1):
        writer.writerow(
            (rank, p.kind, p.a, p.b, p.score, p.shared, p.a_fraction, p.b_fraction)
            + (int(p.score >= thresholds[p.kind]),)
        )
    csv_path = output / "similarity.csv"
    csv_path.write_text(buffer.getvalue(), encoding="utf-8")
    html_path = output / "similarity.html"
    html_path.write_text(_page(pairs, students, thresholds, assignment), encoding="utf-8")
    return csv_path, html_path


def _side(cells: list[str], marked: frozenset[tuple[int, int]]) -> str:
    parts = []
    for number, source in enumerate(c for c in cells if c.strip()):
        rows = [
            f"<mark>{html.escape(line)}</mark>" if (number, row) in marked else html.escape(line)
            for row, line in enumerate(source.split("\n"))
        ]
        parts.append("<pre>" + "\n".join(rows) + "</pre>")
    return "".join(parts)


def _page(pairs, students, thresholds, assignment) -> str:
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Similarity: {html.escape(assignment)}</title><style>",
        "body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse}",
        "td,th{border:1px solid #ccc;padding:.2em .5em;vertical-align:top}",
        "pre{margin:.3em 0;font-size:.85em;white-space:pre-wrap} mark{background:#ffd27a}",
        ".pair td{width:50%}</style></head><body>",
        f"<h1>Similarity of the answers: {html.escape(assignment)}</h1>",
        f"<p>Pairs scoring at least the instructor's threshold (code <b>{thresholds['code']}</b>, "
        f"written answers <b>{thresholds['markdown']}</b>). A score is the "
        "mean fraction of each answer's fingerprints found in the other, after removing the "
        "statement, starter code, reference solutions, chapter code and cnnkit. It is a lead for a "
        "person to read, not evidence and not a grade: no score was changed. All pairs are in "
        "similarity.csv.</p>",
    ]
    for kind, title in (("code", "Code"), ("markdown", "Written answers")):
        chosen = [p for p in pairs if p.kind == kind and p.score >= thresholds[kind]]
        out.append(f"<h2>{title}: {len(chosen)} pair(s)</h2>")
        for p in chosen:
            a, b = (html.escape(x) for x in (p.a, p.b))
            out.append(
                f"<h3>{a} and {b}: {p.score:.2f}</h3><p>{p.shared} shared fingerprints: "
                f"{p.a_fraction:.0%} of {a}'s, {p.b_fraction:.0%} of {b}'s.</p>"
                f"<table class='pair'><tr><th>{a}</th><th>{b}</th></tr><tr>"
                f"<td>{_side(students[p.a].get(kind, []), p.a_lines)}</td>"
                f"<td>{_side(students[p.b].get(kind, []), p.b_lines)}</td></tr></table>"
            )
    out.append("</body></html>")
    return "\n".join(out)
