"""Per-student variants (autograder/variants.py): release with a roster, grading on each one's numbers.

Exercise 1 of 03_memory_budgets (a CNN's budget by hand) is the one with variants: ``FILTERS``,
``IMAGE`` and ``BATCH`` in its set-up cell. The fast tests check the declaration, the draw, the
roster formats, the release and, in this process, that the tests of exercise 1 follow the variant.
``test_batch_of_variants`` grades one real batch (about 2 minutes on 2 cores). Chapter 2's exercise 1 (b)
and chapter 6's exercise 2 (b) are checked the fast way (``test_numbers_exercises_follow_the_variant``);
the chapters' grading proofs grade their default variant, the book's version.
"""

import csv
import re
import subprocess
import sys
import zipfile

import nbformat
import pytest
from grading_proofs import REPO
from grading_proofs import Assignment as Proof

from autograder import release, variants
from autograder.assignment import Assignment

NAME = "03_memory_budgets"
SECRET = "a test secret, not the course's"
EXERCISE_1 = ("parameters", "feature_maps", "prediction", "training")
EXERCISE_1_TESTS = {f"{part}_{kind}" for part in EXERCISE_1 for kind in ("visible", "hidden")}
HIDDEN_1 = {f"{part}_hidden" for part in EXERCISE_1}


@pytest.fixture(scope="module")
def source():
    return nbformat.read(REPO / "solutions" / NAME / f"{NAME}.ipynb", as_version=4)


@pytest.fixture(scope="module")
def spec(source):
    return variants.spec_of(source)


def values_of(student: str, spec, roster=("alice", "bob", "carol", "dave")) -> dict:
    return variants.for_student(spec, NAME, student, set(roster), SECRET.encode()).values


def by_hand(answer: str, values: dict) -> str:
    """An answer with the student's numbers typed in, as someone working by hand writes it."""
    for name, value in values.items():
        answer = re.sub(rf"\b{name}\b", repr(value), answer)
    return answer


WITH_VARIANTS = {  # assignment -> (its parameters, how many statement cells quote them)
    NAME: (("FILTERS", "IMAGE", "BATCH"), 2),
    "07_semantic_segmentation": (("IMAGE_SIZE", "CLASSES"), 1),
    "01_visual_cortex": (("UNITS", "SIDE", "FILTERS", "KERNEL"), 1),  # the hand-graded answer
    "02_convolution_math": (("IMAGE", "FILTERS", "KERNEL", "STRIDE", "POOL"), 1),
    "06_object_detection": (("TRUTH", "DETECTIONS", "SCORES", "THRESHOLD"), 1),
}


@pytest.mark.parametrize("name", WITH_VARIANTS)
def test_the_declaration_gives_back_the_default_version(name):
    """The default variant renders the source's own set-up cell and statement, character for character."""
    source = nbformat.read(REPO / "solutions" / name / f"{name}.ipynb", as_version=4)
    spec = variants.spec_of(source)
    names, statements = WITH_VARIANTS[name]
    assert spec.names == names and set(spec.draws) == set(spec.names)
    released = nbformat.read(REPO / "exercises" / name / f"{name}.ipynb", as_version=4)
    for nb in (source, released):
        templated = [c for c in nb.cells if "variant_text" in c.metadata]
        assert len(templated) == statements
        for cell in templated:
            assert cell.metadata["variant_text"].format(**spec.defaults) == cell.source
        setup = next(
            c
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id") == variants.SETUP_ID
        )
        assert spec.setup_source(spec.defaults) == setup.source


def test_the_draw_is_keyed_by_secret_assignment_and_student(spec):
    secret = SECRET.encode()
    roster = {f"s{i}" for i in range(40)}
    ids = [variants.for_student(spec, NAME, s, roster, secret) for s in sorted(roster)]
    assert ids[0] == variants.for_student(spec, NAME, "s0", roster, secret)  # always the same
    assert len({v.id for v in ids}) == 40 and all(re.fullmatch(r"[0-9a-f]{12}", v.id) for v in ids)
    assert len({repr(v.values) for v in ids}) >= 20  # students rarely share all their numbers
    other = variants.for_student(spec, NAME, "s0", roster, b"another secret")
    assert other.id != ids[0].id
    assert variants.for_student(spec, "02_convolution_math", "s0", roster, secret).id != ids[0].id
    unknown = variants.for_student(spec, NAME, "mallory", roster, secret)
    assert unknown.id == "default" and unknown.values == spec.defaults and "roster" in unknown.note
    assert variants.for_student(spec, NAME, "s0", None, secret).values == spec.defaults


def test_the_secret_missing_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv(variants.SECRET_ENV, raising=False)
    monkeypatch.delenv(variants.SECRET_FILE_ENV, raising=False)
    with pytest.raises(variants.SecretMissing, match=variants.SECRET_ENV):
        variants.course_secret()
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id\nalice\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("CNNKIT_COURSE")}
    for command in (
        ["autograder.release", "--output", str(tmp_path / "out"), "--roster", str(roster), NAME],
        ["autograder.grade", str(tmp_path), "--assignment", NAME, "--output", str(tmp_path / "g")]
        + ["--roster", str(roster)],
    ):
        run = subprocess.run(
            [sys.executable, "-m", *command], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert run.returncode == 2 and variants.SECRET_ENV in run.stderr, run.stderr
    secret_file = tmp_path / "secret"
    secret_file.write_text("from a file\n")
    monkeypatch.setenv(variants.SECRET_FILE_ENV, str(secret_file))
    assert variants.course_secret() == b"from a file"


def test_rosters_as_lms_export_them(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("student_id,name\nalice,Alice A\nbob,\n")
    assert variants.read_roster(plain) == {"alice": "Alice A", "bob": ""}
    canvas = tmp_path / "canvas.csv"
    canvas.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section\n"
        "    Points Possible,,,,\n"
        '"Doe, John",12345,,,A\n"Doe, John",12399,,,B\n"Lee, Jo",1001,,,A\n'
    )
    assert set(variants.read_roster(canvas)) == {"doejohn_12345", "doejohn_12399", "leejo"}
    moodle = tmp_path / "moodle.csv"
    moodle.write_text("First name,Last name,ID number,Email address\nJané,Doe,,j@x\n")
    assert set(variants.read_roster(moodle)) == {"jane_doe"}
    empty = tmp_path / "empty.csv"
    empty.write_text("who\nalice\n")
    with pytest.raises(ValueError, match="student_id"):
        variants.read_roster(empty)


def test_release_with_a_roster_fills_in_each_students_numbers(tmp_path, spec):
    roster = {"alice": "", "bob": ""}
    target = release.release_per_student(NAME, tmp_path, roster, SECRET.encode())
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == [f"{NAME}/alice.ipynb", f"{NAME}/bob.ipynb"]
    for student in roster:
        values = values_of(student, spec, roster)
        nb = nbformat.read(tmp_path / NAME / f"{student}.ipynb", as_version=4)
        nbformat.validate(nb)
        text = "\n".join(c.source for c in nb.cells)
        setup = next(
            c
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id") == variants.SETUP_ID
        )
        assert f"FILTERS = {values['FILTERS']!r}" in setup.source
        assert f"BATCH = {values['BATCH']!r}" in setup.source
        assert f"output {values['FILTERS'][0]}, {values['FILTERS'][1]} and " in text
        assert f"images of {values['IMAGE'][0]} × {values['IMAGE'][1]} pixels" in text
        assert f"mini-batch of {values['BATCH']} images" in text
        assert not re.search(r"\{(FILTERS|IMAGE|BATCH)", text)  # no placeholder left
        assert not any("variant" in c.metadata or "variant_text" in c.metadata for c in nb.cells)
        assert variants.released_to(nb) == student
        assert "raise NotImplementedError()" in text  # still the student version


def run_exercise_1(values: dict, answers: dict[str, str]) -> dict[str, bool]:
    """Exercise 1's test cells (hidden parts included), run here as the judge runs them."""
    assignment = Assignment.load(NAME)
    namespace: dict = {}
    for cell in assignment.cells:
        if cell.role == "judge" or (
            cell.role == "plain" and cell.cell_type == "code" and "MB =" in cell.source
        ):
            exec(cell.source, namespace)  # noqa: S102 - the course's own cells
    exec(
        variants.spec_of(nbformat.read(assignment.source_path, as_version=4)).setup_source(values),
        namespace,
    )  # noqa: S102
    passed = {}
    for cell in assignment.cells:
        if cell.role == "answer" and cell.grade_id in EXERCISE_1:
            exec(answers[cell.grade_id], namespace)  # noqa: S102
        elif cell.role == "test" and cell.grade_id in EXERCISE_1_TESTS:
            try:
                exec(cell.source, dict(namespace))  # noqa: S102
                passed[cell.grade_id] = True
            except AssertionError:
                passed[cell.grade_id] = False
    return passed


def test_fcn8s_fusion_shapes_follow_the_variant():
    """Chapter 7, exercise 4 (a): each student's shapes pass their own tests and fail another's."""
    name = "07_semantic_segmentation"
    assignment = Assignment.load(name)
    spec = variants.spec_of(nbformat.read(assignment.source_path, as_version=4))
    tests = [
        c.source
        for c in assignment.cells
        if c.grade_id in ("fusion_shapes_visible", "fusion_shapes_hidden")
    ]
    reference = Proof(name).reference["fusion_shapes"]
    roster = {f"s{i}" for i in range(12)}
    drawn = [
        variants.for_student(spec, name, s, roster, SECRET.encode()).values for s in sorted(roster)
    ]
    assert len({repr(v) for v in drawn}) >= 8

    def passes(values, answer):
        namespace = {}
        exec(spec.setup_source(values) + "\n" + answer, namespace)  # noqa: S102
        for test in tests:
            try:
                exec(test, dict(namespace))  # noqa: S102
            except AssertionError:
                return False
        return True

    for values in [spec.defaults, *drawn]:
        honest = by_hand(reference, values)
        assert passes(values, honest) and passes(values, reference)
        assert str(values["CLASSES"]) in honest and "CLASSES" not in honest
    a, b = next((x, y) for x in drawn for y in drawn if x != y)
    assert not passes(b, by_hand(reference, a))


NUMBERS = {  # assignment -> (the answer cell with the student's numbers, its test cells)
    "02_convolution_math": (
        "my_layers",
        ("my_layers_visible", "my_layers_shapes_hidden", "my_layers_count_hidden"),
    ),
    "06_object_detection": (
        "my_boxes",
        ("my_boxes_visible", "my_boxes_ious_hidden", "my_boxes_kept_hidden"),
    ),
}


@pytest.mark.parametrize("name", NUMBERS)
def test_numbers_exercises_follow_the_variant(name):
    """Chapter 2's exercise 1 (b) and chapter 6's exercise 2 (b), their tests run here as the judge
    runs them (the judge's copy of the numbers first): three students' honest answers (numbers typed
    in) pass their own tests, the default numbers pass the book's version, and A's answers handed in
    by B fail B's hidden tests, and only the tests of this exercise read the numbers."""
    answer_id, test_ids = NUMBERS[name]
    assignment = Assignment.load(name)
    spec = variants.spec_of(nbformat.read(assignment.source_path, as_version=4))
    tests = {c.grade_id: c.source for c in assignment.cells if c.grade_id in test_ids}
    assert set(tests) == set(test_ids)
    others = [c for c in assignment.cells if c.role == "test" and c.grade_id not in test_ids]
    assert not any(re.search(rf"\b{n}\b", c.source) for c in others for n in spec.names)
    reference = Proof(name).reference[answer_id]

    def failed(values, answer):
        namespace = {"np": __import__("numpy")}
        exec(spec.setup_source(values), namespace)  # noqa: S102 - the course's own cells
        exec(answer, namespace)  # noqa: S102
        exec(spec.setup_source(values), namespace)  # the judge's copy, whatever the answer did
        lost = set()
        for grade_id, source in tests.items():
            try:
                exec(source, dict(namespace))  # noqa: S102
            except AssertionError:
                lost.add(grade_id)
        return lost

    roster = tuple(f"s{i}" for i in range(12))
    drawn = {
        s: variants.for_student(spec, name, s, set(roster), SECRET.encode()).values for s in roster
    }
    assert len({repr(v) for v in drawn.values()}) >= 10
    for values in [spec.defaults, *drawn.values()]:
        honest = by_hand(reference, values)
        assert not any(re.search(rf"\b{n}\b", honest) for n in spec.names), honest
        assert failed(values, honest) == set() and failed(values, reference) == set()
    hidden = {gid for gid in test_ids if gid.endswith("_hidden")}
    a = roster[0]
    b = next(s for s in roster[1:] if all(drawn[s][n] != drawn[a][n] for n in spec.names))
    copied = failed(drawn[b], by_hand(reference, drawn[a]))
    assert copied and copied <= set(test_ids) and hidden & copied, copied


def pair(spec):
    """Two students of the roster whose numbers all differ (A, B), and a third."""
    roster = ("alice", "bob", "carol", "dave", "erin", "frank")
    values = {s: values_of(s, spec, roster) for s in roster}
    a = "alice"
    b = next(s for s in roster[1:] if all(values[s][n] != values[a][n] for n in spec.names))
    c = next(s for s in roster[1:] if s != b)
    return roster, values, a, b, c


def test_exercise_1_follows_the_variant(spec):
    """Honest answers pass for their own numbers; A's answers fail B's hidden tests."""
    proof = Proof(NAME)
    roster, values, a, b, _ = pair(spec)
    reference = {gid: proof.reference[gid] for gid in EXERCISE_1}
    for student in (a, b):
        honest = {gid: by_hand(text, values[student]) for gid, text in reference.items()}
        assert all(run_exercise_1(values[student], honest).values())
        assert all(run_exercise_1(values[student], reference).values())  # names work for everyone
    copied = {gid: by_hand(text, values[a]) for gid, text in reference.items()}
    failed = {gid for gid, ok in run_exercise_1(values[b], copied).items() if not ok}
    assert HIDDEN_1 <= failed <= EXERCISE_1_TESTS


@pytest.mark.slow
def test_batch_of_variants(tmp_path, spec, monkeypatch):
    """One batch, graded with the roster: 3 honest students full, B handing in A's notebook loses
    exactly the cells its numbers fail, an unknown student graded on the default variant (the
    book's version) with a note; the variant id is the CSV's last column; and the similarity report
    is written beside it."""
    proof = Proof(NAME)
    roster, values, a, b, c = pair(spec)
    submitted = tmp_path / "submissions"
    submitted.mkdir()

    def honest(student_values):
        return {gid: by_hand(proof.reference[gid], student_values) for gid in EXERCISE_1}

    notebooks = {s: proof.filled(honest(values[s])) for s in (a, b, c)}
    released = nbformat.reads(notebooks[a], as_version=4)
    released.metadata[variants.RELEASED_KEY] = {"assignment": NAME, "released_to": a}
    notebooks[a] = notebooks[b] = nbformat.writes(released)  # B hands in A's notebook...
    values[f"{b}2"] = values_of(f"{b}2", spec, [*roster, f"{b}2"])
    notebooks[f"{b}2"] = proof.filled(honest(values[f"{b}2"]))  # a third honest student
    notebooks["zed"] = proof.filled(honest(spec.defaults))  # not in the roster: the default
    nb = nbformat.reads(notebooks[c], as_version=4)
    setup = next(
        x for x in nb.cells if x.metadata.get("nbgrader", {}).get("grade_id") == variants.SETUP_ID
    )
    setup.source = spec.setup_source(values[a])  # C types A's numbers into the set-up cell: ignored
    notebooks[c] = nbformat.writes(nb)
    for student, text in notebooks.items():
        (submitted / f"{student}_{NAME}.ipynb").write_text(text, encoding="utf-8")
    output = tmp_path / "graded"
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text("student_id\n" + "\n".join([*roster, f"{b}2"]) + "\n")
    monkeypatch.setenv(variants.SECRET_ENV, SECRET)
    command = [sys.executable, "-m", "autograder.grade", str(submitted), "--assignment", NAME]
    command += ["--output", str(output), "--workers", "2", "--roster", str(roster_file)]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    with (output / "grades.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames[-1] == "variant"
        rows = {row["student_id"]: row for row in reader}
    assert set(rows) == {a, b, c, f"{b}2", "zed"}
    full = rows[a]["max_autograded"]
    for student in (a, c, f"{b}2", "zed"):
        assert rows[student]["status"] == "graded" and rows[student]["total_autograded"] == full, (
            rows[student]
        )
    expected_lost = {
        gid
        for gid, ok in run_exercise_1(
            values[b], {g: by_hand(proof.reference[g], values[a]) for g in EXERCISE_1}
        ).items()
        if not ok
    }
    lost = {gid for gid in Assignment.load(NAME).autograded if float(rows[b][gid]) == 0}
    assert lost == expected_lost and HIDDEN_1 <= lost, (lost, expected_lost)
    assert rows["zed"]["variant"] == "default" and "not in the roster" in rows["zed"]["notes"]
    assert f"released to {a}" in rows[b]["notes"] and "released to" not in rows[a]["notes"]
    assert rows[a]["variant"] != rows[b]["variant"] and re.fullmatch(
        r"[0-9a-f]{12}", rows[a]["variant"]
    )
    similar = list(csv.DictReader((output / "similarity.csv").open()))
    top = [r for r in similar if r["kind"] == "code"][0]
    assert {top["student_a"], top["student_b"]} == {a, b}  # the copy heads the report


@pytest.mark.parametrize("target", ["grade", "release"])
def test_make_passes_the_roster_on(target):
    """`make grade ROSTER=` and `make release ROSTER=` hand the roster to the grader and the release;
    without ROSTER neither command line names one."""
    make = ["make", "-n", target, "ASSIGNMENT=03_memory_budgets", "SUBMISSIONS=subs"]

    def command_line(*extra):
        run = subprocess.run([*make, *extra], cwd=REPO, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        module = f"autograder.{target}"
        return next(line for line in run.stdout.splitlines() if module in line)

    with_roster = command_line("ROSTER=my roster.csv")
    assert "--roster" in with_roster and "my roster.csv" in with_roster, with_roster
    assert "--roster" not in command_line()
