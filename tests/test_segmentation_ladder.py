"""cnnkit.segmentation.ladder and the recipe of train_fcn: the same training in both frameworks."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

import cnnkit.segmentation.keras as seg_keras  # noqa: E402
import cnnkit.segmentation.torch as seg_torch  # noqa: E402
from cnnkit.segmentation import ladder  # noqa: E402


def maps_and_masks(count=6, size=64, classes=3, seed=0):
    """Random maps at strides 8, 16, 32 in Keras's layout, and masks that depend on them."""
    rng = np.random.default_rng(seed)
    taps = [rng.standard_normal((count, size // s, size // s, c)).astype(np.float32)
            for s, c in zip((8, 16, 32), seg_keras.STAGE_CHANNELS, strict=True)]  # fmt: skip
    coarse = np.argmax(taps[0][..., :classes], axis=-1)  # a class per cell of the stride-8 map
    return taps, np.kron(coarse, np.ones((8, 8), np.int64))  # (count, size, size)


def nchw(maps):
    return [np.ascontiguousarray(m.transpose(0, 3, 1, 2)) for m in maps]


def test_twin_heads_start_from_the_same_weights():
    keras_heads, torch_heads = ladder.twin_heads(seg_keras, seg_torch, 5)
    assert set(keras_heads) == set(torch_heads) == set(ladder.RUNGS)
    taps, _ = maps_and_masks()
    for rung in ladder.RUNGS:
        from_keras = np.asarray(keras_heads[rung](taps))
        with torch.no_grad():
            from_torch = torch_heads[rung](*[torch.from_numpy(m) for m in nchw(taps)]).numpy()
        assert np.abs(from_keras).max() > 0
        np.testing.assert_allclose(from_keras, from_torch.transpose(0, 2, 3, 1), atol=1e-4)


def test_train_fcn_trains_alike_in_both_frameworks():
    """One batch per epoch (its order does not matter): the same start, loss, Adam and schedule
    give the same weights after three steps (each moves them by about 1e-2; float32 rounding
    through Adam leaves about 1e-4). Adam divides by the gradient's running size, so a weight whose
    gradient is near zero moves by about the learning rate in the direction of its rounding noise:
    a handful of such weights may differ by up to the three steps' reach (seen in CI: 1 of 1,600
    weights at 1.8e-3 with two threads)."""
    taps, masks = maps_and_masks(classes=5)
    keras_heads, torch_heads = ladder.twin_heads(seg_keras, seg_torch, 5, rungs=["FCN-8s, frozen"])
    keras_head, torch_head = keras_heads["FCN-8s, frozen"], torch_heads["FCN-8s, frozen"]
    start = {name: value.clone() for name, value in torch_head.state_dict().items()}
    recipe = dict(learning_rate=1e-2, num_epochs=3, batch_size=len(masks), background_weight=0.3)
    keras_loss = seg_keras.train_fcn(seg_keras.FCN(keras_head), taps, masks, **recipe)["loss"]
    torch_loss = seg_torch.train_fcn(seg_torch.FCN(torch_head), nchw(taps), masks, **recipe)["loss"]
    assert keras_loss[-1] < keras_loss[0] and torch_loss[-1] < torch_loss[0]
    np.testing.assert_allclose(keras_loss, torch_loss, rtol=1e-4)
    for keras_score, torch_score in zip(keras_head.scores, torch_head.scores, strict=True):
        kernel = np.asarray(keras_score.kernel)[0, 0]  # (in, out)
        difference = np.abs(kernel - torch_score.weight.detach().numpy()[:, :, 0, 0].T)
        assert np.mean(difference > 1e-3) < 0.01, np.sort(difference.ravel())[-10:]
        assert difference.max() < 3 * recipe["learning_rate"], difference.max()
    same_start = seg_torch.FCNHead(num_classes=5)
    same_start.load_state_dict(start)
    heavier = seg_torch.train_fcn(
        seg_torch.FCN(same_start), nchw(taps), masks,
        **{**recipe, "background_weight": 1.0, "learning_rate": 1e-12},
    )["loss"]  # fmt: skip
    assert heavier[0] > torch_loss[0]  # the same start: the background's pixels weigh more


def test_the_ladder_climbs_in_either_framework_and_records_its_runs():
    rng = np.random.default_rng(1)
    images = rng.random((4, 64, 64, 3)).astype(np.float32)
    masks = np.zeros((4, 64, 64), np.int64)
    masks[:, 16:48, 24:40] = 2
    budget = ladder.Budget(head_epochs=1, tune_epochs=1, batch_size=2)
    keras_heads, torch_heads = ladder.twin_heads(seg_keras, seg_torch, 3)
    for kit, heads in [(seg_torch, torch_heads), (seg_keras, keras_heads)]:
        stages = kit.mobilenet_v2_stages(None)
        maps = kit.compute_maps(stages, kit.preprocess_scenes(images))
        results = ladder.climb(kit, heads, stages, maps, masks, maps, masks, budget, 3)
        assert list(results) == list(reversed(ladder.RUNGS))
        for rung, result in results.items():
            assert len(result.history["loss"]) == budget.num_epochs, rung
            assert result.masks.shape == masks.shape and result.cpu_seconds > 0
            assert result.scores.confusion.sum() == masks.size


def test_preprocess_scenes_gives_the_same_numbers_in_both_layouts():
    images = np.random.default_rng(2).random((2, 8, 8, 3)).astype(np.float32)
    from_keras = seg_keras.preprocess_scenes(images)
    from_torch = seg_torch.preprocess_scenes(images)
    np.testing.assert_allclose(from_keras, from_torch.transpose(0, 2, 3, 1), atol=1e-6)
    assert abs(from_keras.mean()) < 3 and from_keras.std() > 1  # normalized, not [0, 1]


def test_bad_arguments():
    with pytest.raises(ValueError, match="head_epochs"):
        ladder.Budget(head_epochs=0, tune_epochs=1)
    with pytest.raises(ValueError, match="rungs"):
        ladder.climb(seg_torch, {"FCN-4s": None}, [], [], [], [], [], ladder.Budget(1, 1))
