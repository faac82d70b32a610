import pytest

from modules.models.mixednet import TimeSlices, time_distributed_crnn
from modules.models.mixednet._builder_checks import (
    INPUT_SHAPE, check_forward, check_save_and_load, check_sigmoid_outputs, check_training_step,
    spectrograms)

LAYERS = {"time_slices", "slice_block1_conv", "slice_block3_pool", "slice_global_pool",
          "bilstm1", "bilstm2"}


def test_forward_gives_probabilities_and_stable_layer_names():
    check_forward(time_distributed_crnn, "time_distributed_crnn", LAYERS)


def test_multi_label_or_one_class_gives_sigmoid():
    check_sigmoid_outputs(time_distributed_crnn)


def test_one_training_step_updates_every_weight():
    check_training_step(time_distributed_crnn)


def test_save_and_load_give_identical_outputs(tmp_path):
    check_save_and_load(time_distributed_crnn, tmp_path)


def test_slices_feed_one_shared_cnn_and_the_lstms():
    model = time_distributed_crnn((32, 66, 1), n_classes=2, n_sequences=3, filters=(8, 16),
                                  lstm_units=12)
    slices = model.get_layer("time_slices")
    assert isinstance(slices, TimeSlices) and slices.output.shape == (None, 3, 32, 22, 1)
    assert model.get_layer("slice_global_pool").output.shape == (None, 3, 16)
    assert model.get_layer("bilstm1").output.shape == (None, 3, 24)
    assert model.get_layer("bilstm2").output.shape == (None, 24)
    assert model.get_layer("slice_block1_conv").layer.name == "block1_conv"


def test_frames_that_do_not_divide_and_variable_length_inputs_work():
    model = time_distributed_crnn((32, 63, 1), n_classes=3)  # 3 frames dropped
    assert model.get_layer("time_slices").output.shape == (None, 4, 32, 15, 1)
    assert model(spectrograms(shape=(32, 63, 1))).shape == (2, 3)
    model = time_distributed_crnn((32, None, 1), n_classes=3)
    for frames in (9, 64):
        assert model(spectrograms(shape=(32, frames, 1))).shape == (2, 3)


def test_bad_arguments_say_what_is_wrong():
    name = "time_distributed_crnn"
    with pytest.raises(ValueError, match=f"{name} takes spectrogram images"):
        time_distributed_crnn((22050,), n_classes=3)
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="at least 1 class"):
            time_distributed_crnn(INPUT_SHAPE, n_classes=bad)
    with pytest.raises(ValueError, match="n_sequences must be a positive int"):
        time_distributed_crnn(INPUT_SHAPE, n_classes=3, n_sequences=0)
    with pytest.raises(ValueError, match="cannot cut 3 frames into 4 slices"):
        time_distributed_crnn((32, 3, 1), n_classes=3)
    with pytest.raises(ValueError, match="lstm_units"):
        time_distributed_crnn(INPUT_SHAPE, n_classes=3, lstm_units=0)
    with pytest.raises(ValueError, match="filters"):
        time_distributed_crnn(INPUT_SHAPE, n_classes=3, filters=(16, 0))
