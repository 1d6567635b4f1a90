"""cnnkit.scenes: real digits on real photos, with labels that match the pixels exactly."""

import numpy as np
import pytest

from cnnkit import scenes


@pytest.fixture(scope="module")
def train():
    return scenes.make_scenes(60, "train", image_size=80, digit_sizes=(12, 36), seed=3)


def test_shapes_types_and_ranges(train):
    n = len(train)
    assert train.images.shape == (n, 80, 80, 3) and train.images.dtype == np.float32
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    assert train.masks.shape == train.instances.shape == (n, 80, 80)
    assert train.masks.dtype == train.instances.dtype == np.uint8
    assert len(train.boxes) == len(train.labels) == len(train.photos) == n
    counts = [len(b) for b in train.boxes]
    assert min(counts) >= 1 and max(counts) <= 3 and len(set(counts)) > 1
    for boxes, labels in zip(train.boxes, train.labels, strict=True):
        assert boxes.dtype == np.float32 and boxes.shape == (len(labels), 4)
        assert labels.dtype == np.int64 and set(labels) <= set(range(10))
    assert all(photo in scenes.photo_names("train") for photo in train.photos)


def test_boxes_classes_and_masks_describe_the_same_pixels(train):
    for i in range(len(train)):
        instances, masks = train.instances[i], train.masks[i]
        assert set(np.unique(instances)) == set(range(len(train.boxes[i]) + 1))
        np.testing.assert_array_equal(masks == scenes.BACKGROUND, instances == 0)
        for j, (box, label) in enumerate(zip(train.boxes[i], train.labels[i], strict=True)):
            ys, xs = np.nonzero(instances == j + 1)
            np.testing.assert_array_equal(box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            assert (masks[ys, xs] == label + 1).all()
            height = box[3] - box[1]
            assert 12 - 2 <= height <= 36  # the pixels at half ink or more of a digit 12 to 36 high


def test_digits_of_an_image_never_overlap(train):
    for boxes in train.boxes:
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = boxes[a], boxes[b]
                assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0


def test_same_arguments_same_scenes_and_the_seed_matters(train):
    again = scenes.make_scenes(60, "train", image_size=80, digit_sizes=(12, 36), seed=3)
    np.testing.assert_array_equal(again.images, train.images)
    np.testing.assert_array_equal(again.instances, train.instances)
    assert again.photos == train.photos
    other = scenes.make_scenes(5, "train", image_size=80, digit_sizes=(12, 36), seed=4)
    assert not np.array_equal(other.images, train.images[:5])
    # scene i does not depend on how many scenes are made
    np.testing.assert_array_equal(scenes.make_scenes(7, "train", image_size=80, digit_sizes=(12, 36),
                                                     seed=3).images, train.images[:7])  # fmt: skip


def test_photos_are_split_by_name_and_every_split_has_photos():
    names = {split: set(scenes.photo_names(split)) for split in scenes.SPLITS}
    assert all(len(v) >= 10 for v in names.values())
    assert not names["train"] & names["valid"] and not names["train"] & names["test"]
    assert not names["valid"] & names["test"]
    everything = set().union(*names.values())
    assert any(n.startswith("sklearn/") for n in everything)
    assert any(n.startswith("skimage/") for n in everything)
    assert any(n.startswith("flower_photos/") for n in everything)
    many = [scenes.photo_split(f"photo-{i}.jpg") for i in range(4000)]
    assert abs(many.count("train") / 4000 - 0.70) < 0.03
    assert abs(many.count("test") / 4000 - 0.15) < 0.03


def test_test_scenes_draw_only_mnist_test_digits_and_train_valid_do_not_share():
    train_x, _ = scenes.digit_pool("train")
    valid_x, _ = scenes.digit_pool("valid")
    test_x, test_y = scenes.digit_pool("test")
    mnist = scenes._mnist()
    assert test_x is mnist.x_test and test_y is mnist.y_test
    assert len(train_x) + len(valid_x) == len(mnist.x_train)
    assert np.shares_memory(train_x, mnist.x_train) and np.shares_memory(valid_x, mnist.x_train)
    assert not np.shares_memory(train_x, valid_x) and len(train_x) > 5 * len(valid_x)
    test = scenes.make_scenes(20, "test", seed=1)
    assert all(scenes.photo_split(photo) == "test" for photo in test.photos)


def test_given_photos_and_digits_replace_the_defaults():
    white = {"white": np.full((50, 60, 3), 255, np.uint8)}
    sevens = (scenes.digit_pool("valid")[0][:50], np.full(50, 7))
    made = scenes.make_scenes(8, "valid", image_size=(40, 64), digit_sizes=10, photos=white,
                              digits=sevens, digits_per_image=2)  # fmt: skip
    assert made.images.shape == (8, 40, 64, 3) and made.photos == ("white",) * 8
    assert all((labels == 7).all() for labels in made.labels)
    ink = made.images.min(axis=-1) < 1.0
    assert ink[made.instances == 0].mean() < 0.2  # only the soft edges around the digits
    digits = made.images[made.instances > 0]  # dark digits (<= 0.25) at >= 50 % ink on white
    assert digits.max() <= 0.5 * 1.0 + 0.5 * 0.25 + 1e-6 and digits.mean() < 0.45
    assert (made.images[~ink] == 1.0).all()


def test_bolder_strokes_cover_more_pixels():
    def ink_per_box_area(made):
        area = sum(((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).sum() for b in made.boxes)
        return (made.instances > 0).sum() / area

    thin, bold = (scenes.make_scenes(30, "valid", stroke=s, seed=2) for s in (0, 2))
    assert ink_per_box_area(bold) > 1.3 * ink_per_box_area(thin)


def test_selecting_and_padding(train):
    part = train[2:5]
    assert len(part) == 3 and part.photos == train.photos[2:5] and part.split == "train"
    np.testing.assert_array_equal(part.boxes[0], train.boxes[2])
    one = train[[7]]
    np.testing.assert_array_equal(one.masks[0], train.masks[7])
    boxes, labels = train.padded()
    assert boxes.shape == (len(train), 3, 4) and labels.shape == (len(train), 3)
    counts = np.array([len(b) for b in train.boxes])
    np.testing.assert_array_equal((labels >= 0).sum(1), counts)
    i = int(np.argmin(counts))
    np.testing.assert_array_equal(boxes[i, : counts[i]], train.boxes[i])
    assert train.padded(5)[0].shape == (len(train), 5, 4)
    with pytest.raises(ValueError, match="max_objects=2 is below the 3 objects"):
        train.padded(2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "training"}, "split must be one of"),
        ({"num_images": 0}, "num_images must be a positive int"),
        (
            {"digit_sizes": (20, 100)},
            r"digit_sizes must be \(low, high\) with 4 <= low <= high <= 96",
        ),
        ({"digits_per_image": (3, 1)}, "digits_per_image must be"),
        ({"stroke": 3}, "stroke must be 0, 1 or 2"),
        ({"photos": {}}, "no photos for the 'train' split"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"num_images": 2, "split": "train", **kwargs}
    with pytest.raises(ValueError, match=message):
        scenes.make_scenes(arguments.pop("num_images"), arguments.pop("split"), **arguments)
