import json

import pytest

from modules.parameters import ParameterError, Parameters


def test_misspelt_name_fails_at_once_naming_the_closest():
    params = Parameters()
    with pytest.raises(ParameterError, match="did you mean hop_length"):
        params.hop_lenght = 256
    with pytest.raises(ParameterError, match="did you mean n_mels"):
        params.n_mel = 64
    with pytest.raises(ParameterError, match="did you mean batch_size"):
        params.batchsize  # noqa: B018 - a misspelt read fails the same way


def test_unrelated_name_lists_valid_names():
    with pytest.raises(ParameterError, match="valid names: .*audio_length"):
        Parameters().zzzz = 1


@pytest.mark.parametrize("name, value", [("sr", "22050"), ("sr", 22050.0), ("testing", 1),
                                         ("lr", "fast"), ("shape", (64, "a")), ("mode", None)])
def test_wrong_type_fails(name, value):
    with pytest.raises(ParameterError, match=f"parameter '{name}'"):
        setattr(Parameters(), name, value)


def test_int_is_accepted_where_float_is_expected_and_lists_become_tuples():
    params = Parameters()
    params.audio_length = 3
    params.shape = [64, 216, 1]
    assert params.audio_length == 3.0 and isinstance(params.audio_length, float)
    assert params.shape == (64, 216, 1)


def test_snapshot_round_trip_through_json(tmp_path):
    params = Parameters()
    params.update(sr=16000, n_mels=40, shape=(40, 101, 1), description="x", tracking_uri=None)
    params.save(tmp_path / "params.json")
    loaded = Parameters.load(tmp_path / "params.json")
    assert loaded == params
    assert json.loads((tmp_path / "params.json").read_text())["shape"] == [40, 101, 1]


def test_old_snapshot_with_a_retired_name_still_loads_when_not_strict():
    snapshot = Parameters().snapshot() | {"retired_field": 3}
    assert Parameters.from_snapshot(snapshot, strict=False).sr == 22050
    with pytest.raises(ParameterError):
        Parameters.from_snapshot(snapshot, strict=True)


def test_frozen_copy_is_read_only_and_independent():
    params = Parameters()
    frozen = params.freeze()
    params.sr = 8000
    assert frozen.sr == 22050
    with pytest.raises(ParameterError, match="frozen"):
        frozen.sr = 16000


def test_reset_restores_defaults():
    params = Parameters()
    params.update(sr=8000, testing=True)
    params.reset()
    assert params == Parameters()
