"""The course's nbgrader tooling: generate the student versions and grade a batch of submissions.

- ``python -m autograder.generate``: rebuild ``exercises/`` from ``solutions/`` (nbgrader).
- ``python -m autograder.grade SUBMISSIONS --assignment NAME --output OUT``: grade an LMS download,
  each notebook in a sandboxed kernel (see ``grade``, ``assemble``, ``execute``, ``sandbox``,
  ``guard``, ``feedback``).
"""
