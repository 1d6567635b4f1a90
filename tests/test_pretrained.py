"""cnnkit.pretrained: torchvision's real ImageNet weights, offline, and the Keras mirror that reuses them.

The weights file is seeded into ``$TORCH_HOME`` by conftest.py (tests/offline_data.py); online,
torchvision downloads the same file. The Keras MobileNetV2 must compute what torchvision's computes.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
from skimage import data

from cnnkit import pretrained
from cnnkit.pretrained import keras as pk
from cnnkit.pretrained import torch as pt

NUM_PARAMETERS = 3_504_872  # torchvision's MobileNet_V2_Weights.IMAGENET1K_V1.meta["num_params"]


@pytest.fixture(scope="module")
def torch_model():
    return pt.mobilenet_v2().eval()


@pytest.fixture(scope="module")
def keras_model():
    return pk.mobilenet_v2()


def nchw(images):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(images).transpose(0, 3, 1, 2)))


def resized(image, size=224):
    """A photo (height, width, 3) uint8 → (1, size, size, 3) float32 in [0, 255], plain resizing."""
    return keras.ops.convert_to_numpy(
        keras.ops.image.resize(image[None].astype("float32"), (size, size))
    )


def keras_outputs(model, images):
    """Keras's output in float32 on the CPU, like the PyTorch models here (GPUs may use TF32)."""
    with tf.device("/CPU:0"):
        return keras.ops.convert_to_numpy(model(pk.preprocess_input(images), training=False))


def torch_probabilities(model, images):
    with torch.no_grad():
        return pretrained.softmax(model(pt.preprocess_input(nchw(images))).numpy())


def test_imagenet_classes_are_the_thousand_names_in_output_order():
    names = pretrained.imagenet_classes()
    assert len(names) == 1000 and len(set(names)) == 1000
    assert names[967] == "espresso" and names[985] == "daisy" and names[0] == "tench"


def test_decode_predictions_sorts_and_names_the_top_classes():
    probabilities = np.full((2, 1000), 1e-4)
    probabilities[0, [967, 985, 3]] = [0.2, 0.5, 0.3]
    probabilities[1, 1] = 0.9
    top = pretrained.decode_predictions(probabilities, top=3)
    assert [index for index, _, _ in top[0]] == [985, 3, 967]
    assert top[0][0] == (985, "daisy", 0.5)
    assert top[1][0][0] == 1 and len(top[1]) == 3
    assert pretrained.decode_predictions(probabilities[0], top=1) == [[(985, "daisy", 0.5)]]


@pytest.mark.parametrize(
    "probabilities, top, message",
    [
        (np.zeros((2, 10)), 3, "shape"),
        (np.zeros((1, 1000)), 0, "top"),
        (np.zeros(1000), 2.0, "top"),
    ],
)
def test_decode_predictions_rejects_bad_input(probabilities, top, message):
    with pytest.raises(ValueError, match=message):
        pretrained.decode_predictions(probabilities, top=top)


def test_softmax_of_logits():
    probabilities = pretrained.softmax(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))
    np.testing.assert_allclose(probabilities, [[0.25, 0.75], [0.5, 0.5]])


@pytest.mark.parametrize("module", [pk, pt])
def test_weights_must_be_imagenet_or_none(module):
    with pytest.raises(ValueError, match="weights must be 'imagenet' or None"):
        module.mobilenet_v2(weights="imagenet1k")


def test_preprocessing_is_the_same_in_both_frameworks_and_centres_the_imagenet_mean():
    pixels = np.random.default_rng(0).uniform(0, 255, size=(2, 5, 7, 3)).astype("float32")
    pixels[0, 0, 0] = 255 * np.array(pretrained.IMAGENET_MEAN)
    from_keras = keras.ops.convert_to_numpy(pk.preprocess_input(pixels))
    from_torch = pt.preprocess_input(nchw(pixels)).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(from_keras, from_torch, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(from_keras[0, 0, 0], 0, atol=1e-6)
    expected = (1.0 - np.array(pretrained.IMAGENET_MEAN)) / np.array(pretrained.IMAGENET_STD)
    np.testing.assert_allclose(
        pk.preprocess_input(np.full((1, 1, 3), 255.0))[0, 0], expected, rtol=1e-6
    )
    with pytest.raises(ValueError, match="channels|3"):
        pt.preprocess_input(torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="3"):
        pk.preprocess_input(np.zeros((1, 8, 8, 4)))


def test_torchvision_weights_load_and_recognise_a_real_photo(torch_model):
    assert sum(p.numel() for p in torch_model.parameters()) == NUM_PARAMETERS
    (index, name, probability), *_ = pretrained.decode_predictions(
        torch_probabilities(torch_model, resized(data.coffee())), top=1
    )[0]
    assert name == "espresso" and probability > 0.9


def test_keras_mirror_gives_torchvisions_probabilities(torch_model, keras_model):
    photos = np.concatenate([resized(data.coffee()), resized(data.chelsea())])
    expected = torch_probabilities(torch_model, photos)
    result = keras_outputs(keras_model, photos)
    np.testing.assert_allclose(result, expected, atol=1e-5)
    assert (result.argmax(axis=1) == [967, 285]).all()  # espresso, Egyptian cat


def test_keras_mirror_pads_stride_2_layers_like_pytorch_on_odd_sizes(torch_model, keras_model):
    # 225 x 231: every stride-2 layer sees an odd size at some point, where TF's "same" padding
    # would put its extra zero at the bottom/right only and shift the whole output.
    pixels = np.random.default_rng(1).uniform(0, 255, size=(2, 225, 231, 3)).astype("float32")
    result = keras_outputs(keras_model, pixels)
    np.testing.assert_allclose(result, torch_probabilities(torch_model, pixels), atol=1e-5)


def test_keras_mirror_without_top_outputs_torchvisions_feature_maps():
    base_keras = pk.mobilenet_v2(include_top=False)
    base_torch = pt.mobilenet_v2(include_top=False).eval()
    pixels = np.random.default_rng(2).uniform(0, 255, size=(1, 96, 64, 3)).astype("float32")
    maps = keras_outputs(base_keras, pixels)
    assert maps.shape == (1, 3, 2, 1280)  # (batch, height / 32, width / 32, channels)
    with torch.no_grad():
        expected = base_torch(pt.preprocess_input(nchw(pixels))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(maps, expected, atol=1e-4)


def test_keras_mirror_uses_pytorchs_batch_norm_epsilon(keras_model):
    norms = [
        layer for layer in keras_model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(norms) == 52 and all(layer.epsilon == 1e-5 for layer in norms)


def test_random_weights_are_not_the_imagenet_ones(torch_model):
    untrained = pt.mobilenet_v2(weights=None)
    assert not torch.equal(untrained.features[0][0].weight, torch_model.features[0][0].weight)
    keras_untrained = pk.mobilenet_v2(weights=None, include_top=False)
    stem = keras_untrained.get_layer("stem_conv").kernel.numpy()
    assert not np.allclose(
        stem, torch_model.features[0][0].weight.detach().numpy().transpose(2, 3, 1, 0)
    )


def test_copying_weights_between_different_networks_fails_clearly(keras_model):
    import torchvision

    with pytest.raises(ValueError, match="layers with weights|do not fit|does not match"):
        pk.copy_weights_from_torch(torchvision.models.resnet18(), keras_model)


def test_imagenet_classifiers_say_which_weights_they_use(capsys):
    classifier = pk.imagenet_classifier()
    printed = capsys.readouterr().out
    if classifier.description.startswith("offline"):
        assert "OFFLINE" in printed and "MobileNet_V2_Weights.IMAGENET1K_V1" in printed
    else:
        assert "ResNet50" in classifier.description
    photo = resized(data.coffee(), classifier.image_size)
    probabilities = keras.ops.convert_to_numpy(classifier.model(classifier.preprocess_input(photo)))
    assert probabilities.shape == (1, 1000)
    top = classifier.decode_predictions(probabilities, top=3)[0]
    assert top[0][1] == "espresso"
    torch_classifier = pt.imagenet_classifier()
    assert "IMAGENET1K_V1" in torch_classifier.description


def test_frozen_classifiers_train_only_their_new_head():
    model_keras = pk.frozen_classifier(pk.mobilenet_v2(weights=None, include_top=False), 5)
    model_torch = pt.frozen_classifier(pt.mobilenet_v2(weights=None, include_top=False), 5)
    head = 1280 * 5 + 5
    assert sum(int(np.prod(w.shape)) for w in model_keras.trainable_weights) == head
    assert sum(p.numel() for p in model_torch.parameters() if p.requires_grad) == head
    assert model_keras.output_shape == (None, 5)
    with torch.no_grad():
        assert model_torch(torch.zeros(2, 3, 64, 64)).shape == (2, 5)
    with pytest.raises(ValueError, match="num_classes"):
        pt.frozen_classifier(pt.mobilenet_v2(weights=None, include_top=False), 1)


def test_torch_frozen_base_keeps_its_batch_norm_statistics_while_training():
    model = pt.frozen_classifier(pt.mobilenet_v2(include_top=False), 5).train()
    norms = [m for m in model.base.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert not any(m.training for m in norms)
    before = [m.running_mean.clone() for m in norms]
    pt.unfreeze_top(model, 2)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = model(torch.rand(4, 3, 64, 64)).logsumexp(dim=1).mean()
    loss.backward()
    optimizer.step()
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, norms, strict=True))
    assert model.training and not model.base.training


def test_keras_frozen_base_keeps_its_batch_norm_statistics_while_training():
    model = pk.frozen_classifier(pk.mobilenet_v2(include_top=False), 5)
    pk.unfreeze_top(model, 2)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = [w.numpy().copy() for w in model.non_trainable_weights]
    model.fit(np.random.default_rng(3).normal(size=(4, 64, 64, 3)), np.arange(4), verbose=0)
    after = [w.numpy() for w in model.non_trainable_weights]
    assert all(np.array_equal(b, a) for b, a in zip(before, after, strict=True))


@pytest.mark.parametrize("num_blocks", [0, 1, 4, 18])
def test_unfreezing_the_same_top_blocks_trains_the_same_parameters_in_both(num_blocks):
    model_keras = pk.frozen_classifier(pk.mobilenet_v2(weights=None, include_top=False), 5)
    model_torch = pt.frozen_classifier(pt.mobilenet_v2(weights=None, include_top=False), 5)
    count = pk.unfreeze_top(model_keras, num_blocks)
    assert count == pt.unfreeze_top(model_torch, num_blocks)
    head = 1280 * 5 + 5
    assert sum(int(np.prod(w.shape)) for w in model_keras.trainable_weights) == count + head
    if num_blocks == 0:
        assert count == 0
    if num_blocks == 18:  # every convolution but the first one (BatchNorm stays frozen)
        norms = sum(
            2 * m.num_features
            for m in model_torch.base.modules()
            if isinstance(m, torch.nn.BatchNorm2d)
        )
        assert count == NUM_PARAMETERS - (1280 * 1000 + 1000) - 3 * 3 * 3 * 32 - norms


@pytest.mark.parametrize("module", [pk, pt])
def test_unfreeze_top_rejects_impossible_block_counts(module):
    model = module.frozen_classifier(module.mobilenet_v2(weights=None, include_top=False), 3)
    for bad in (-1, 19, 2.0):
        with pytest.raises(ValueError, match="num_blocks"):
            module.unfreeze_top(model, bad)


def test_extract_features_returns_outputs_and_labels_in_order():
    base = pt.mobilenet_v2(weights=None, include_top=False)
    batches = [
        (torch.rand(3, 3, 32, 32), torch.tensor([0, 1, 2])),
        (torch.rand(2, 3, 32, 32), torch.tensor([3, 4])),
    ]
    features, labels = pt.extract_features(base, batches)
    assert features.shape == (5, 1280, 1, 1) and labels.tolist() == [0, 1, 2, 3, 4]
    base_keras = pk.mobilenet_v2(weights=None, include_top=False)
    keras_batches = [(np.random.rand(3, 32, 32, 3), np.array([4, 3, 2]))]
    features, labels = pk.extract_features(base_keras, keras_batches)
    assert features.shape == (3, 1, 1, 1280) and labels.tolist() == [4, 3, 2]
    with pytest.raises(ValueError, match="nothing"):
        pk.extract_features(base_keras, [])


APPLICATIONS_MOBILENET_V2 = keras.applications.MobileNetV2  # before any test replaces it


def _applications_base():
    return APPLICATIONS_MOBILENET_V2(weights=None, include_top=False)


@pytest.mark.parametrize("num_blocks", [1, 4, 18])
def test_unfreeze_top_counts_the_same_blocks_in_keras_applications_and_the_mirror(num_blocks):
    """keras.applications.MobileNetV2 names its blocks differently; the same blocks unfreeze."""
    applications = pk.frozen_classifier(_applications_base(), 5)
    mirror = pk.frozen_classifier(pk.mobilenet_v2(weights=None, include_top=False), 5)
    assert pk.unfreeze_top(applications, num_blocks) == pk.unfreeze_top(mirror, num_blocks) > 0
    base = applications.layers[1]
    trainable = [layer.name for layer in base.layers if layer.trainable and layer.weights]
    assert not any(
        isinstance(base.get_layer(n), keras.layers.BatchNormalization) for n in trainable
    )
    if num_blocks == 1:
        assert trainable == ["Conv_1"]


def test_keras_transfer_base_is_keras_applications_online(monkeypatch, capsys):
    downloaded = []

    def mobilenet_v2(weights, include_top):  # as if the download worked
        downloaded.append(weights)
        return _applications_base()

    monkeypatch.setattr(keras.applications, "MobileNetV2", mobilenet_v2)
    base = pk.transfer_base()
    assert downloaded == ["imagenet"] and "OFFLINE" not in capsys.readouterr().out
    assert base.description.startswith("keras.applications.MobileNetV2 with its ImageNet weights")
    pixels = np.array([[[[0.0, 127.5, 255.0]]]], "float32")
    assert np.allclose(keras.ops.convert_to_numpy(base.preprocess(pixels)), [-1, 0, 1])
    assert base.model.output_shape == (None, None, None, 1280)


def test_keras_transfer_base_falls_back_on_the_mirror_and_says_so(monkeypatch, capsys, keras_model):
    def offline(weights, include_top):
        if weights == "imagenet":
            raise Exception("URL fetch failure: no network")  # what keras raises
        return _applications_base()

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)
    base = pk.transfer_base()
    printed = capsys.readouterr().out
    assert (
        "OFFLINE" in printed and "no network" in printed and base.description.startswith("offline")
    )
    photo = pk.preprocess_input(resized(data.coffee()))
    features = keras.Model(keras_model.input, keras_model.get_layer("head_relu6").output)(photo)
    assert np.allclose(base.model(photo), features, atol=1e-5)  # torchvision's weights, in Keras
    random = base.random()
    assert random.count_params() == base.model.count_params()
    assert not np.allclose(random.weights[0].numpy(), base.model.weights[0].numpy())


def test_torch_transfer_base_is_torchvisions_features():
    base = pt.transfer_base()
    assert "IMAGENET1K_V1" in base.description and base.preprocess is pt.preprocess_input
    with torch.no_grad():
        assert base.model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 1280, 2, 2)
    random = base.random()
    assert not torch.equal(next(random.parameters()), next(base.model.parameters()))
