import numpy as np
import pytest
import soundfile

from modules.cli import find_trainer, list_jobs_table, main
from modules.job_folder import JobFolderError


def test_find_trainer_by_name_and_clear_errors(capsys):
    assert find_trainer("train1").as_posix().endswith("trainers/esc10/train1.py")
    assert "also elephants/train1" in capsys.readouterr().err  # train1 is in two modes
    assert find_trainer("esc10/train1") == find_trainer("train1")
    assert find_trainer("elephants/train1").as_posix().endswith("trainers/elephants/train1.py")
    with pytest.raises(SystemExit, match="no trainer 'train999'.*esc10/train1"):
        find_trainer("train999")


def test_job_only_goes_with_validation_only():
    with pytest.raises(SystemExit, match="--job only goes with --validation-only"):
        main(["train", "train1", "--job", "3"])


def test_inspect_raw_lists_durations_rates_and_unreadable_files(tmp_path, capsys, bad_audio_files):
    for label, seconds, sr in (("cats", 1.0, 16000), ("cats", 2.0, 16000), ("dogs", 1.0, 22050)):
        folder = tmp_path / "data" / label
        folder.mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / f"{label}{seconds}.wav", np.full(int(seconds * sr), 0.1, "float32"), sr)
    (tmp_path / "data" / "dogs" / "empty.wav").write_bytes(b"")
    assert main(["inspect", "raw", "--basedir", str(tmp_path / "data"),
                 "--output", str(tmp_path / "files.csv")]) == 0
    out = capsys.readouterr().out
    assert "16000" in out and "22050" in out and "cats" in out and "dogs" in out
    assert "empty.wav" in out and "empty" in out
    assert (tmp_path / "files.csv").read_text().count("\n") == 5


def test_inspect_raw_prints_the_layout_how_it_was_decided_and_what_it_could_not_place(
        tmp_path, capsys):
    # UrbanSound8K as released (its README): metadata/UrbanSound8K.csv with the header
    # slice_file_name,fsID,start,end,salience,fold,classID,class; audio/fold1..fold10/, clips
    # named [fsID]-[classID]-[occurrenceID]-[sliceID].wav.
    root = tmp_path / "UrbanSound8K"
    lines = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    for name, fold, class_id, label in (("100032-3-0-0.wav", 5, 3, "dog_bark"),
                                        ("100648-1-0-0.wav", 10, 1, "car_horn")):
        lines.append(f"{name},{name.split('-')[0]},0.0,0.3,1,{fold},{class_id},{label}")
        (root / "audio" / f"fold{fold}").mkdir(parents=True)
        soundfile.write(root / "audio" / f"fold{fold}" / name, np.full(800, 0.1, "float32"), 8000)
    lines.append("7061-6-0-0.wav,7061,0.0,4.0,1,11,6,gun_shot")  # line 4: no fold 11
    (root / "metadata").mkdir()
    (root / "metadata" / "UrbanSound8K.csv").write_text("\n".join(lines) + "\n")
    soundfile.write(root / "audio" / "fold5" / "stray.wav", np.full(800, 0.1, "float32"), 8000)
    assert main(["inspect", "raw", "--basedir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "Layout: urbansound8k" in out and "the only specific layout that fits" in out
    assert "Folds: 5: 1, 10: 1" in out and "Groups: 2 distinct" in out
    assert "car_horn" in out and "dog_bark" in out and "gun_shot" not in out.split("Rows")[0]
    assert "Audio files not placed (1)" in out and "audio/fold5/stray.wav" in out
    assert "UrbanSound8K.csv, line 4: fold must be 1-10" in out


def test_jobs_table_without_jobs(tmp_path):
    assert list_jobs_table(tmp_path, None) == "no jobs found"


def test_replay_of_a_folder_that_is_no_finished_job_is_one_line(tmp_path):
    (tmp_path / "job.json").write_text("{}")
    with pytest.raises(SystemExit, match=r"spectrain replay: .* is not a finished job folder: "
                                         r"missing params.json, validation.csv, best_model.keras"):
        main(["replay", str(tmp_path)])
    with pytest.raises(SystemExit, match="is not a job folder"):
        main(["replay", str(tmp_path / "nothing")])


def test_inspect_raw_refuses_a_folder_name_that_is_no_class_in_one_line(tmp_path):
    # UrbanSound8K without its metadata: audio/fold1/ must not become a class "fold1"
    folder = tmp_path / "UrbanSound8K" / "audio" / "fold1"
    folder.mkdir(parents=True)
    soundfile.write(folder / "100032-3-0-0.wav", np.full(800, 0.1, "float32"), 8000)
    with pytest.raises(SystemExit, match=r"^spectrain inspect raw: .*layout=") as caught:
        main(["inspect", "raw", "--basedir", str(tmp_path / "UrbanSound8K" / "audio")])
    assert "\n" not in str(caught.value)
    assert main(["inspect", "raw", "--basedir", str(tmp_path / "UrbanSound8K" / "audio"),
                 "--layout", "class_folders"]) == 0


def test_debug_shows_the_traceback_of_a_user_error(tmp_path, capsys):
    with pytest.raises(SystemExit, match="--job only goes with --validation-only"):
        main(["train", "train1", "--job", "3"])
    assert "Traceback" not in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--job only goes with --validation-only"):
        main(["--debug", "train", "train1", "--job", "3"])
    err = capsys.readouterr().err
    assert "Traceback" in err and "modules/commands/train.py" in err
    # a user error raised by the library: one line, or with --debug the exception itself
    with pytest.raises(SystemExit, match=r"^spectrain replay: .*nothing is not a job folder"):
        main(["replay", str(tmp_path / "nothing")])
    with pytest.raises(JobFolderError, match="is not a job folder"):
        main(["--debug", "replay", str(tmp_path / "nothing")])


def test_a_bug_keeps_its_traceback(tmp_path):
    # anything that is no user error (here a RuntimeError in a trainer) is not turned into
    # one line: Python shows its traceback
    trainer = tmp_path / "trainers" / "bugs" / "train8.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text("raise RuntimeError('a bug in the trainer')\n")
    with pytest.raises(RuntimeError, match="a bug in the trainer"):
        main(["train", str(trainer), "--cache-root", str(tmp_path / "cache")])
