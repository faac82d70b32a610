"""The pieces of resuming, one at a time (the real kill is in test_resume.py): the saved state of
a model, its optimizer and callbacks; the history cut back; liveness of a job's process; which
job ``--resume`` goes on with."""

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from modules.callbacks import BestModelCheckpoint
from modules.resume import (RESUME_FILE, Heartbeat, ResumeError, ResumeState,
                            check_same_parameters, displayed_status, find_resumable,
                            process_record, save_resume_state, truncate_history,
                            write_job_record)


def dropout_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = keras.layers.Dropout(0.5)(keras.layers.Dense(8)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    model.compile("adam", "mse")
    return model


def test_the_state_holds_weights_dropout_seeds_optimizer_and_callbacks(tmp_path):
    x = np.random.default_rng(0).random((16, 4), np.float32)
    y = np.random.default_rng(1).random((16, 2), np.float32)
    trained = dropout_model()
    trained.fit(x, y, epochs=2, verbose=0)
    stopping = keras.callbacks.EarlyStopping(patience=3)
    stopping.wait, stopping.best, stopping.best_epoch = 2, 0.25, 1
    checkpoint = BestModelCheckpoint(tmp_path / "best.keras", "loss", "min")
    checkpoint.best, checkpoint.best_epoch = float(np.float32(0.125)), 1
    save_resume_state(tmp_path / RESUME_FILE, trained, 2, False, [stopping, checkpoint, object()])

    state = ResumeState.read(tmp_path)
    assert state.epochs_done == 2 and not state.stopped
    fresh = dropout_model(seed=1)  # other initial weights and dropout seed
    state.restore_model(fresh)
    for saved, restored in zip(trained.variables + trained.optimizer.variables,
                               fresh.variables + fresh.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(restored))
    assert any("seed_generator" in v.path for v in fresh.variables)  # dropout's state came back
    # One more epoch from either gives the same weights: nothing of the state is missing.
    trained.fit(x, y, epochs=1, verbose=0, shuffle=False)
    fresh.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(trained.variables, fresh.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    stopping2, checkpoint2 = keras.callbacks.EarlyStopping(), BestModelCheckpoint(
        tmp_path / "best.keras", "loss", "min")
    state.restore_callbacks([stopping2, checkpoint2, object()])
    assert (stopping2.wait, stopping2.best, stopping2.best_epoch) == (2, 0.25, 1)
    assert (checkpoint2.best, checkpoint2.best_epoch) == (0.125, 1)


def test_a_state_of_another_model_is_refused(tmp_path):
    save_resume_state(tmp_path / RESUME_FILE, dropout_model(), 1, False, [])
    inputs = keras.Input((4,))
    other = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    other.compile("adam", "mse")
    with pytest.raises(ValueError, match="does not fit this model"):
        ResumeState.read(tmp_path).restore_model(other)


def test_the_history_is_cut_back_to_the_saved_epochs(tmp_path):
    history = tmp_path / "history.csv"
    history.write_text("epoch,loss\n1,1.0\n2,0.5\n3,0.4\n4,0.3")  # epoch 4 half written
    truncate_history(history, 2)
    assert history.read_text() == "epoch,loss\n1,1.0\n2,0.5\n"


def test_a_job_whose_process_is_gone_shows_as_died():
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True)
    gone = {"status": "running", "host": socket.gethostname(), "pid": int(finished.stdout)}
    assert displayed_status(gone) == "died"
    alive = {"status": "running", **process_record()}
    assert displayed_status(alive) == "running"
    # A pid now used by another process (its start time differs) is not the job's.
    assert displayed_status({**alive, "pid_started": "1"}) == "died"
    old = (dt.datetime.now() - dt.timedelta(hours=1)).isoformat(timespec="seconds")
    elsewhere = {"status": "running", "host": "another-machine", "pid": 1}
    assert displayed_status({**elsewhere, "heartbeat": old}) == "died"
    assert displayed_status({**elsewhere, "heartbeat": dt.datetime.now().isoformat()}) == "running"
    assert displayed_status({**gone, "status": "finished"}) == "finished"


def test_the_heartbeat_refreshes_job_json_while_the_job_runs(tmp_path):
    info = {"status": "running", **process_record()}
    info["heartbeat"] = "2000-01-01T00:00:00"
    (tmp_path / "job.json").write_text(json.dumps(info))
    with Heartbeat(tmp_path, seconds=0.05):
        time.sleep(0.3)
    beat = json.loads((tmp_path / "job.json").read_text())["heartbeat"]
    assert beat.startswith(str(dt.date.today()))
    write_job_record(tmp_path, {**info, "status": "finished"})
    assert json.loads((tmp_path / "job.json").read_text())["status"] == "finished"


def write_job(root, name, **info):
    folder = root / "esc10" / "t" / name
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({"block": 0, **info}))
    return folder


def test_resume_goes_on_with_the_latest_unfinished_job_of_the_block(tmp_path):
    assert find_resumable(tmp_path, "esc10", "t", 1, testing=False) == ("new", None)
    write_job(tmp_path, "1", status="finished")  # written before job_block: 0-based "block"
    assert find_resumable(tmp_path, "esc10", "t", 1, False)[0] == "finished"
    died = write_job(tmp_path, "2", status="running", host=socket.gethostname(), pid=2 ** 22 + 7,
                     job_block=1)
    write_job(tmp_path, "3_testing", status="interrupted")  # a testing job: another sequence
    write_job(tmp_path, "4", status="finished", block=1)  # block 2, as an old job.json says it
    write_job(tmp_path, "6", status="finished", job_block=2)
    assert find_resumable(tmp_path, "esc10", "t", 1, False) == ("resume", died)
    assert find_resumable(tmp_path, "esc10", "t", 2, False) == ("finished", tmp_path / "esc10"
                                                                / "t" / "6")
    running = write_job(tmp_path, "5", status="running", host=socket.gethostname(),
                        pid=os.getpid())
    assert find_resumable(tmp_path, "esc10", "t", 1, False) == ("running", running)


def test_resuming_with_other_parameters_is_refused_naming_them(tmp_path):
    (tmp_path / "params.json").write_text(json.dumps({"lr": 0.001, "n_mels": 64,
                                                      "description": "a"}))
    check_same_parameters(tmp_path, {"lr": 0.001, "n_mels": 64, "description": "b"})
    with pytest.raises(ResumeError, match=r"n_mels 64 -> 128.*without --resume"):
        check_same_parameters(tmp_path, {"lr": 0.001, "n_mels": 128})
