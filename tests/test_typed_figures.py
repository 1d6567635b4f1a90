"""Every figure a chapter's prose states comes from its code, or is a fact with a source.

A percentage, an accuracy, an mAP or mean IoU, a time or a count of right answers typed into a
chapter's markdown becomes false without a sound on another machine, profile or version of the code.
Such a figure must be quoted from the cell that measured it (``cnnkit.results.record`` glues it,
``{glue:text}`` quotes it), or be listed below as a fact: of the literature (with its source), of
arithmetic (with the sum), or a setting of the code (with where it is set).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(REPO.glob("book/*.ipynb"))

_NUMBER = r"(?<![\w.\-])\d+(?:[.,]\d+)?"
FIGURE = re.compile(
    rf"{_NUMBER}\s*(?:%|\\%|percent\b|percentage points?\b)"  # a percentage
    rf"|{_NUMBER}(?:\s*[–-]\s*\d+)?\s+(?:ms|s|seconds?|min|minutes?|hours?)\b"  # a time: "12 s"
    rf"|{_NUMBER}(?:\s+to\s+\d+)?\s+of\s+the\s+\d+\b"  # a count of right answers: "18 of the 20"
    rf"|{_NUMBER}\s*/\s*\d+\b"  # a score: "18/20"
    r"|\b(?:accuracy|mAP|mIoU|mean IoU|average precision|AP|top-[15] error(?: rate)?)"
    r"(?:\s+(?:of|is|was|reaches|reached|at|around|about|nearly|over|under|below|above|close to))*"
    r"\s*[:=]?\s*\d*\.\d+"  # an accuracy, mAP or mean IoU as a fraction: "accuracy of 0.93"
)
ALLOWED_KINDS = ("literature: ", "arithmetic: ", "setting: ")
# Facts a chapter may type in a sentence: {chapter: {phrase as it reads, whitespace collapsed: "kind: source"}}.
# Several facts of the literature go in a table with a "Source" column instead (see ``sourced_tables``).
FACTS = {
    "07_semantic_segmentation.ipynb": {
        "a mean IoU of about 62 % on its test sets": (
            "literature: Long, Shelhamer and Darrell, Fully Convolutional Networks for Semantic "
            "Segmentation, CVPR 2015, table 3: 62.2 (VOC 2011 test) and 62.7 (VOC 2012 test)"
        ),
    },
}


def table_rows(lines: list[str]) -> list[list[str]]:
    """The cells of a markdown table's rows, the separator row left out."""
    rows = [[part.strip() for part in line.strip().strip("|").split("|")] for line in lines]
    return [row for row in rows if not all(re.fullmatch(r":?-+:?", part) for part in row)]


def sourced_tables(cell_source: str) -> tuple[str, list[str]]:
    """The cell without its tables of facts, and what is wrong with them.

    A table whose header has a "Source" column is a table of facts: every row names its source there.
    Any other table stays in the text, and its figures are checked like the prose's.
    """
    kept, problems, table = [], [], []
    for line in [*cell_source.splitlines(), ""]:
        if line.lstrip().startswith("|"):
            table.append(line)
            continue
        if table:
            rows = table_rows(table)
            header = [part.lower() for part in rows[0]]
            if "source" in header:
                column = header.index("source")
                problems += [
                    f"a row without its source: {' | '.join(row)}"
                    for row in rows[1:]
                    if len(row) <= column or len(row[column]) < 10
                ]
            else:
                kept += table
            table = []
        kept.append(line)
    return "\n".join(kept), problems


def prose(cell_source: str) -> str:
    """A markdown cell's prose: glued figures, math and code taken out, whitespace collapsed."""
    text = re.sub(r"\{glue(?::\w+)?\}`[^`]*`", "GLUED", cell_source)
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$", "MATH", text, flags=re.DOTALL)
    text = re.sub(r"```.*?```|`[^`]*`", "CODE", text, flags=re.DOTALL)
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    return " ".join(text.split())


def typed_figures(text: str, facts: dict[str, str]) -> list[str]:
    """The figures of ``text`` that no phrase of ``facts`` covers, each with some context."""
    for phrase in facts:
        text = text.replace(phrase, "FACT")
    return [text[max(0, m.start() - 40) : m.end() + 20] for m in FIGURE.finditer(text)]


def markdown(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [
        prose(sourced_tables(cell.source)[0]) for cell in nb.cells if cell.cell_type == "markdown"
    ]


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.name for path in CHAPTERS])
def test_no_figure_is_typed_into_the_prose(path):
    facts = FACTS.get(path.name, {})
    typed = [figure for text in markdown(path) for figure in typed_figures(text, facts)]
    assert not typed, (
        f"{path.name} types figures into its prose: glue them from the cell that measures them "
        f"(cnnkit.results.record and {{glue:text}}), or list them in FACTS with a source:\n  "
        + "\n  ".join(typed)
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.name for path in CHAPTERS])
def test_every_row_of_a_table_of_facts_names_its_source(path):
    nb = nbformat.read(path, as_version=4)
    problems = [
        p
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for p in sourced_tables(cell.source)[1]
    ]
    assert not problems, f"{path.name}: " + "; ".join(problems)


def test_a_table_of_facts_needs_a_source_in_every_row_and_other_tables_are_read():
    facts = "| Year | Error | Source |\n|---|---|---|\n| 2012 | 15.3 % | Krizhevsky et al. 2012 |\n| 2013 | 11.7 % | |"
    text, problems = sourced_tables(facts)
    assert "15.3" not in text and len(problems) == 1 and "2013" in problems[0]
    measured = "| Model | Accuracy |\n|---|---|\n| ours | 93.1 % |"
    assert any(
        "93.1 %" in figure for figure in typed_figures(prose(sourced_tables(measured)[0]), {})
    )


@pytest.mark.parametrize("name", sorted(FACTS))
def test_every_fact_is_sourced_and_still_in_its_chapter(name):
    text = " ".join(markdown(REPO / "book" / name))
    for phrase, source in FACTS[name].items():
        assert phrase in text, f"{name} no longer says {phrase!r}: remove it from FACTS"
        assert source.startswith(ALLOWED_KINDS) and len(source) > 20, (
            f"{name}: {phrase!r} needs a kind ({', '.join(ALLOWED_KINDS)}) and a source"
        )


@pytest.mark.parametrize(
    "text",
    [
        "probabilities under 1 %.",
        "it reaches 92.5 percent",
        "one photo is worth 5 percentage points",
        "the head trained in 12 s",
        "about 3 minutes on a CPU",
        "classified 18 to 20 of the 20 test photos",
        "18/20 and 20/20",
        "a validation accuracy of 0.93",
        "an mAP of 0.41",
        "a mean IoU of about 0.62",
    ],
)
def test_the_search_finds_typed_figures(text):
    assert typed_figures(prose(text), {}), text


@pytest.mark.parametrize(
    "text",
    [
        "the mAP {glue:text}`map_keras:.2f` of the detector",
        "an accuracy of {glue:text}`accuracy:.0%`",
        "FCN-8s and FCN-32s",
        "an IoU of at least 0.5",
        "`mAP@0.5` uses an IoU threshold of 0.5",
        "the split `train[:10%]`",
        "$p = 50\\%$",
        "64 of 256 channels",
        "3 × 3 kernels, stride 2",
    ],
)
def test_the_search_leaves_glued_values_code_and_thresholds_alone(text):
    assert not typed_figures(prose(text), {}), text
