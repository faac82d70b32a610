import numpy as np
import pytest

from modules.interpret.gradcam import default_gradcam_layer, grad_cam
from modules.models.mixednet import MixedDepthwiseConv2D, mixednet, mixednet_inverted_residual
from modules.models.mixednet._builder_checks import (
    INPUT_SHAPE, check_forward, check_save_and_load, check_sigmoid_outputs, check_training_step,
    spectrograms)

BUILDERS = [mixednet, mixednet_inverted_residual]
LAYERS = {
    mixednet: {"block1_conv", "block1_mixconv", "block1_pool", "block1_bn", "block5_mixconv",
               "block5_bn", "global_pool"},
    mixednet_inverted_residual: {"stem_conv", "stage1_block1_expand_conv",
                                 "stage1_block1_mixconv", "stage1_block1_project_bn",
                                 "stage1_block1_add", "stage2_pool", "stage5_block2_add",
                                 "head_act", "global_pool"},
}
# Graph tracing dominates the cost of a training step or a predict on CPU; three stages of the
# inverted-residual model exercise every layer type (residual adds, expansion, head) at a third
# of the cost. The forward test still builds the default configuration.
SMALL = {mixednet: {}, mixednet_inverted_residual: {"filters": (8, 16, 32)}}


@pytest.mark.parametrize("builder", BUILDERS)
def test_forward_gives_probabilities_and_stable_layer_names(builder):
    check_forward(builder, builder.__name__, LAYERS[builder])


@pytest.mark.parametrize("builder", BUILDERS)
def test_multi_label_or_one_class_gives_sigmoid(builder):
    check_sigmoid_outputs(builder)


@pytest.mark.parametrize("builder", BUILDERS)
def test_one_training_step_updates_every_weight(builder):
    check_training_step(builder, **SMALL[builder])


@pytest.mark.parametrize("builder", BUILDERS)
def test_save_and_load_give_identical_outputs(builder, tmp_path):
    check_save_and_load(builder, tmp_path, **SMALL[builder])


def test_mixednet_uses_the_configured_kernels_in_every_block():
    model = mixednet(INPUT_SHAPE, n_classes=2, filters=(6, 7), kernel_sizes=(3, 5))
    mixconvs = [layer for layer in model.layers if isinstance(layer, MixedDepthwiseConv2D)]
    assert [layer.name for layer in mixconvs] == ["block1_mixconv", "block2_mixconv"]
    assert [layer.channel_splits for layer in mixconvs] == [[3, 3], [4, 3]]


def test_inverted_residual_adds_shortcuts_only_where_channels_match():
    model = mixednet_inverted_residual(INPUT_SHAPE, n_classes=2, filters=(8, 16),
                                       blocks_per_stage=2, expand_ratio=1, head_filters=None)
    names = {layer.name for layer in model.layers}
    assert {"stage1_block1_add", "stage1_block2_add", "stage2_block2_add"} <= names
    assert "stage2_block1_add" not in names
    assert not any("expand" in name or name.startswith("head") for name in names)


@pytest.mark.parametrize("builder", BUILDERS)
def test_tiny_and_variable_length_inputs_work(builder):
    assert builder((8, 8, 1), n_classes=3)(spectrograms(shape=(8, 8, 1))).shape == (2, 3)
    model = builder((32, None, 1), n_classes=3)
    for frames in (17, 64):
        assert model(spectrograms(shape=(32, frames, 1))).shape == (2, 3)


@pytest.mark.parametrize("builder, layer", [(mixednet, "block5_bn"),
                                            (mixednet_inverted_residual, "head_act")])
def test_grad_cam_finds_the_last_feature_maps(builder, layer):
    model = builder(INPUT_SHAPE, n_classes=3)
    assert default_gradcam_layer(model) == layer
    maps = grad_cam(model, spectrograms())
    assert maps.shape == (2, *INPUT_SHAPE[:2]) and np.all(np.isfinite(maps))


@pytest.mark.parametrize("builder", BUILDERS)
def test_bad_arguments_say_what_is_wrong(builder):
    name = builder.__name__
    with pytest.raises(ValueError, match=f"{name} takes spectrogram images"):
        builder((22050,), n_classes=3)
    with pytest.raises(ValueError, match="spectrogram images"):
        builder((4, 32, 64, 1), n_classes=3)
    with pytest.raises(ValueError, match="must be positive ints"):
        builder((0, 64, 1), n_classes=3)
    for bad in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match="at least 1 class"):
            builder(INPUT_SHAPE, n_classes=bad)
    with pytest.raises(ValueError, match="filters must be a non-empty sequence"):
        builder(INPUT_SHAPE, n_classes=3, filters=())
    with pytest.raises(ValueError, match="kernel_sizes"):
        builder(INPUT_SHAPE, n_classes=3, kernel_sizes=(3, -1))
    with pytest.raises(ValueError, match="rate"):
        builder(INPUT_SHAPE, n_classes=3, dropout=1.5)


def test_too_few_channels_for_the_kernels_is_refused():
    with pytest.raises(ValueError, match="each kernel size gets a channel"):
        mixednet(INPUT_SHAPE, n_classes=3, filters=(4, 8))
    with pytest.raises(ValueError, match="each kernel size gets a channel"):
        mixednet_inverted_residual(INPUT_SHAPE, n_classes=3, filters=(4, 8), expand_ratio=1)
    with pytest.raises(ValueError, match="expand_ratio"):
        mixednet_inverted_residual(INPUT_SHAPE, n_classes=3, expand_ratio=0)
    with pytest.raises(ValueError, match="head_filters"):
        mixednet_inverted_residual(INPUT_SHAPE, n_classes=3, head_filters=0)
    with pytest.raises(ValueError, match="unknown activation"):
        mixednet_inverted_residual(INPUT_SHAPE, n_classes=3, activation="wobble")
