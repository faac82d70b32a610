"""Elephant rumbles and gunshots in forest recordings: sound event detection (task "sed").

Prepare the data once: long recordings with one Raven selection table each (classes Rumble and
Gunshot; `<recording>.Table.1.selections.txt` beside `<recording>.wav`, or tables with a
`Begin File` column) in data/elephants/recordings/, then cut the training clips:

    .venv/bin/spectrain clips --annotations data/elephants/recordings \\
        --output data/elephants/clips --clip-length 20 --target-sr 8000

Train, replay, and find the events in new recordings:

    bash launch.sh elephants/train1                 # --testing: a few clips, 2 epochs
    .venv/bin/spectrain replay cache/elephants/train1/N
    .venv/bin/spectrain detect --job cache/elephants/train1/N --input new_recordings/ \\
        --output detections/                       # events.csv + a Raven selection table

Every epoch each 20 s clip gives a new random 10 s window (the events move around in it); the
light CRNN says, per 1 s bin, how likely each class is. Clips of one recording stay on one side
of the 5-fold split.
"""

from pathlib import Path

from modules.data import register_dataset
from modules.models import sed_crnn
from modules.parameters import parameters
from modules.parsers import spec_parser
from modules.training import launch_job


def elephant_clips(data_root):
    clips = Path(data_root) / "elephants" / "clips"
    if not (clips / "metadata.tsv").is_file():
        raise SystemExit(f"{clips} has no clips yet: run `spectrain clips` first (see "
                         f"{__file__})")
    return clips


register_dataset("Elephants", elephant_clips, "sed_clips")

# --- job block 1 ------------------------------------------------------------------------------
parameters.mode = "elephants"
parameters.description = parameters.description or "rumbles and gunshots, light CRNN, 1 s bins"
parameters.task = "sed"
parameters.sr = 8000  # rumbles live below 200 Hz; gunshots are broadband but short
parameters.audio_length = 10.0  # window seconds
parameters.event_bins = 10  # one-second bins
parameters.n_fft = 1024
parameters.hop_length = 256
parameters.n_mels = 64
parameters.split = "group"  # clips of one recording never on both sides
parameters.validation_fold = 1
parameters.n_epochs = 60
parameters.batch_size = 16
parameters.lr = 1e-3
parameters.es_patience = 12
parameters.n_example_plots = 6
launch_job({"Elephants": 1}, sed_crnn, [], [], spec_parser)
