"""Every ``spectrain`` command, one module each: the one place that lists them.

A command module has ``register(subparsers)``, which adds the command's parser and sets its
handler (``parser.set_defaults(handler=...)``); the handler takes the parsed arguments and
returns the exit code; ``uses_tensorflow=False`` beside it tells the CLI not to load
TensorFlow first (see :mod:`modules.startup`). Expected user errors end in
``SystemExit("one line")``. A command module
imports only ``argparse`` and light helpers at the top and the modules that do the work inside
its handler, so ``spectrain --help`` stays fast.

To add a command, write ``modules/commands/<name>.py`` (``replay.py`` is the smallest example)
and add it to :data:`COMMAND_MODULES`; ``spectrain --help`` lists the commands in this order.
"""

from __future__ import annotations

from modules.commands import (augment, clips, compare, convert, detect, explain, export_model,
                              feature_files, inspect, jobs, learners, pack, predict, preprocess,
                              rae, replay, report, sync_tracking, train)

COMMAND_MODULES = (
    train,  # train NAME
    replay,  # replay JOB_DIR
    report,  # report JOB_DIR: (re)build the job folder's report.html
    jobs,  # jobs [MODE[/TRAINER]]
    compare,  # compare JOB_DIR JOB_DIR ... | --trainer MODE/TRAINER: one HTML page
    inspect,  # inspect raw | netcdf
    augment,  # augment NAME --pretend N
    predict,  # predict --job JOB_DIR --input ... --output DIR
    detect,  # detect --job JOB_DIR --input ... --output DIR
    export_model,  # export-model --job JOB_DIR --format savedmodel|litert|onnx --output DIR
    explain,  # explain --job JOB_DIR --method ...
    convert,  # convert panns | htsat
    clips,  # clips --annotations PATH --output DIR
    preprocess,  # preprocess --basedir DIR: auDeep's workflow from here to feature_files
    rae,  # t-rae | f-rae | ft-rae train | generate
    learners,  # mlp | svm evaluate | predict
    feature_files,  # fuse, export, import
    pack,  # pack --basedir DIR | --dataset NAME --output clips.h5
    sync_tracking,  # sync-tracking JOB_DIR
)


def register_commands(subparsers) -> None:
    """Add every command of :data:`COMMAND_MODULES` to ``spectrain``'s sub-parsers."""
    for module in COMMAND_MODULES:
        module.register(subparsers)
