"""A classification job's example plots: spectrograms of true positives, false positives and
false negatives (``tp/``, ``fp/``, ``fn/``, ``tns.txt``) and Grad-CAM overlays (``gradcam/``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def gather_inputs(eval_ds, positions: set[int]) -> dict[int, np.ndarray]:
    """Model inputs of the examples at ``positions`` (dataset order)."""
    found, offset = {}, 0
    for inputs, _ in eval_ds:
        inputs = inputs.numpy()
        for i in range(len(inputs)):
            if offset + i in positions:
                found[offset + i] = inputs[i]
        offset += len(inputs)
        if len(found) == len(positions):
            break
    return found


def display_spectrograms(inputs: dict[int, np.ndarray], params) -> dict[int, np.ndarray]:
    """(bins, frames) images to show: the input itself for image models, else its log-mel."""
    if not inputs:
        return {}
    first = next(iter(inputs.values()))
    if first.ndim == 3:
        return {k: v[..., 0] for k, v in inputs.items()}
    from modules.frontend import frontend_from_parameters

    frontend = frontend_from_parameters(params)
    keys = sorted(inputs)
    images = np.asarray(frontend(np.stack([inputs[k] for k in keys])))[..., 0]
    return dict(zip(keys, images))


def write_examples(job_dir: Path, model, eval_ds, table: pd.DataFrame, class_names, params,
                    progress: bool) -> None:
    from tqdm.auto import tqdm

    from modules import reports
    from modules.interpret import grad_cam

    outcomes = reports.outcome_sets(table, class_names)
    chosen = reports.select_examples(outcomes, params.n_example_plots)
    reports.write_true_negatives(table, outcomes, job_dir / "tns.txt")
    # Grad-CAM on a spread of validation examples: the first of each true class, round robin.
    by_class: dict[int, list[int]] = {}
    for position, true_index in enumerate(table["true_index"]):
        by_class.setdefault(int(true_index), []).append(position)
    gradcam_positions, depth = [], 0
    while len(gradcam_positions) < min(params.n_gradcam, len(table)):
        for positions in by_class.values():
            if depth < len(positions) and len(gradcam_positions) < params.n_gradcam:
                gradcam_positions.append(positions[depth])
        depth += 1
    wanted = {p for items in chosen.values() for p, _ in items} | set(gradcam_positions)
    inputs = gather_inputs(eval_ds, wanted)
    images = display_spectrograms(inputs, params)
    total = sum(len(items) for items in chosen.values()) + len(gradcam_positions)
    with tqdm(total=total, desc="writing example plots", unit="plot", disable=not progress) as bar:
        reports.write_example_plots(job_dir, table, chosen, images, progress=bar.update)
        if not gradcam_positions:  # n_gradcam = 0: no maps asked for
            return
        folder = job_dir / "gradcam"
        folder.mkdir(exist_ok=True)
        try:
            batch = np.stack([inputs[p] for p in gradcam_positions])
            first_image = images[gradcam_positions[0]]
            heatmaps = grad_cam(model, batch, output_size=first_image.shape)
        except Exception as error:  # noqa: BLE001 - a model Grad-CAM cannot read loses only the maps
            (folder / "unavailable.txt").write_text(f"Grad-CAM failed: {error}\n")
            print(f"warning: Grad-CAM skipped: {error}")
            return
        for position, heatmap in zip(gradcam_positions, heatmaps):
            row = table.iloc[position]
            title = (f"Grad-CAM for predicted {row['predicted']}: {Path(row['path']).name} "
                     f"chunk {row['chunk_index']} (true {row['true']})")
            reports.plot_spectrogram(images[position],
                                     folder / f"{reports.example_name(row)}.png", title, heatmap)
            bar.update()
