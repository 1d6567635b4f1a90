"""Which students' answers are suspiciously alike: a report for a person, never a score.

    python -m autograder.similarity OUT_DIR --assignment NAME [--submissions DIR]
        [--similarity-code 0.5] [--similarity-text 0.3]

(``autograder.grade`` writes it after every batch.) Each student's answers are split in two
channels, compared separately: the **code** of the notebook (answer cells and any cell the student
added) and the **markdown answers**. Each channel is reduced to fingerprints by winnowing (Schleimer,
Wilkerson and Aiken, SIGMOD 2003, the method of MOSS):

- code is read with Python's own tokenizer; comments, docstrings and layout are dropped, strings become
  ``S`` and every name the student chose (what the code assigns, defines, imports or takes as an
  argument, ``self.`` attributes included) becomes ``V``, while the names libraries chose
  (``.cumprod``, ``len``) stay: renaming changes nothing, and using the same library is no match;
  text is lower-cased words;
- every run of ``K`` tokens is hashed and, in each window of ``W`` hashes, the smallest is kept: two
  answers that share a passage of ``K + W - 1`` tokens are sure to share a fingerprint, whatever order
  the passages are in;
- fingerprints of the boilerplate are removed first: the assignment's statement, starter code and
  reference solutions, the chapter's code and ``cnnkit``'s source. What everyone was given is not
  evidence.

A pair's score is the mean of the two fractions of each one's fingerprints found in the other (1: the
same answers). ``OUT_DIR/similarity.csv`` lists every pair sharing at least one fingerprint, ranked;
``OUT_DIR/similarity.html`` shows the pairs at or above the instructor's thresholds (one for code,
one for written answers, where a shared five-word run is already rare) with their matching lines
highlighted side by side. Scores in ``grades.csv`` are never touched.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import io
import keyword
import re
import sys
import tokenize
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from autograder.similarity_page import write_report

CODE_K, CODE_W = 12, 4  # tokens per k-gram, hashes per winnowing window
TEXT_K, TEXT_W = 5, 3
THRESHOLDS = {"code": 0.5, "markdown": 0.3}  # the defaults; the instructor chooses
MIN_FINGERPRINTS = 4  # a channel with fewer (after boilerplate) is too small to judge
KEPT_NAMES = frozenset(dir(builtins)) | {"self", "cls"}
PLACEHOLDERS = ("YOUR ANSWER HERE", "raise NotImplementedError()")


@dataclass(frozen=True)
class Token:
    text: str  # normalised
    cell: int  # index in the channel's list of cells
    line: int  # 0-based line in that cell


@dataclass
class Channel:
    cells: list[str]
    tokens: list[Token]
    prints: dict[int, int] = field(default_factory=dict)  # fingerprint -> index of its first token


@dataclass(frozen=True)
class Pair:
    kind: str  # "code" or "markdown"
    a: str
    b: str
    score: float
    shared: int
    a_fraction: float
    b_fraction: float
    a_lines: frozenset[tuple[int, int]] = frozenset()  # (cell, line) matched
    b_lines: frozenset[tuple[int, int]] = frozenset()


# --- tokens ---------------------------------------------------------------------------------------


def bound_names(sources: list[str]) -> set[str]:
    """Names the code chooses: what it assigns (attributes too), defines, imports or takes."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, ast.ExceptHandler) and node.name:
                names.add(node.name)
    return names


def code_tokens(cells: list[str]) -> list[Token]:
    """Normalised tokens of Python cells (a cell Python cannot tokenize falls back to a regex)."""
    out: list[Token] = []
    cleaned = [
        "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.split("\n"))
        for source in cells
    ]
    chosen = bound_names(cleaned)
    for number, source in enumerate(cleaned):
        lines = source.split("\n")
        try:
            out += _python_tokens(source + "\n", number, chosen)
        except (tokenize.TokenError, SyntaxError):
            for row, line in enumerate(lines):
                line = line.split("#")[0]
                for word in re.findall(r"[A-Za-z_]\w*|\d+(?:\.\d*)?|\S", line):
                    name = word[0].isalpha() or word[0] == "_"
                    kept = keyword.iskeyword(word) or word in KEPT_NAMES
                    out.append(Token("V" if name and not kept else word, number, row))
    return out


def _python_tokens(source: str, number: int, chosen: set[str]) -> list[Token]:
    raw = [
        t
        for t in tokenize.generate_tokens(io.StringIO(source).readline)
        if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER)
    ]
    out, skip = [], False
    for i, tok in enumerate(raw):
        before = raw[i - 1] if i else None
        after = raw[i + 1] if i + 1 < len(raw) else None
        if tok.type in (tokenize.INDENT, tokenize.DEDENT) or skip:
            skip = False
            continue
        if tok.type == tokenize.STRING:
            statement_start = before is None or before.type in (
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
            )
            if statement_start and (after is None or after.type == tokenize.NEWLINE):
                skip = True  # a docstring or a bare string (and its line end): free as a comment
                continue
            text = "S"
        elif tok.type == tokenize.NEWLINE:
            text = ";"
        elif tok.type == tokenize.NAME:
            # the student's own names become V; keywords and what libraries call things stay
            free = tok.string in chosen and tok.string not in KEPT_NAMES
            text = "V" if free and not keyword.iskeyword(tok.string) else tok.string
        else:
            text = tok.string
        out.append(Token(text, number, tok.start[0] - 1))
    return out


def text_tokens(cells: list[str]) -> list[Token]:
    return [
        Token(word, number, row)
        for number, source in enumerate(cells)
        for row, line in enumerate(source.lower().split("\n"))
        for word in re.findall(r"[a-z0-9]+", line)
    ]


# --- fingerprints ---------------------------------------------------------------------------------


def fingerprints(tokens: list[Token], k: int, w: int) -> dict[int, int]:
    """Winnowed hashes of the ``k``-grams of ``tokens``: hash -> index of the k-gram's first token."""
    texts = [t.text for t in tokens]
    hashes = [zlib.crc32("\x1f".join(texts[i : i + k]).encode()) for i in range(len(texts) - k + 1)]
    chosen: dict[int, int] = {}
    if len(hashes) <= w:
        for i, h in enumerate(hashes):
            chosen.setdefault(h, i)
        return chosen
    for start in range(len(hashes) - w + 1):
        window = hashes[start : start + w]
        low = min(window)
        position = start + max(i for i, h in enumerate(window) if h == low)  # rightmost minimum
        chosen.setdefault(low, position)
    return chosen


def channel(cells: list[str], kind: str, boilerplate: set[int]) -> Channel:
    cells = [c for c in cells if c.strip()]
    tokens = code_tokens(cells) if kind == "code" else text_tokens(cells)
    k, w = (CODE_K, CODE_W) if kind == "code" else (TEXT_K, TEXT_W)
    prints = {h: i for h, i in fingerprints(tokens, k, w).items() if h not in boilerplate}
    return Channel(cells, tokens, prints)


def boilerplate_prints(code: list[str], text: list[str]) -> dict[str, set[int]]:
    """Every k-gram (not only the winnowed ones) of what everyone was given."""
    return {
        "code": set(fingerprints(code_tokens(code), CODE_K, 1)),
        "markdown": set(fingerprints(text_tokens(text), TEXT_K, 1)),
    }


# --- comparing ------------------------------------------------------------------------------------


def compare(
    students: dict[str, dict[str, list[str]]], boilerplate: dict[str, set[int]]
) -> list[Pair]:
    """Every pair of students sharing a fingerprint, per channel, highest score first.

    ``students``: id -> {"code": [cell sources], "markdown": [cell sources]}.
    """
    pairs = []
    for kind in ("code", "markdown"):
        k = CODE_K if kind == "code" else TEXT_K
        chans = {
            sid: channel(parts.get(kind, []), kind, boilerplate.get(kind, set()))
            for sid, parts in students.items()
        }
        chans = {sid: c for sid, c in chans.items() if len(c.prints) >= MIN_FINGERPRINTS}
        holders: dict[int, list[str]] = defaultdict(list)
        for sid, chan in chans.items():
            for h in chan.prints:
                holders[h].append(sid)
        shared: dict[tuple[str, str], list[int]] = defaultdict(list)
        for h, ids in holders.items():
            if len(ids) > max(3, len(chans) // 2):
                continue  # half the class writes it: common idiom, not evidence
            ids = sorted(ids)
            for i, a in enumerate(ids):
                for b in ids[i + 1 :]:
                    shared[a, b].append(h)
        for (a, b), hashes in shared.items():
            ca, cb = chans[a], chans[b]
            fa, fb = len(hashes) / len(ca.prints), len(hashes) / len(cb.prints)
            pairs.append(
                Pair(
                    kind,
                    a,
                    b,
                    round((fa + fb) / 2, 4),
                    len(hashes),
                    round(fa, 4),
                    round(fb, 4),
                    _lines(ca, [ca.prints[h] for h in hashes], k),
                    _lines(cb, [cb.prints[h] for h in hashes], k),
                )
            )
    pairs.sort(key=lambda p: (-p.score, p.kind, p.a, p.b))
    return pairs


def _lines(chan: Channel, starts: list[int], k: int) -> frozenset[tuple[int, int]]:
    return frozenset(
        (t.cell, t.line) for s in starts for t in chan.tokens[s : s + k] if t.text != ";"
    )


# --- from notebooks -------------------------------------------------------------------------------


def answers(nb, given: set[str]) -> dict[str, list[str]]:
    """A student's code cells (except the instructor's tests and judge cells) and markdown answers.

    ``given``: sources of the released cells; a cell left exactly as released is not an answer.
    """
    from autograder.assignment import role_of

    code, text = [], []
    for cell in nb.cells:
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        role = role_of(cell)
        if source.strip() in given or role in ("test", "judge"):
            continue
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "variant_setup":
            continue  # each student's own numbers (autograder.variants), not their work
        for placeholder in PLACEHOLDERS:
            source = source.replace(placeholder, "")
        if cell.get("cell_type") == "code":
            code.append(source)
        elif cell.get("cell_type") == "markdown" and role in ("manual", "answer"):
            text.append(source)
    return {"code": code, "markdown": text}


def assignment_boilerplate(assignment) -> dict[str, set[int]]:
    """The statement, starter code and reference solutions, the chapter's code and cnnkit."""
    import nbformat

    from autograder.assignment import ROOT

    code, text = [], []
    for cell in assignment.cells:
        for source in {cell.source, cell.released}:
            (code if cell.cell_type == "code" else text).append(source)
    chapter = assignment.name.split("_")[0]
    for path in sorted((ROOT / "book").glob(f"{chapter}_*.ipynb")):
        try:
            book = nbformat.read(path, as_version=4)
        except (OSError, ValueError):
            continue
        code += [c.source for c in book.cells if c.cell_type == "code"]
        text += [c.source for c in book.cells if c.cell_type == "markdown"]
    code += [p.read_text("utf-8") for p in sorted((ROOT / "cnnkit").rglob("*.py"))]
    return boilerplate_prints(code, text)


def batch_report(
    output: Path, assignment, notebooks: dict[str, object], thresholds: dict[str, float]
) -> tuple[Path, Path]:
    """Compare the notebooks of a batch (student id -> notebook) and write the report."""
    given = {c.released.strip() for c in assignment.cells}
    students = {sid: answers(nb, given) for sid, nb in notebooks.items() if nb is not None}
    pairs = compare(students, assignment_boilerplate(assignment))
    return write_report(pairs, students, output, thresholds, assignment.name)


def add_threshold_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--similarity-code",
        type=float,
        default=THRESHOLDS["code"],
        metavar="T",
        help=f"code pairs shown in similarity.html from this score (default {THRESHOLDS['code']})",
    )
    parser.add_argument(
        "--similarity-text",
        type=float,
        default=THRESHOLDS["markdown"],
        metavar="T",
        help=f"written answers shown from this score (default {THRESHOLDS['markdown']})",
    )


def main(argv: list[str] | None = None) -> int:
    from autograder import intake
    from autograder.assignment import Assignment

    parser = argparse.ArgumentParser(
        prog="python -m autograder.similarity", description=__doc__.splitlines()[0]
    )
    parser.add_argument("output", type=Path, metavar="OUT_DIR")
    parser.add_argument("--assignment", required=True)
    parser.add_argument(
        "--submissions", type=Path, help="the LMS download (default: OUT_DIR/notebooks as graded)"
    )
    add_threshold_options(parser)
    args = parser.parse_args(argv)
    assignment = Assignment.load(args.assignment)
    notebooks = {}
    if args.submissions:
        found, _ = intake.collect(args.submissions, assignment)
        for s in found:
            if s.notebook:
                notebooks[s.student_id] = intake.read(s.notebook, assignment)[0]
    else:
        for path in sorted((args.output / "notebooks").glob("*.ipynb")):
            notebooks[path.stem] = intake.read(path, assignment)[0]
    thresholds = {"code": args.similarity_code, "markdown": args.similarity_text}
    csv_path, html_path = batch_report(args.output, assignment, notebooks, thresholds)
    print(f"wrote {html_path} and {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
