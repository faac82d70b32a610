"""The decoded-audio cache: the arrays of a fresh decode, invalidated by a changed file, safe
when two processes fill it at once, and used by jobs and replays (which stay IDENTICAL)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile

from modules.data import read_audio
from modules.data.audio import BadAudioError
from modules.data.decoded_cache import cache_size, read_audio_cached

ROOT = Path(__file__).resolve().parents[1]


def test_a_cached_file_is_the_array_a_fresh_decode_gives(tmp_path, esc10):
    files = sorted(esc10.rglob("*.ogg"))[:6]
    cache = tmp_path / "decoded"
    for path in files:
        fresh = read_audio(str(path), 16000)
        cold = read_audio_cached(str(path), 16000, cache)
        warm = read_audio_cached(str(path), 16000, cache)
        assert warm.dtype == np.float32 and np.array_equal(fresh, cold)
        assert np.array_equal(fresh, warm)
    assert cache_size(cache)[0] == 6
    read_audio_cached(str(files[0]), 8000, cache)  # another rate: another entry
    assert cache_size(cache)[0] == 7


def test_a_changed_file_gets_a_new_entry_and_a_damaged_entry_is_decoded_again(tmp_path):
    path = tmp_path / "clip.wav"
    cache = tmp_path / "decoded"
    soundfile.write(path, 0.5 * np.sin(np.arange(8000) / 3).astype(np.float32), 8000)
    first = read_audio_cached(str(path), 8000, cache)
    before = path.stat().st_mtime_ns
    soundfile.write(path, 0.25 * np.sin(np.arange(8000) / 7).astype(np.float32), 8000)
    # same size: the new modification time is what tells the cache (a coarse file-system clock
    # could give the old one back within the same tick)
    os.utime(path, ns=(before + 10**9, before + 10**9))
    second = read_audio_cached(str(path), 8000, cache)
    assert np.array_equal(second, read_audio(str(path), 8000)) and not np.array_equal(first,
                                                                                      second)
    assert cache_size(cache)[0] == 2
    for entry in cache.glob("*/*.npy"):
        entry.write_bytes(b"broken")
    assert np.array_equal(read_audio_cached(str(path), 8000, cache), second)


def test_bad_files_are_reported_as_without_the_cache_and_never_cached(tmp_path,
                                                                      bad_audio_files):
    cache = tmp_path / "decoded"
    for path in bad_audio_files.values():
        with pytest.raises(BadAudioError) as fresh:
            read_audio(str(path), 8000)
        with pytest.raises(BadAudioError) as cached:
            read_audio_cached(str(path), 8000, cache)
        assert cached.value.reason == fresh.value.reason
    assert cache_size(cache) == (0, 0)


def test_two_processes_filling_the_cache_at_once(tmp_path, esc10):
    files = [str(p) for p in sorted(esc10.rglob("*.ogg"))[:24]]
    (tmp_path / "files.txt").write_text("\n".join(files))
    worker = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from modules.data.decoded_cache import read_audio_cached
        for path in Path({str(tmp_path / 'files.txt')!r}).read_text().splitlines():
            read_audio_cached(path, 22050, Path({str(tmp_path / 'decoded')!r}))
        """)
    workers = [subprocess.Popen([sys.executable, "-c", worker]) for _ in range(2)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    assert cache_size(tmp_path / "decoded")[0] == len(files)
    assert not list((tmp_path / "decoded").glob("*/.*.tmp"))  # no half-written leftovers
    for path in files[:5]:
        assert np.array_equal(read_audio_cached(path, 22050, tmp_path / "decoded"),
                              read_audio(path, 22050))


@pytest.mark.slow
def test_jobs_fill_the_cache_and_replays_stay_identical(tmp_path, esc10, capsys):
    from modules.cli import main, run_trainer
    from modules.replay import replay_job

    trainer = tmp_path / "trainers" / "cache" / "train1.py"
    trainer.parent.mkdir(parents=True)
    trainer.write_text(textwrap.dedent("""
        import functools
        from modules.models import baseline_cnn
        from modules.parameters import parameters
        from modules.parsers import spec_parser
        from modules.training import launch_job

        parameters.sr = 8000
        parameters.audio_length = 2.5
        parameters.step_size = 2.5
        parameters.n_fft = 256
        parameters.hop_length = 256
        parameters.n_mels = 16
        parameters.testing_files_per_class = 2
        parameters.n_example_plots = 0
        parameters.n_gradcam = 0
        launch_job({"Esc10": 1}, functools.partial(baseline_cnn, filters=(4,)), [], [],
                   spec_parser)
        """))
    cache = tmp_path / "cache"
    run_trainer(trainer, testing=True, cache_root=str(cache), progress=False)
    entries = cache_size(cache / "decoded")[0]
    assert entries == 40  # 2 files per class and part, 10 classes
    job = cache / "cache" / "train1" / "1_testing"
    assert replay_job(job, progress=False).identical
    assert cache_size(cache / "decoded")[0] == entries  # the replay read the cache
    capsys.readouterr()
    main(["jobs", "--cache-root", str(cache)])
    assert f"decoded-audio cache: {entries} files" in capsys.readouterr().out
