import numpy as np
import pytest
import tensorflow as tf

from modules.parameters import Parameters
from modules.parsers import qualified_name, resolve, spec_parser, waveform_parser
from modules.pipeline import (AudioConfig, SkippedFiles, balanced_class_weights, decoded_dataset,
                              evaluation_dataset, fill_cache, one_hot_labels, training_dataset)
from tests.conftest import write_tone

AUDIO = AudioConfig(sr=8000, audio_length=1.0, step_size=1.0)


def good_files(folder, seconds=(1.0, 2.6, 0.7)):
    return [write_tone(folder / f"good{i}.wav", s, sr=16000, frequency=300 + 100 * i)
            for i, s in enumerate(seconds)]


def test_bad_files_are_skipped_with_their_reason_and_the_rest_goes_on(tmp_path, bad_audio_files):
    paths = good_files(tmp_path) + list(bad_audio_files.values())
    labels = one_hot_labels(["a", "b", "a"] + ["b"] * len(bad_audio_files), ["a", "b"])
    skipped = SkippedFiles()
    ds = decoded_dataset(paths, labels, AUDIO, skipped)
    meta = fill_cache(ds, len(paths), "decoding", progress=False)
    # 1.0 s -> 1 chunk; 2.6 s -> 2 full + 0.6 s remainder (> half a window, padded) = 3;
    # 0.7 s -> one padded chunk. Bad files give nothing.
    assert list(meta["file_index"]) == [0, 1, 1, 1, 2]
    assert list(meta["chunk_index"]) == [0, 0, 1, 2, 0]
    assert list(meta["padded"]) == [False, False, False, True, True]
    assert meta["label"].argmax(axis=1).tolist() == [0, 1, 1, 1, 0]
    reasons = dict(skipped.items())
    assert set(reasons) == {str(p) for p in bad_audio_files.values()}
    for word, path in bad_audio_files.items():
        if word != "corrupt":
            assert word in reasons[str(path)], reasons[str(path)]


def test_decoding_happens_once_then_the_cache_serves_every_epoch(tmp_path):
    paths = good_files(tmp_path)
    skipped = SkippedFiles()
    ds = decoded_dataset(paths, one_hot_labels(["a", "b", "a"], ["a", "b"]), AUDIO, skipped)
    fill_cache(ds, len(paths), "decoding", progress=False)
    for path in paths:  # if anything decoded again, these would now be skipped as missing
        path.unlink()
    parse = waveform_parser(None)
    train = training_dataset(ds, parse, batch_size=2, seed=1, n_examples=5)
    for _ in range(2):
        assert sum(int(x.shape[0]) for x, _ in train) == 5
    assert len(skipped) == 0


def test_training_batches_are_shuffled_reproducibly_and_carry_class_weights(tmp_path):
    paths = good_files(tmp_path, seconds=(1.0,) * 6)
    labels = one_hot_labels(["a", "a", "a", "a", "b", "b"], ["a", "b"])
    ds = decoded_dataset(paths, labels, AUDIO, SkippedFiles())
    meta = fill_cache(ds, len(paths), "decoding", progress=False)
    weights = balanced_class_weights(meta["label"])
    np.testing.assert_allclose(weights, [6 / (2 * 4), 6 / (2 * 2)])

    def order(seed):
        train = training_dataset(ds, waveform_parser(None), 3, seed, 6, weights)
        return [np.concatenate([w.numpy() for _, _, w in train]) for _ in range(2)]

    first, again = order(7), order(7)
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))
    assert sorted(first[0].tolist()) == sorted([0.75] * 4 + [1.5] * 2)
    assert tf.data.experimental.cardinality(
        training_dataset(ds, waveform_parser(None), 4, 7, 6)).numpy() == 2


def test_spec_parser_gives_the_front_end_image_and_keeps_labels():
    params = Parameters().update(sr=8000, n_fft=256, hop_length=128, n_mels=32).freeze()
    parse = spec_parser(params)
    audio = tf.random.stateless_normal([2, 8000], seed=[1, 2])
    labels = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    inputs, out_labels = parse(audio, labels)
    assert inputs.shape == (2, 32, 1 + 8000 // 128, 1)
    np.testing.assert_array_equal(out_labels, labels)
    params = Parameters().update(sr=8000, n_fft=256, hop_length=128, spectrogram="mfcc",
                                 n_mfcc=13).freeze()
    assert spec_parser(params)(audio, labels)[0].shape == (2, 13, 63, 1)


def test_parse_functions_are_recorded_and_resolved_by_name():
    assert resolve(qualified_name(spec_parser)) is spec_parser
    with pytest.raises(LookupError, match="cannot find parse function"):
        resolve("modules.parsers:no_such_parser")


def test_chunk_labels_and_kept_audio_come_out_per_chunk(tmp_path):
    """A labeler gives chunks of one file different labels (annotated cycles); keep_audio
    returns the chunks themselves, as decoded, for augmentation."""
    from modules.data.audio import decode_to_chunks

    paths = good_files(tmp_path, seconds=(2.0, 1.0))
    labels = one_hot_labels(["a", "b"], ["a", "b"])

    def alternating(file_index, n_chunks):
        return np.eye(2, dtype=np.float32)[np.arange(n_chunks) % 2]

    ds = decoded_dataset(paths, labels, AUDIO, SkippedFiles(), cache="none",
                         chunk_labels=alternating)
    meta = fill_cache(ds, len(paths), "decoding", progress=False, keep_audio=True)
    assert meta["label"].argmax(axis=1).tolist() == [0, 1, 0]
    expected = np.concatenate([decode_to_chunks(p, 8000, 1.0, 1.0)[0] for p in paths])
    np.testing.assert_array_equal(meta["audio"], expected)
