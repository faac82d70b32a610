"""``spectrain export-model --job JOB_DIR --format savedmodel|litert|onnx --output DIR``: a
finished job's best model, front end inside, for devices; verified by the format's runtime.
(``export`` is the auDeep workflow's feature-set export.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path

RUNTIME_MODULES = {"litert": ("ai_edge_litert",), "onnx": ("onnxruntime", "tf2onnx", "onnx")}


def register(subparsers) -> None:
    export = subparsers.add_parser(
        "export-model", help="export a finished job's model (front end inside) as a SavedModel, "
                             "LiteRT or ONNX file, verified by its own runtime")
    export.add_argument("--job", required=True, type=Path, help="a finished job folder")
    export.add_argument("--format", required=True, choices=("savedmodel", "litert", "onnx"))
    export.add_argument("--output", required=True, type=Path,
                        help="a new folder for the model, labels.txt and model.json")
    export.add_argument("--quantize", choices=("float16", "int8"),
                        help="LiteRT only: float16 weights, or int8 weights (dynamic range)")
    export.add_argument("--verify-windows", type=int,
                        help="verify on the first N validation windows (default: all)")
    export.set_defaults(handler=run)


def run(args) -> int:
    from modules.job_folder import JobFolderError

    missing = [name for name in RUNTIME_MODULES.get(args.format, ())
               if importlib.util.find_spec(name) is None]
    if missing:
        raise SystemExit(f"spectrain export-model: {', '.join(missing)} not installed: run "
                         f"`bash launch.sh export-model ...` (it installs the export extra on "
                         f"first use) or `pip install -e .[export]`")
    from modules.model_export import export_job

    try:
        card = export_job(args.job, args.format, args.output, args.quantize,
                          args.verify_windows)
    except (JobFolderError, ValueError, FileExistsError) as error:
        raise SystemExit(f"spectrain export-model: {error}") from None
    check = card["verification"]
    print(f"{args.format} model -> {args.output / card['file']}")
    print(f"verified with {check['runtime']} on {check['windows']} validation windows: largest "
          f"difference from the Keras model {check['largest_difference']:.3g}; "
          f"{check['metric']} Keras {check['keras']:.4f}, exported {check['exported']:.4f}")
    if card["needs_flex_delegate"]:
        print("note: the file needs LiteRT's Flex delegate (TensorFlow ops)")
    return 0
