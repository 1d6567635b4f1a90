"""The course's nbgrader tooling: generate the student versions and grade a batch of submissions.

- ``python -m autograder.generate``: rebuild ``exercises/`` from ``solutions/``.
- ``python -m autograder.grade SUBMISSIONS --assignment NAME --output OUT``: grade an LMS download.
"""
