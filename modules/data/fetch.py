"""Finding datasets on disk, and fetching ESC-10 when it is not there."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Union

from .esc_names import esc_class_folder

ESC10_REPOSITORY = "https://github.com/karolpiczak/ESC-10.git"
ESC10_COMMIT = "553c8f1"
ESC50_URL = "https://github.com/karolpiczak/ESC-50"

PathArg = Union[str, os.PathLike]


def project_root() -> Path:
    """The repository root: the folder that holds the ``modules`` package."""
    return Path(__file__).resolve().parents[2]


def shared_datasets_dir(project_root_dir: Optional[PathArg] = None) -> Path:
    """``<project root>/../shared/datasets``: read-only datasets shared between checkouts."""
    root = Path(project_root_dir) if project_root_dir is not None else project_root()
    return root.resolve().parent / "shared" / "datasets"


def resolve_data_root(data_root: PathArg = "data",
                      project_root_dir: Optional[PathArg] = None) -> Path:
    """``data_root`` as an absolute path; a relative one is taken relative to the project root
    (not the current directory, so that the result does not depend on where a job starts)."""
    data_root = Path(data_root).expanduser()
    if data_root.is_absolute():
        return data_root
    root = Path(project_root_dir) if project_root_dir is not None else project_root()
    return root.resolve() / data_root


def has_esc_class_folders(path: PathArg) -> bool:
    """Whether ``path`` is a folder with at least one ``NNN - Class name`` sub-folder."""
    path = Path(path)
    if not path.is_dir():
        return False
    return any(child.is_dir() and esc_class_folder(child.name) for child in path.iterdir())


def _run_git(arguments: list[str], what: str, target: Path) -> None:
    """Run git; on failure raise a RuntimeError that says what failed and how to do it by hand."""
    try:
        subprocess.run(
            ["git", *arguments], check=True, capture_output=True, text=True,
            stdin=subprocess.DEVNULL,
            # Never wait for a username/password prompt: fail instead.
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except subprocess.CalledProcessError as error:
        details = (error.stderr or error.stdout or "").strip().splitlines()
        details = " | ".join(details[-3:]) or "no output"
        raise RuntimeError(
            f"could not fetch ESC-10: {what} failed (exit status {error.returncode}): {details}. "
            + _manual_instructions(target)) from None


def _manual_instructions(target: Path) -> str:
    return (f"To place it by hand, get {ESC10_REPOSITORY} (commit {ESC10_COMMIT}) and put its "
            f"class folders ('001 - Dog bark' ... '010 - Fire crackling') in {target}.")


def locate_esc10(data_root: PathArg = "data", project_root: Optional[PathArg] = None,
                 repository: str = ESC10_REPOSITORY, commit: str = ESC10_COMMIT) -> Path:
    """Find ESC-10, fetching it with git if no copy exists.

    Looks, in order, in ``<project root>/../shared/datasets/ESC-10`` and ``<data_root>/ESC-10``
    (``data_root`` relative to the project root when relative), and returns the first that holds
    the ``NNN - Class name`` folders. Otherwise clones ``repository`` at ``commit`` into a
    temporary folder beside ``<data_root>/ESC-10`` and renames it into place, so an interrupted
    fetch leaves no half-made dataset behind.

    Args:
        data_root: where fetched datasets live.
        project_root: the project root; None for this checkout's.
        repository, commit: what to clone (overridable for mirrors and tests).

    Returns:
        the dataset folder.

    Raises:
        RuntimeError: git is missing or the fetch failed; the message says how to place the
            data by hand.
    """
    shared = shared_datasets_dir(project_root) / "ESC-10"
    target = resolve_data_root(data_root, project_root) / "ESC-10"
    for candidate in (shared, target):
        if has_esc_class_folders(candidate):
            return candidate

    if shutil.which("git") is None:
        raise RuntimeError(
            f"ESC-10 is neither in {shared} nor in {target}, and it cannot be fetched because "
            f"the 'git' command is not installed. " + _manual_instructions(target))
    if target.exists():
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()  # an empty folder (e.g. made by hand) is replaced by the fetch
        else:
            raise RuntimeError(
                f"{target} exists but holds no 'NNN - Class name' folders, so ESC-10 was not "
                f"fetched over it. Remove or fix it. " + _manual_instructions(target))

    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"ESC-10 not found in {shared} or {target}: fetching {repository} "
          f"(commit {commit}) into {target}", flush=True)
    staging = Path(tempfile.mkdtemp(prefix=".ESC-10.fetching-", dir=target.parent))
    try:
        _run_git(["clone", "--quiet", repository, str(staging)],
                 f"'git clone {repository}'", target)
        _run_git(["-C", str(staging), "checkout", "--quiet", commit],
                 f"'git checkout {commit}'", target)
        if not has_esc_class_folders(staging):
            raise RuntimeError(
                f"could not fetch ESC-10: {repository} at {commit} holds no 'NNN - Class name' "
                f"folders. " + _manual_instructions(target))
        try:
            os.replace(staging, target)
        except OSError:
            if not has_esc_class_folders(target):  # not just another process finishing first
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    print(f"ESC-10 is ready in {target}", flush=True)
    return target


def locate_esc50(data_root: PathArg = "data", project_root: Optional[PathArg] = None) -> Path:
    """Find ESC-50 (``meta/esc50.csv`` plus ``audio/``); it is never fetched automatically.

    Looks in ``<project root>/../shared/datasets/ESC-50`` then ``<data_root>/ESC-50``.

    Raises:
        FileNotFoundError: neither holds it; the message says where to put it.
    """
    shared = shared_datasets_dir(project_root) / "ESC-50"
    target = resolve_data_root(data_root, project_root) / "ESC-50"
    for candidate in (shared, target):
        if (candidate / "meta" / "esc50.csv").is_file():
            return candidate
    raise FileNotFoundError(
        f"ESC-50 not found (looked for meta/esc50.csv in {shared} and {target}); it is not "
        f"fetched automatically. Download {ESC50_URL} (e.g. the master archive) and unpack it "
        f"so that {target / 'meta' / 'esc50.csv'} and {target / 'audio'} exist.")
