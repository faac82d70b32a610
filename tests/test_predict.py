"""`spectrain predict`: a finished classification job over new recordings of any length.

One real job (three ESC-10 classes, fold 1 held out) is trained once for the module; a long
recording is the held-out clips one after another, so every window has a known class.
"""

from __future__ import annotations

import json
import shutil
import textwrap

import numpy as np
import pandas as pd
import pytest
import soundfile

from modules.cli import main, run_trainer
from modules.data import load_esc_folders, read_audio
from modules.inference import predict_with_job

CLASSES = ["Dog bark", "Rooster", "Rain"]
SR = 8000


@pytest.fixture(scope="module")
def job(tmp_path_factory, esc10_module):
    root = tmp_path_factory.mktemp("predict")
    table = load_esc_folders(esc10_module)
    table[table["label"].isin(CLASSES)][["path", "label", "fold"]].to_csv(root / "three.csv",
                                                                           index=False)
    trainer = root / "trainers" / "three" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent(f"""
        import functools
        from modules.data import register_dataset
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job

        register_dataset("Three", {str(root / 'three.csv')!r})
        parameters.sr = {SR}
        parameters.audio_length = 2.5
        parameters.step_size = 2.5
        parameters.n_fft = 512
        parameters.hop_length = 256
        parameters.n_mels = 32
        parameters.n_epochs = 25
        parameters.batch_size = 16
        parameters.validation_fold = 1
        parameters.n_example_plots = 0
        parameters.n_gradcam = 0
        launch_job({{"Three": 1}}, functools.partial(baseline_cnn, filters=(8, 16, 32)), [], [],
                   spec_parser)
        """))
    run_trainer(trainer, cache_root=str(root / "cache"), progress=False)
    return root / "cache" / "three" / "train1" / "1"


@pytest.fixture(scope="module")
def esc10_module():
    from tests.conftest import ESC10

    if not ESC10.is_dir():
        pytest.skip(f"ESC-10 not found at {ESC10}")
    return ESC10


@pytest.mark.slow
def test_predict_reproduces_the_jobs_predictions_and_reads_a_long_recording(job, tmp_path):
    assert not (job / "gradcam").exists()  # n_gradcam = 0 asks for no maps, and warns of none
    validation = pd.read_csv(job / "validation.csv")
    files = predict_with_job(job, list(validation["path"]), tmp_path / "validation",
                             progress=False)
    windows = pd.read_csv(tmp_path / "validation" / "windows.csv")
    recorded = pd.read_csv(job / "predictions.csv")
    recorded["start"] = recorded["chunk_index"] * 2.5
    both = recorded.merge(windows, left_on=["path", "start"], right_on=["file", "start"],
                          suffixes=("", "_new"))
    assert len(both) == len(recorded) == len(windows)  # 5 s clips: two whole windows each
    columns = [f"p_{name}" for name in json.loads((job / "job.json").read_text())["class_names"]]
    # the same chunks through the same front end and model: the same numbers, to the 9
    # significant digits both files keep
    assert np.array_equal(both[columns].to_numpy(), both[[c + "_new" for c in columns]].to_numpy())
    clips = recorded.groupby("path")[columns].mean().idxmax(axis=1).str.removeprefix("p_")
    assert files.set_index("file")["predicted"].to_dict() == clips.to_dict()

    # a long recording: the held-out clips one after another, 2 windows each
    order = np.random.default_rng(0).permutation(len(validation))
    audio = np.concatenate([read_audio(validation["path"][i], SR) for i in order])
    long = tmp_path / "long.wav"
    soundfile.write(long, audio, SR, subtype="FLOAT")
    assert main(["predict", "--job", str(job), "--input", str(long), "--output",
                 str(tmp_path / "long"), "--no-progress"]) == 0
    windows = pd.read_csv(tmp_path / "long" / "windows.csv")
    truth = np.repeat(validation["label"].to_numpy()[order], 2)
    predicted = windows[columns].to_numpy().argmax(axis=1)
    names = [c.removeprefix("p_") for c in columns]
    right = np.mean([names[p] == t for p, t in zip(predicted, truth)])
    assert len(windows) == 2 * len(validation) and right >= 0.8, right
    assert np.allclose(windows["end"] - windows["start"], 2.5)
    from modules.sed.annotations import read_annotations

    selections = read_annotations(tmp_path / "long" / "windows.selections.txt",
                                  audio_root=tmp_path / "long")
    assert set(selections["file"]) == {str(long)} and set(selections["label"]) <= set(names)
    [row] = pd.read_csv(tmp_path / "long" / "files.csv").to_dict(orient="records")
    assert row["windows"] == len(windows) and row["duration_s"] == pytest.approx(
        len(audio) / SR)


@pytest.mark.slow
def test_predict_skips_bad_files_and_refuses_in_one_line(job, tmp_path, bad_audio_files,
                                                         capsys):
    short = tmp_path / "short.wav"  # shorter than a window: one padded window
    soundfile.write(short, 0.3 * np.sin(np.arange(SR) / 5).astype(np.float32), SR)
    inputs = [str(short), *map(str, bad_audio_files.values())]
    files = predict_with_job(job, inputs, tmp_path / "out", progress=False)
    assert files["file"].tolist() == [str(short)] and files["windows"].tolist() == [1]
    skipped = pd.read_csv(tmp_path / "out" / "skipped.tsv", sep="\t")
    assert set(skipped["file"]) == set(map(str, bad_audio_files.values()))
    for word, path in bad_audio_files.items():  # libsndfile names the corrupt Ogg variously
        if word != "corrupt":
            assert word in skipped.set_index("file")["reason"][str(path)]
    windows = pd.read_csv(tmp_path / "out" / "windows.csv")
    assert windows["file"].tolist() == [str(short)] and windows["end"][0] == pytest.approx(1.0)

    def one_line(argv) -> str:
        with pytest.raises(SystemExit) as caught:
            main(["predict", *argv, "--no-progress"])
        assert "\n" not in str(caught.value), caught.value
        return str(caught.value)

    assert "refusing to overwrite" in one_line(["--job", str(job), "--input", str(short),
                                                "--output", str(tmp_path / "out")])
    assert "is not a job folder" in one_line(["--job", str(tmp_path / "nothing"), "--input",
                                              str(short), "--output", str(tmp_path / "o1")])
    unfinished = tmp_path / "unfinished"
    shutil.copytree(job, unfinished)
    info = json.loads((unfinished / "job.json").read_text())
    (unfinished / "job.json").write_text(json.dumps({**info, "status": "running"}))
    assert "did not finish" in one_line(["--job", str(unfinished), "--input", str(short),
                                         "--output", str(tmp_path / "o2")])
    (unfinished / "job.json").write_text(json.dumps(info))
    (unfinished / "best_model.keras").write_bytes(b"not a keras file")
    assert "best_model.keras is damaged" in one_line(
        ["--job", str(unfinished), "--input", str(short), "--output", str(tmp_path / "o3")])
    assert "takes one number or CLASS=NUMBER" in one_line(
        ["--job", str(job), "--input", str(short), "--output", str(tmp_path / "o4"),
         "--threshold", "Dog=x"])
    assert "unknown class(es) Cat" in one_line(
        ["--job", str(job), "--input", str(short), "--output", str(tmp_path / "o5"),
         "--threshold", "Cat=0.4"])


@pytest.mark.slow
def test_embeddings_are_an_audeep_feature_set_that_mlp_evaluate_trains_on(job, tmp_path,
                                                                          capsys):
    import xarray

    manifest = job.parents[3] / "three.csv"  # the job's dataset: path, label, fold
    table = pd.read_csv(manifest)
    subset = table.groupby(["label", "fold"]).head(2)  # 2 files per class and fold: 30 files
    assert main(["predict", "--job", str(job), "--input", *subset["path"], "--output",
                 str(tmp_path / "out"), "--embeddings", "--labels-from", str(manifest),
                 "--no-progress"]) == 0
    with xarray.open_dataset(tmp_path / "out" / "embeddings.nc") as data:
        assert data.sizes["instance"] == 2 * len(subset)  # two windows per 5 s clip
        assert data["features"].dims == ("instance", "generated")
        assert data.sizes["generated"] == 32  # baseline_cnn's pooled features (last filters)
        assert data.sizes["fold"] == 5
        assert set(data["label_nominal"].values) == set(CLASSES)
        assert json.loads(data.attrs["label_map"]) == [["Dog bark", 0], ["Rain", 1],
                                                       ["Rooster", 2]]
    capsys.readouterr()
    assert main(["mlp", "evaluate", "--input", str(tmp_path / "out" / "embeddings.nc"),
                 "--cross-validate", "--num-epochs", "30", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    accuracy = float(printed.split("cross validation accuracy:")[1].split("%")[0]) / 100
    # chance is 0.33; the job's model trained on folds 2-5, so this shows the feature set works
    # end to end, not how well embeddings generalise
    assert accuracy > 0.6, printed
    with pytest.raises(SystemExit, match="--labels-from labels the embeddings"):
        main(["predict", "--job", str(job), "--input", subset["path"].iloc[0], "--output",
              str(tmp_path / "o"), "--labels-from", str(manifest)])


@pytest.mark.parametrize("trim", [-60.0, None])
def test_predict_cuts_the_windows_a_job_was_evaluated_on(tmp_path, trim):
    # Windows half a window apart, as chunk_audio cuts them (every full one; a padded tail
    # only past half a window). parameters.trim_silence_db: from the file's loud span, with
    # the file's own start times.
    from modules.data.audio import chunk_audio, trim_silence
    from modules.prediction import PredictionSettings, predict_files

    rng = np.random.default_rng(0)
    lengths = {"short.wav": 0.6, "long.wav": 3.3}
    for name, seconds in lengths.items():
        event = (0.3 * rng.standard_normal(int(seconds * SR))).astype(np.float32)
        padded = np.r_[np.zeros(int(0.7 * SR)), event, np.zeros(SR)].astype(np.float32)
        soundfile.write(tmp_path / name, padded, SR, subtype="FLOAT")

    def scores(windows):  # a stand-in model: two numbers of each window, as probabilities
        energy = np.abs(np.asarray(windows)).sum(axis=1)
        return np.stack([energy, np.ones_like(energy)], axis=1) / (energy[:, None] + 1.0)

    settings = PredictionSettings(sr=SR, window_seconds=1.0, hop_seconds=0.5, classes=("a", "b"),
                                  thresholds=(0.5, 0.5), trim_silence_db=trim)
    predict_files([tmp_path / name for name in lengths], scores, settings, tmp_path / "out",
                  progress=False)
    windows = pd.read_csv(tmp_path / "out" / "windows.csv")
    for name in lengths:
        trimmed = trim_silence(read_audio(tmp_path / name, SR), trim)
        chunks, _ = chunk_audio(trimmed, SR, 1.0, 0.5)
        mine = windows[windows["file"] == str(tmp_path / name)]
        np.testing.assert_allclose(mine[["p_a", "p_b"]].to_numpy(), scores(chunks), rtol=1e-6)
        first = 0.7 if trim else 0.0  # the file's own time
        assert mine["start"].iloc[0] == pytest.approx(first, abs=2 / SR)
