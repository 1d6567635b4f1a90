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
# Facts a chapter may type: {chapter: {phrase as it reads, whitespace collapsed: "kind: source"}}.
FACTS = {
    "02_convolution_math.ipynb": {
        "keeps one value out of four: 75 % of the values are dropped": "arithmetic: 3 of 4 values",
        "a 3 × 3 pool with stride 3 eight in nine (89 %)": "arithmetic: 8 / 9 = 0.889",
        "drops 75 % of the values": "arithmetic: a 2 × 2 window keeps 1 of its 4 values",
    },
    "03_memory_budgets.ipynb": {
        "is 4.9 % larger": "arithmetic: 2**20 / 10**6 = 1.0486",
    },
    "04_architectures.ipynb": {
        "with 50 % dropout against overfitting": "setting: the Dropout(0.5) layers of the chapter's CNN",
        "from about 26 % in 2011 to 2.25 % in 2017": (
            "literature: ILSVRC top-5 errors of the winners, XRCE 25.8 % in 2011 (Russakovsky et al., "
            "ImageNet Large Scale Visual Recognition Challenge, IJCV 2015) and SENet 2.25 % in 2017 "
            "(Hu et al., Squeeze-and-Excitation Networks, CVPR 2018)"
        ),
        "a top-5 error rate of 15.3 %, against 26.2 % for the second-best entry": (
            "literature: Krizhevsky, Sutskever and Hinton, ImageNet Classification with Deep "
            "Convolutional Neural Networks, NeurIPS 2012, section 6"
        ),
        "dropout (rate 50 %)": "literature: Krizhevsky et al. 2012, section 4.2",
        "a top-5 error below 7 %": (
            "literature: Szegedy et al., Going Deeper with Convolutions, CVPR 2015: 6.67 %"
        ),
        "dropout (40 %)": "literature: Szegedy et al. 2015, section 5",
        "(scaled down by 70 %, i.e. weighted 0.3)": "literature: Szegedy et al. 2015, section 5",
        "top-5 error below 3.6 %": (
            "literature: He et al., Deep Residual Learning for Image Recognition, CVPR 2016: 3.57 %"
        ),
        "a top-5 error rate close to 3 % on ImageNet": (
            "literature: Szegedy et al., Inception-v4, Inception-ResNet and the Impact of Residual "
            "Connections on Learning, AAAI 2017: 3.08 % for an ensemble"
        ),
        "at just under 3 % top-5 error": "literature: ILSVRC 2016 results: 2.99 %",
        "at 2.25 %": "literature: Hu et al. 2018, ILSVRC 2017 entry",
        "over 92 % test accuracy": (
            "literature: Géron, Hands-On Machine Learning with Scikit-Learn, Keras and TensorFlow, "
            "chapter 14: this CNN on Fashion-MNIST after full training (the quick profile does not "
            "train it fully)"
        ),
    },
    "05_transfer_learning.ipynb": {
        "cut it into 10 % for testing, 15 % for validation and 75 % for training": (
            "setting: the split strings of the cell below"
        ),
        "a zoom into the photo by up to 25 %": (
            "setting: cnnkit/photos/keras.py, augmentation: RandomZoom((-0.2, 0.0)) shows 80 to 100 % "
            "of the photo, a zoom of up to 1 / 0.8 = 1.25 ×"
        ),
        "a validation accuracy of about 75–80 % after training the head alone, and about 95 % on the "
        "test set after fine-tuning": (
            "literature: Géron, Hands-On Machine Learning with Scikit-Learn, Keras and TensorFlow, "
            "chapter 14 (Xception on tf_flowers)"
        ),
    },
    "06_object_detection.ipynb": {
        "a prior of 1 %": (
            "literature: the prior π = 0.01 of Lin et al., Focal Loss for Dense Object Detection, "
            "ICCV 2017, section 4.1"
        ),
        "over the first 10 % of the steps": (
            "setting: cnnkit's warmup_cosine schedule (warm-up fraction 0.1)"
        ),
    },
    "07_semantic_segmentation.ipynb": {
        "a mean IoU of about 62 % on its test sets": (
            "literature: Long, Shelhamer and Darrell, Fully Convolutional Networks for Semantic "
            "Segmentation, CVPR 2015, table 3: 62.2 (VOC 2011 test) and 62.7 (VOC 2012 test)"
        ),
    },
}


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
    return [prose(cell.source) for cell in nb.cells if cell.cell_type == "markdown"]


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.name for path in CHAPTERS])
def test_no_figure_is_typed_into_the_prose(path):
    facts = FACTS.get(path.name, {})
    typed = [figure for text in markdown(path) for figure in typed_figures(text, facts)]
    assert not typed, (
        f"{path.name} types figures into its prose: glue them from the cell that measures them "
        f"(cnnkit.results.record and {{glue:text}}), or list them in FACTS with a source:\n  "
        + "\n  ".join(typed)
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
