"""``spectrain train NAME --block N --cross-validate``: one block of a trainer file, as a k-fold
run, without editing the file (how the ESC-10 benchmark runs train6's block 2 over 5 folds)."""

import textwrap

import pytest

from modules.cli import run_trainer

TRAINER = """
from modules.models import baseline_cnn
from modules.parameters import parameters
from modules.training import launch_job

parameters.split = "random"
launch_job({"NoSuchDatasetOne": 1}, baseline_cnn)  # block 1: would fail on its dataset
launch_job({"NoSuchDatasetTwo": 1}, baseline_cnn)  # block 2
"""


@pytest.fixture
def trainer(tmp_path):
    path = tmp_path / "trainers" / "opts" / "train1.py"
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(TRAINER))
    return path


def test_block_runs_only_that_block_and_cross_validate_applies_to_it(trainer, tmp_path, capsys):
    # Block 1 is skipped (its unknown dataset never loads); block 2 runs as a cross-validation,
    # which refuses the trainer's random split before loading anything.
    with pytest.raises(ValueError, match="cross_validate needs split 'fold'"):
        run_trainer(trainer, block=2, cross_validate=True, cache_root=str(tmp_path / "cache"),
                    progress=False)
    assert "job block 1: skipped (--block 2)" in capsys.readouterr().out


def test_a_block_the_file_does_not_have_is_refused(trainer, tmp_path):
    with pytest.raises(SystemExit, match="has 2 job block"):
        run_trainer(trainer, block=3, cache_root=str(tmp_path / "cache"), progress=False)


def test_options_do_not_outlive_the_run(trainer, tmp_path):
    from modules import training

    with pytest.raises(SystemExit):
        run_trainer(trainer, block=3, cross_validate=True, cache_root=str(tmp_path / "cache"))
    assert training.launch_options.block is None
    assert training.launch_options.cross_validate is False


def test_the_esc10_recipe_settings_are_valid_and_importing_it_launches_nothing():
    # tests/benchmarks/esc10_cv.py imports train8's settings into its ablation trainers.
    from modules import training
    from modules.augment import build_augmentations
    from modules.parameters import parameters
    from trainers.esc10 import train8

    assert training.blocks_launched(train8.__file__) == 0
    try:
        train8.recipe_settings()
        assert parameters.lr_schedule == "cosine" and parameters.target_metric == "loss"
        assert parameters.trim_silence_db is not None and parameters.random_crops
        assert train8.MODEL((parameters.n_mels, 108, 1), 10).output_shape == (None, 10)
        assert len(build_augmentations(train8.augmentations(), [])) == 2
        assert len(build_augmentations(train8.augmentations(mixup=0), [])) == 1
    finally:
        parameters.reset()
