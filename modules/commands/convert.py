"""``spectrain convert panns|htsat CHECKPOINT OUTPUT.keras``: an official PyTorch checkpoint as
a .keras model, converted strictly."""

from __future__ import annotations

from pathlib import Path


def convert_checkpoint(family: str, checkpoint: Path, output: Path, model: str = "Cnn14",
                       overwrite: bool = False, trust_checkpoint: bool = False):
    """`spectrain convert`: checkpoint -> .keras, refusing to replace a file unless asked."""
    if not checkpoint.is_file():
        raise SystemExit(f"checkpoint {checkpoint} does not exist")
    if output.suffix != ".keras":
        raise SystemExit(f"the output must be a .keras file, got {output}")
    if output.exists() and not overwrite:
        raise SystemExit(f"{output} exists; pass --overwrite to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    if family == "panns":
        from modules.models.panns.convert import convert_checkpoint as convert
        network = convert(checkpoint, output, model, allow_pickle=trust_checkpoint)
    else:
        from modules.models.htsat.convert import convert_checkpoint as convert
        network = convert(checkpoint, output, allow_pickle=trust_checkpoint)
    print(f"{checkpoint} -> {output}: {network.name}, {network.count_params():,} parameters")
    return network


def register(subparsers) -> None:
    convert = subparsers.add_parser(
        "convert", help="convert an official PyTorch checkpoint to a .keras model (strict)")
    family = convert.add_subparsers(dest="family", required=True)
    panns = family.add_parser("panns", help="a PANNs checkpoint (.pth), e.g. Cnn14_mAP=0.431.pth")
    panns.add_argument("checkpoint", type=Path)
    panns.add_argument("output", type=Path, help="the .keras file to write")
    panns.add_argument("--model", default="Cnn14",
                       help="Cnn6, Cnn10, Cnn14, Cnn14_DecisionLevelMax/Avg/Att (default Cnn14)")
    htsat = family.add_parser("htsat", help="an HTS-AT checkpoint (.ckpt), e.g. HTSAT_AudioSet_Saved_1.ckpt")
    htsat.add_argument("checkpoint", type=Path)
    htsat.add_argument("output", type=Path, help="the .keras file to write")
    for sub in (panns, htsat):
        sub.add_argument("--overwrite", action="store_true", help="replace an existing output file")
        sub.add_argument("--trust-checkpoint", action="store_true",
                         help="unpickle a checkpoint that holds more than tensors (runs code from "
                              "the file: only for files you trust)")
        sub.set_defaults(handler=run)


def run(args) -> int:
    convert_checkpoint(args.family, args.checkpoint, args.output,
                       getattr(args, "model", "Cnn14"), args.overwrite, args.trust_checkpoint)
    return 0
