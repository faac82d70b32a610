import keras
import numpy as np
import pytest

from modules.models.mixednet.layers import MixedDepthwiseConv2D, TimeSlices, split_channels


def test_split_channels_gives_the_remainder_to_the_first_group():
    assert split_channels(18, 5) == [6, 3, 3, 3, 3]
    assert split_channels(5, 5) == [1, 1, 1, 1, 1]
    assert split_channels(7, 1) == [7]
    with pytest.raises(ValueError, match="cannot split 4 channels into 5 kernel groups"):
        split_channels(4, 5)


@pytest.mark.parametrize("strides", [1, 2])
def test_mixconv_equals_one_depthwise_conv_per_channel_group(strides):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 11, 18)).astype("float32")
    layer = MixedDepthwiseConv2D((3, 4, 5, 6, 7), strides=strides, depth_multiplier=2,
                                 use_bias=True, bias_initializer="random_normal")
    y = keras.ops.convert_to_numpy(layer(x))
    assert layer.channel_splits == [6, 3, 3, 3, 3]
    assert y.shape == layer.compute_output_shape(x.shape) == (2, -(-9 // strides),
                                                              -(-11 // strides), 36)

    bias = keras.ops.convert_to_numpy(layer.bias)
    expected, start = [], 0
    for kernel_size, size, kernel in zip((3, 4, 5, 6, 7), layer.channel_splits,
                                         layer.depthwise_kernels):
        reference = keras.layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same",
                                                 depth_multiplier=2, use_bias=True)
        reference.build((None, 9, 11, size))
        reference.set_weights([keras.ops.convert_to_numpy(kernel),
                               bias[2 * start:2 * (start + size)]])
        expected.append(keras.ops.convert_to_numpy(reference(x[..., start:start + size])))
        start += size
    np.testing.assert_allclose(y, np.concatenate(expected, axis=-1), rtol=1e-6, atol=1e-6)


def test_mixconv_takes_rectangular_kernels_and_a_single_kernel():
    x = np.ones((1, 8, 10, 4), "float32")
    layer = MixedDepthwiseConv2D([(1, 3), [5, 1]])
    assert layer(x).shape == (1, 8, 10, 4)
    assert [tuple(k.shape) for k in layer.depthwise_kernels] == [(1, 3, 2, 1), (5, 1, 2, 1)]
    assert MixedDepthwiseConv2D([3])(x).shape == (1, 8, 10, 4)


def test_mixconv_config_round_trip_keeps_config_and_outputs():
    layer = MixedDepthwiseConv2D((3, 5), strides=(1, 2), depth_multiplier=2, use_bias=True,
                                 depthwise_regularizer=keras.regularizers.L2(1e-3),
                                 name="mix")
    x = np.random.default_rng(1).normal(size=(2, 6, 8, 4)).astype("float32")
    y = layer(x)
    clone = MixedDepthwiseConv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone(x)),
                                  keras.ops.convert_to_numpy(y))
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(restored, MixedDepthwiseConv2D) and restored.kernel_sizes == ((3, 3), (5, 5))


def test_mixconv_bad_arguments_say_what_is_wrong():
    for bad in ([], "35", (3, 0), (3, 2.5), (3, True), ((3, 3, 3),)):
        with pytest.raises(ValueError, match="kernel_sizes"):
            MixedDepthwiseConv2D(bad)
    with pytest.raises(ValueError, match="strides"):
        MixedDepthwiseConv2D(strides=0)
    with pytest.raises(ValueError, match="depth_multiplier"):
        MixedDepthwiseConv2D(depth_multiplier=0)
    with pytest.raises(ValueError, match="every kernel size needs at least one channel"):
        MixedDepthwiseConv2D((3, 4, 5, 6, 7))(np.ones((1, 8, 8, 4), "float32"))
    with pytest.raises(ValueError):
        MixedDepthwiseConv2D()(np.ones((8, 8, 4), "float32"))  # no batch axis


@pytest.mark.parametrize("frames", [9, 10])
def test_time_slices_cut_consecutive_slices_and_drop_the_remainder(frames):
    x = np.random.default_rng(2).normal(size=(2, 5, frames, 3)).astype("float32")
    layer = TimeSlices(3)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == layer.compute_output_shape(x.shape) == (2, 3, 5, 3, 3)
    for i in range(3):
        np.testing.assert_array_equal(y[:, i], x[:, :, 3 * i:3 * i + 3, :])


def test_time_slices_config_round_trip_and_bad_arguments():
    layer = TimeSlices(6, name="slices")
    clone = TimeSlices.from_config(layer.get_config())
    assert clone.n_sequences == 6 and clone.get_config() == layer.get_config()
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="n_sequences must be a positive int"):
            TimeSlices(bad)
    with pytest.raises(ValueError, match="cannot cut 3 frames into 4 slices"):
        TimeSlices(4)(np.ones((1, 5, 3, 1), "float32"))
