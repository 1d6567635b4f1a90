"""The course's nbgrader tooling: generate the student versions and grade a batch of submissions.

- ``python -m autograder.generate``: rebuild ``exercises/`` from ``solutions/`` (nbgrader).
- ``python -m autograder.grade SUBMISSIONS --assignment NAME --output OUT``: grade an LMS download.
  One module per stage, in the order a submission's data flows: ``intake`` → ``assemble`` → ``run``
  (the student's kernel, ``sandbox``) → ``judge`` (the tests, in a process of their own; ``reach``
  checks "write it yourself") → ``report``; ``assignment`` parses the source once, ``events`` holds
  the typed records, ``grade`` drives the batch.
"""
