# Two commands do everything: `make book` and `make test`. Both create .venv and install the pinned
# stack on first use (a second run skips the install), then seed the libraries' caches with the real
# offline data of ../shared/data when it is there (online machines simply download).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
WORKERS ?= 2

# Caches inside the repository, so that tests and builds never touch the user's home directory.
export KERAS_HOME ?= $(CURDIR)/.cache/keras
export TFDS_DATA_DIR ?= $(CURDIR)/.cache/tensorflow_datasets
export CNNKIT_DATA_DIR ?= $(CURDIR)/.cache/cnnkit
export TORCH_HOME ?= $(CURDIR)/.cache/torch
export TF_CPP_MIN_LOG_LEVEL ?= 2
# nbgrader runs `alembic` as a subprocess and the notebooks' kernels must be the venv's.
export PATH := $(BIN):$(PATH)

.PHONY: book test venv exercises colab-cells grade benchmarks lint clean

book: $(STAMP)
	python tests/offline_data.py
	jupyter-book build . -W -n --keep-going

test: $(STAMP)
	python tests/offline_data.py
	python -m pytest -n $(WORKERS) --dist loadfile --durations=15 \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=900 tests book solutions

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --requirement requirements.txt
	touch $(STAMP)

# Regenerate the student notebooks in exercises/ from the nbgrader sources in solutions/.
exercises: $(STAMP)
	python -m autograder.generate

# Write the repository URL of _config.yml into the first cell of every notebook.
colab-cells: $(STAMP)
	python -m cnnkit.colab .

# Grade a folder of submissions: make grade ASSIGNMENT=01_visual_cortex SUBMISSIONS=path/to/folder
grade: $(STAMP)
	python -m autograder.grade "$(SUBMISSIONS)" --assignment "$(ASSIGNMENT)" --output grades/$(ASSIGNMENT)

benchmarks: $(STAMP)
	python benchmarks/train_loop_overhead.py
	python benchmarks/budget_accuracy.py
	python benchmarks/mnist_reference.py
	python benchmarks/grading_throughput.py
	python benchmarks/transfer_learning.py

lint: $(STAMP)
	ruff check cnnkit autograder tests benchmarks book solutions
	ruff format --check cnnkit autograder tests benchmarks

clean:
	rm -rf _build .cache grades
