# Two commands do everything: `make book` and `make test`. Both create .venv and install the pinned
# stack on first use (a second run skips the install), then seed the libraries' caches with the real
# offline data of ../shared/data when it is there (online machines simply download).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
INSTALL_SECONDS := $(VENV)/.install-seconds
MAKE_START := $(shell date +%s)
WORKERS ?= 2
# Chapters are executed two at a time: most of them keep about one core busy (0.8-1.0 CPU second
# per wall second; chapters 6 and 7 1.35-1.45), so one at a time left a core idle for most of the
# build. Their budgets are in CPU seconds of each kernel's process tree (tests/chapter_budgets.py),
# which a neighbouring chapter does not inflate the way it inflates wall time.
BOOK_WORKERS ?= 2

# Caches inside the repository, so that tests and builds never touch the user's home directory.
export KERAS_HOME ?= $(CURDIR)/.cache/keras
export TFDS_DATA_DIR ?= $(CURDIR)/.cache/tensorflow_datasets
export CNNKIT_DATA_DIR ?= $(CURDIR)/.cache/cnnkit
export TORCH_HOME ?= $(CURDIR)/.cache/torch
export TF_CPP_MIN_LOG_LEVEL ?= 2
# OpenMP threads (PyTorch's) sleep while they wait instead of spinning on a core that another kernel,
# worker or program needs: a training step on a busy machine, benchmarks/thread_wait_policy.py.
export OMP_WAIT_POLICY ?= PASSIVE
# nbgrader runs `alembic` as a subprocess and the notebooks' kernels must be the venv's.
export PATH := $(BIN):$(PATH)

.PHONY: book test check venv exercises release colab-cells grade benchmarks lint clean

# The chapters run $(BOOK_WORKERS) at a time into Jupyter Book's execution cache (only those whose code
# changed), then `jupyter-book build . -W -n --keep-going` builds the pages from it; see
# tests/build_book.py. It fails when a chapter fails or the build warns.
book: $(STAMP)
	python tests/offline_data.py
	python tests/build_book.py --workers $(BOOK_WORKERS)

# The book's build is the suite's one execution of the chapters: its failures are not fatal here
# (`|| true`) because the tests report them, chapter by chapter, from _build/book-report.json,
# and open every page in Chromium (tests/test_browser.py). Each solution notebook runs once: as the
# reference of its chapter's grading proof, or under nbval where no proof grades it (conftest.py).
# A single chapter, for a developer: python -m pytest --nbval-lax --nbval-current-env book/X.ipynb
# Its last line gives the three phases' wall seconds: install (0 when .venv was already installed),
# book, pytest.
test: $(STAMP)
	@start=$$(date +%s); python tests/machine_cpu.py mark $(VENV)/.cpu-start; \
	python tests/offline_data.py || exit 1; \
	python tests/build_book.py --workers $(BOOK_WORKERS) --profile "$${CNNKIT_PROFILE:-quick}" || true; \
	book=$$(date +%s); cpu_book=$$(python tests/machine_cpu.py since $(VENV)/.cpu-start); \
	python tests/machine_cpu.py mark $(VENV)/.cpu-book; \
	REQUIRE_BOOK_BUILD=1 python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder --durations=15 \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=900 tests solutions; status=$$?; \
	end=$$(date +%s); cpu_pytest=$$(python tests/machine_cpu.py since $(VENV)/.cpu-book); \
	install=0; if [ $$(stat -c %Y $(INSTALL_SECONDS) 2>/dev/null || echo 0) -ge $(MAKE_START) ]; then \
		install=$$(cat $(INSTALL_SECONDS)); fi; \
	echo "make test: install $$install s, book $$((book - start)) s, pytest $$((end - book)) s (exit code $$status)"; \
	echo "make test: the machine's CPU during the book: $$cpu_book; during pytest: $$cpu_pytest"; \
	exit $$status

# The developer's inner loop (a few minutes): every test but those marked slow (pytest -m slow:
# executing chapters, grading batches, the solutions' notebooks, a fresh Colab install); the book's
# checks skip when there is no build. What `make test` runs, less the slow part.
check: $(STAMP)
	@start=$$(date +%s); \
	python tests/offline_data.py || exit 1; \
	python -m pytest -n $(WORKERS) --dist loadfile -m "not slow" --durations=10 tests; status=$$?; \
	echo "make check: $$(( $$(date +%s) - start )) s (exit code $$status)"; \
	exit $$status

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@start=$$(date +%s); set -e; \
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV); \
	$(VENV)/bin/python -m pip install --quiet --requirement requirements.txt; \
	echo $$(( $$(date +%s) - start )) > $(INSTALL_SECONDS); \
	touch $(STAMP)

# Regenerate the student notebooks in exercises/ from the nbgrader sources in solutions/.
exercises: $(STAMP)
	python -m autograder.generate

# One zip per assignment of the student notebooks, what an instructor uploads: release/NAME.zip.
# With ROSTER=roster.csv (and the course secret set, see the README), one notebook per student with
# their own numbers: release/NAME/<student_id>.ipynb, all of them in release/NAME.zip.
release: exercises
	python -m autograder.release --output release $(if $(ROSTER),--roster "$(ROSTER)")

# Write the repository URL of _config.yml into the first cell of every notebook (tagged remove-cell:
# in the notebooks, not on the book's pages).
colab-cells: $(STAMP)
	python -m cnnkit.colab .

# Grade a folder of submissions: make grade ASSIGNMENT=01_visual_cortex SUBMISSIONS=path/to/folder
# With ROSTER=roster.csv (the one `make release ROSTER=` used, and the same course secret), each
# student is graded on their own numbers; the CSV's last column names the variant.
grade: $(STAMP)
	python -m autograder.grade "$(SUBMISSIONS)" --assignment "$(ASSIGNMENT)" --output grades/$(ASSIGNMENT) $(if $(ROSTER),--roster "$(ROSTER)")

benchmarks: $(STAMP)
	python benchmarks/train_loop_overhead.py
	python benchmarks/budget_accuracy.py
	python benchmarks/mnist_reference.py
	python benchmarks/grading_throughput.py
	python benchmarks/transfer_learning.py
	python benchmarks/detection.py
	python benchmarks/segmentation.py
	python benchmarks/thread_wait_policy.py

lint: $(STAMP)
	ruff check cnnkit autograder tests benchmarks book solutions
	ruff format --check cnnkit autograder tests benchmarks

clean:
	rm -rf _build .cache grades release
