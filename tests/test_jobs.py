import multiprocessing as mp

import pytest

from modules.jobs import create_job_dir, find_job, list_jobs


def test_ids_increase_and_testing_jobs_share_the_sequence(tmp_path):
    first = create_job_dir(tmp_path, "esc10", "train1", testing=False)
    second = create_job_dir(tmp_path, "esc10", "train1", testing=True)
    third = create_job_dir(tmp_path, "esc10", "train1", testing=False)
    assert [j.path.name for j in (first, second, third)] == ["1", "2_testing", "3"]
    assert [j.job_id for j in list_jobs(tmp_path, "esc10", "train1")] == [1, 2, 3]


def _reserve(args):
    root, n = args
    return [create_job_dir(root, "esc10", "train1", testing=False).job_id for _ in range(n)]


def test_concurrent_launches_get_different_ids(tmp_path):
    with mp.get_context("fork").Pool(4) as pool:
        ids = sum(pool.map(_reserve, [(str(tmp_path), 5)] * 4), [])
    assert sorted(ids) == list(range(1, 21))


def test_find_job_defaults_to_latest_finished(tmp_path):
    for testing in (False, False, True):
        job = create_job_dir(tmp_path, "m", "t", testing=testing)
        (job.path / "best_model.keras").write_text("x")
    create_job_dir(tmp_path, "m", "t", testing=False)  # unfinished: no model
    assert find_job(tmp_path, "m", "t").path.name == "3_testing"
    assert find_job(tmp_path, "m", "t", testing=False).path.name == "2"
    assert find_job(tmp_path, "m", "t", job_id=1).path.name == "1"
    with pytest.raises(FileNotFoundError, match="no job 9 .*jobs there: 1, 2, 3_testing, 4"):
        find_job(tmp_path, "m", "t", job_id=9)


def test_history_epochs_read_from_1_whichever_convention_wrote_them(tmp_path):
    from modules.jobs import read_history

    old = tmp_path / "old.csv"  # Keras' CSVLogger, as jobs wrote it before: epochs from 0
    old.write_text("epoch,loss,val_loss\n0,1.0,1.1\n1,0.5,0.6\n")
    new = tmp_path / "new.csv"  # the job's own logger: epochs from 1
    new.write_text("epoch,loss,val_loss\n1,1.0,1.1\n2,0.5,0.6\n")
    assert read_history(old)["epoch"].tolist() == [1, 2]
    assert read_history(new)["epoch"].tolist() == [1, 2]
    assert old.read_text().startswith("epoch,loss,val_loss\n0,")  # never rewritten


def test_job_blocks_are_read_1_based_from_old_and_new_job_records():
    from modules.jobs import job_block_of

    assert job_block_of({"job_block": 2}) == 2
    assert job_block_of({"block": 0}) == 1  # job.json written before job_block: 0-based
    assert job_block_of({"job_block": 3, "block": 0}) == 3
    assert job_block_of({}) is None and job_block_of({"block": True}) is None
