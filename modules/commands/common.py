"""What several commands share: the one-line user error and the feature-set file helpers of
the auDeep-style commands (``preprocess``, ``t-rae``, ``mlp``, ``fuse``, ...)."""

from __future__ import annotations

import functools
from pathlib import Path


class CommandError(SystemExit):
    """A one-line error for the user (bad input), printed without a traceback (exit code 1).
    Library code raises a :class:`modules.errors.UserError` instead; ``spectrain``'s main()
    turns it into this."""


def feature_set_errors(handler):
    """A handler of an auDeep-style command whose bad input (a missing or malformed feature
    set, an existing output, a bad value) ends in ``spectrain COMMAND: message``."""

    @functools.wraps(handler)
    def run(args) -> int:
        from modules.representation.dataset import FeatureSetError

        try:
            return handler(args)
        except (FeatureSetError, FileNotFoundError, FileExistsError, ValueError) as error:
            if getattr(args, "debug", False):
                raise  # `spectrain --debug`: the traceback, not the one line
            raise CommandError(f"spectrain {args.command}: {error}") from None

    return run


def load_features(path: Path):
    """A netCDF feature set."""
    from modules.representation.dataset import FeatureSet

    return FeatureSet.load(path)


def refuse_existing(path: Path) -> None:
    """Results are never overwritten: an existing ``--output`` is a user error."""
    if path.exists():
        raise FileExistsError(f"{path} exists; choose another --output (results are never "
                              "overwritten)")
