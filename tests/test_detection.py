"""cnnkit.detection: the Keras and PyTorch halves agree, conversions keep outputs, MTCNN sees faces."""

import keras
import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from cnnkit import boxes, detection
from cnnkit.detection import keras as dk
from cnnkit.detection import torch as dt


def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 3, 1, 2)))


def test_grid_detectors_have_the_same_size_and_grid_in_both_frameworks():
    keras_model, torch_model = dk.grid_detector(3, 10, width=16), dt.grid_detector(3, 10, width=16)
    images = np.random.default_rng(0).random((2, 96, 80, 3)).astype(np.float32)
    ours_keras = dk.grid_outputs(keras_model, images, 3)
    ours_torch = dt.grid_outputs(torch_model, images, 3)
    assert ours_keras.shape == ours_torch.shape == (2, 12, 10, 3, 15)
    trainable = sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
    assert trainable == sum(p.numel() for p in torch_model.parameters())
    statistics = sum(int(np.prod(w.shape)) for w in keras_model.non_trainable_weights)
    assert statistics == sum(b.numel() for n, b in torch_model.named_buffers() if "running" in n)


def test_grid_losses_agree_and_are_smallest_for_the_right_answer():
    rng = np.random.default_rng(1)
    anchors = np.array([[12.0, 20.0], [24.0, 30.0]])
    truth = [
        np.array([[10, 10, 22, 32], [40, 8, 66, 38]], float),
        np.array([[30, 30, 50, 56]], float),
    ]
    targets = np.stack(
        [
            boxes.encode_yolo(b, c, anchors, (6, 8), 8)
            for b, c in zip(truth, [[3, 7], [1]], strict=True)
        ]
    )
    outputs = rng.normal(0, 1, (2, 6, 8, 2 * 15)).astype(
        np.float32
    )  # (batch, rows, columns, A·(5+C))
    keras_loss = float(dk.GridLoss(2, 10)(targets, outputs))
    torch_loss = float(dt.GridLoss(2, 10)(nchw(outputs), torch.from_numpy(targets)))
    assert keras_loss == pytest.approx(torch_loss, rel=1e-5)
    right = np.full((2, 6, 8, 2, 15), -8.0, np.float32)  # objectness "no" everywhere...
    has_box = targets[..., 0] == 1
    offsets = targets[..., 1:3].clip(1e-4, 1 - 1e-4)
    right[..., :2] = np.log(offsets / (1 - offsets))
    right[..., 2:4] = targets[..., 3:5]
    right[has_box, 4] = 8.0  # ... except where a box is
    right[has_box, 5 + targets[has_box][:, 5].astype(int)] = 12.0
    right = right.reshape(2, 6, 8, 30)
    best = float(dt.GridLoss(2, 10)(nchw(right), torch.from_numpy(targets)))
    assert best == pytest.approx(float(dk.GridLoss(2, 10)(targets, right)), rel=1e-4, abs=1e-4)
    assert best < 0.05 * torch_loss
    with pytest.raises(ValueError, match="30 output channels cannot hold 4 anchors"):
        dt.grid_layout(nchw(outputs), 4)


def test_classifier_localizers_output_classes_and_boxes_in_0_1():
    images = np.random.default_rng(2).random((3, 48, 48, 3)).astype(np.float32)
    classes, box = dk.ClassifierLocalizer(10, width=8)(images)
    assert classes.shape == (3, 10) and box.shape == (3, 4)
    classes_t, box_t = dt.ClassifierLocalizer(10, width=8)(nchw(images))
    assert classes_t.shape == (3, 10) and box_t.shape == (3, 4)
    for b in (keras.ops.convert_to_numpy(box), box_t.detach().numpy()):
        assert (b > 0).all() and (b < 1).all()
    target = np.full((3, 4), 0.5, np.float32)
    assert float(dk.localization_loss(box, target)) == pytest.approx(
        float(np.mean((keras.ops.convert_to_numpy(box) - 0.5) ** 2)), rel=1e-5
    )


def test_dense_to_conv_gives_the_dense_outputs_then_slides():
    rng = np.random.default_rng(3)
    maps = rng.normal(size=(2, 4, 5, 6)).astype(np.float32)  # (batch, height, width, channels)
    dense = keras.layers.Dense(7)
    expected = keras.ops.convert_to_numpy(dense(maps.reshape(2, -1)))
    conv = dk.dense_to_conv(dense, 6, 4, 5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(conv(maps)), expected.reshape(2, 1, 1, 7), atol=1e-5
    )
    linear = torch.nn.Linear(6 * 4 * 5, 7)
    with torch.no_grad():
        expected_t = linear(nchw(maps).flatten(1)).numpy()
        conv_t = dt.dense_to_conv(linear, 6, 4, 5)
        np.testing.assert_allclose(
            conv_t(nchw(maps)).numpy(), expected_t.reshape(2, 7, 1, 1), atol=1e-5
        )
        larger = rng.normal(size=(1, 7, 9, 6)).astype(np.float32)
        slid = conv_t(nchw(larger)).numpy()  # (1, 7, 4, 5): every 4 × 5 window of the larger maps
        assert slid.shape == (1, 7, 4, 5)
        window = linear(nchw(larger[:, 2:6, 3:8]).flatten(1)).numpy()
        np.testing.assert_allclose(slid[0, :, 2, 3], window[0], atol=1e-5)
    with pytest.raises(ValueError, match="takes 120 inputs, not 6 × 4 × 4 = 96"):
        dt.dense_to_conv(linear, 6, 4, 4)
    with pytest.raises(ValueError, match="takes 120 inputs"):
        dk.dense_to_conv(dense, 6, 4, 4)


@pytest.fixture(scope="module")
def lfw():
    """The 100 faces and 100 non-faces of scikit-image, 24 × 24, scaled as MTCNN expects."""
    photos = skimage.data.lfw_subset()
    small = [
        np.asarray(Image.fromarray((p * 255).astype(np.uint8)).resize((24, 24), Image.BILINEAR))
        for p in photos
    ]
    return (np.repeat(np.stack(small)[..., None], 3, axis=-1).astype(np.float32) - 127.5) / 128


def test_mtcnn_rnet_tells_faces_from_non_faces_in_both_frameworks(lfw):
    _, keras_faces = dk.MTCNNRNet()(lfw)
    keras_faces = keras.ops.convert_to_numpy(keras_faces)
    with torch.no_grad():
        _, torch_faces = dt.MTCNNRNet().eval()(nchw(lfw))
    np.testing.assert_allclose(keras_faces, torch_faces.numpy(), atol=1e-5)
    accuracy = ((keras_faces[:100] > 0.5).mean() + (keras_faces[100:] < 0.5).mean()) / 2
    assert accuracy >= 0.95


def test_mtcnn_rnet_made_fully_convolutional_gives_the_same_outputs_and_slides(lfw):
    box, faces = dk.MTCNNRNet()(lfw[:20])
    conv_box, conv_faces = dk.MTCNNRNet(fully_convolutional=True)(lfw[:20])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(conv_faces).reshape(20), faces, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(conv_box).reshape(20, 4), box, atol=1e-5)
    with torch.no_grad():
        box_t, faces_t = dt.MTCNNRNet().eval()(nchw(lfw[:20]))
        conv_box_t, conv_faces_t = dt.MTCNNRNet(fully_convolutional=True).eval()(nchw(lfw[:20]))
        np.testing.assert_allclose(conv_faces_t.numpy().reshape(20), faces_t.numpy(), atol=1e-6)
        np.testing.assert_allclose(conv_box_t.numpy().reshape(20, 4), box_t.numpy(), atol=1e-5)
        photo = np.zeros((1, 40, 56, 3), np.float32)
        photo[:, 8:32, 12:36] = lfw[0]  # a face at rows 8-31, columns 12-35: the window (2, 3)
        _, grid = dt.MTCNNRNet(fully_convolutional=True).eval()(nchw(photo))
    assert grid.shape == (1, 5, 9)  # one window every 4 pixels
    grid = grid.numpy()
    assert grid[0, 2, 3] > 0.9 and np.unravel_index(grid[0].argmax(), (5, 9)) == (2, 3)
    keras_grid = keras.ops.convert_to_numpy(dk.MTCNNRNet(fully_convolutional=True)(photo)[1])
    np.testing.assert_allclose(keras_grid, grid, atol=1e-5)


def test_mtcnn_pnet_is_fully_convolutional_and_agrees(lfw):
    image = np.random.default_rng(4).normal(size=(1, 61, 47, 3)).astype(np.float32)
    box, faces = dk.MTCNNPNet()(image)
    with torch.no_grad():
        box_t, faces_t = dt.MTCNNPNet().eval()(nchw(image))
    assert (
        faces.shape == faces_t.shape == (1, 26, 19)
    )  # (ceil((61 - 2) / 2) - 4, ceil((47 - 2) / 2) - 4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(faces), faces_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(box), box_t.numpy().transpose(0, 2, 3, 1), atol=1e-5
    )
    small = np.stack(
        [
            np.asarray(Image.fromarray((x * 128 + 127.5).astype(np.uint8)).resize((12, 12)))
            for x in lfw
        ]
    )
    _, on_faces = dk.MTCNNPNet()((small.astype(np.float32) - 127.5) / 128)
    on_faces = keras.ops.convert_to_numpy(on_faces).reshape(-1)
    assert on_faces[:100].mean() > 0.8 and on_faces[100:].mean() < 0.2


def test_mtcnn_weights_say_where_to_get_them(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="name must be one of"):
        detection.mtcnn_weights("xnet")
    assert [a.shape for a in detection.mtcnn_weights("rnet")][9] == (576, 128)
    detection.mtcnn_weights.cache_clear()
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(tmp_path))
    try:
        import mtcnn  # noqa: F401  # the package carries its own copy: nothing to check here
    except ImportError:
        with pytest.raises(RuntimeError, match="pip install mtcnn"):
            detection.mtcnn_weights("pnet")
    finally:
        detection.mtcnn_weights.cache_clear()


def test_grid_data_has_one_target_per_digit_and_anchors_from_training_boxes():
    data = detection.grid_data(
        30, 6, num_anchors=2, stride=8, image_size=64, digit_sizes=(12, 30), seed=1
    )
    assert data.grid_shape == (8, 8) and data.targets.shape == (30, 8, 8, 2, 6)
    digits = sum(len(b) for b in data.train.boxes)
    assert (
        data.targets[..., 0].sum() <= digits and data.targets[..., 0].sum() >= digits - 3
    )  # rare shared cells
    sizes = np.concatenate([b[:, 2:] - b[:, :2] for b in data.train.boxes])
    np.testing.assert_allclose(data.anchors, boxes.kmeans_anchors(sizes, 2, seed=1))
    assert data.test.split == "test" and len(data.test) == 6
    with pytest.raises(ValueError, match="must be a multiple of the stride 8"):
        detection.grid_data(2, 2, image_size=60, digit_sizes=(12, 30))


def test_grid_detectors_start_with_the_objectness_prior():
    images = np.zeros((1, 32, 32, 3), np.float32)
    for outputs in (dk.grid_outputs(dk.grid_detector(2, 3, width=8), images, 2),
                    dt.grid_outputs(dt.grid_detector(2, 3, width=8), images, 2)):  # fmt: skip
        objectness = 1 / (1 + np.exp(-outputs[..., 4]))
        assert outputs.shape == (1, 4, 4, 2, 8) and np.allclose(objectness, 0.01, atol=0.005)


def test_warmup_cosine_steps_through_the_same_rates_in_both_frameworks():
    steps, peak = 50, 1e-2
    rates = detection.warmup_cosine_rates(steps, peak)
    assert rates[0] == pytest.approx(peak / 10) and rates[5] == pytest.approx(peak)
    assert np.all(np.diff(rates[:5]) > 0) and np.all(np.diff(rates[5:]) < 0)
    assert rates[-1] > 0.01 * peak and rates[-1] < 0.02 * peak
    keras_schedule = dk.warmup_cosine(steps, peak)
    keras_rates = [float(keras_schedule(step)) for step in range(steps)]
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=123.0)
    scheduler = dt.warmup_cosine(optimizer, steps, peak)
    torch_rates = []
    for _ in range(steps):
        torch_rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(keras_rates, rates, rtol=1e-5)
    np.testing.assert_allclose(torch_rates, rates, rtol=1e-12)
    with pytest.raises(ValueError, match="total_steps"):
        detection.warmup_cosine_rates(1, peak)


def test_keras_grid_detector_starts_with_pytorchs_initialisation():
    keras_model, torch_model = dk.grid_detector(1, 10, width=16), dt.grid_detector(1, 10, width=16)
    kernels = [w for w in keras_model.weights if len(w.shape) == 4]
    weights = [m.weight for m in torch_model.modules() if isinstance(m, torch.nn.Conv2d)]
    for kernel, weight in zip(kernels, weights, strict=True):
        kernel = keras.ops.convert_to_numpy(kernel)
        bound = 1 / np.sqrt(np.prod(kernel.shape[:3]))  # PyTorch's: 1 / sqrt(fan_in)
        assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.8 * bound
        assert abs(weight.detach().abs().max().item() - np.abs(kernel).max()) < 0.2 * bound
    bias = keras_model.layers[-1].get_weights()[1]
    assert bias[4] == pytest.approx(np.log(0.01 / 0.99), rel=1e-5)
    others = np.delete(bias, 4)
    assert np.abs(others).max() <= 1 / np.sqrt(48) and np.abs(others).max() > 0
