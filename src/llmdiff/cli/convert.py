"""`llmdiff convert`: a published release (OmniDiffusion, ParaDiffusion, ELLA, LaVi-Bridge) as a model folder."""

from __future__ import annotations

import argparse

RELEASE_NAMES = ("omnidiffusion", "paradiffusion", "ella", "lavi-bridge")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="turn a published LLM-conditioned model into an llmdiff model folder",
        description="Read a published release as downloaded and write an llmdiff model folder (base/ + adapter/) "
        "that `llmdiff generate --model OUT` loads. Every tensor is checked against the model it fills; weights are "
        "written as safetensors (a pickled release file is read with PyTorch's weights-only loader, which runs "
        "no code). The output "
        "appears only once complete. See docs/models.md for what to download.",
    )
    parser.add_argument("release", choices=RELEASE_NAMES, help="which published system SRC is")
    parser.add_argument("source", metavar="SRC", help="the release as downloaded (its folder, or ELLA's .safetensors file)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="model folder to write")
    parser.add_argument("--llm", help="LLM to record (hub id or local folder; default: the one the release was "
                        "trained with). A local folder is checked against the release's widths")
    parser.add_argument("--base", help="diffusers SD/SDXL pipeline (local folder or hub id) for the parts the "
                        "release does not ship (default: the base it was trained on)")
    parser.add_argument("--variant", help="which model of the release: omnidiffusion stage-3 (default) or stage-2; "
                        "paradiffusion unet (default) or unet_1; lavi-bridge llama2_unet (default) or t5_unet")
    parser.add_argument("--unet", choices=("unet_ema", "unet"), help="omnidiffusion: which UNet of the stage "
                        "(default unet_ema)")
    parser.add_argument("--fuse-unet-lora", action="store_true", help="lavi-bridge: fold the UNet LoRA into "
                        "base/unet instead of writing it to adapter/unet_lora/ (for loaders that do not apply it)")
    parser.add_argument("--trust-remote-code", action="store_true", help="record that the LLM may run the code "
                        "its hub repository ships (Baichuan2 needs it); off unless given")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT (only once the new one is complete)")
    parser.add_argument("--dry-run", action="store_true", help="check the release and list what would be read "
                        "and written, with parameter counts; write nothing")
    parser.set_defaults(func=convert)


def convert(args: argparse.Namespace) -> int:
    from llmdiff import convert as conversions
    from llmdiff.errors import UserError

    if args.fuse_unet_lora and args.release != "lavi-bridge":
        raise UserError(f"--fuse-unet-lora is for lavi-bridge; {args.release} ships no UNet LoRA")
    options = conversions.ConvertOptions(llm=args.llm, base=args.base, variant=args.variant, unet=args.unet,
                                         fuse_unet_lora=args.fuse_unet_lora, trust_remote_code=args.trust_remote_code)
    if args.dry_run:
        from pathlib import Path

        conversions.check_output(Path(args.output).expanduser(), args.force)
        conversion = conversions.prepare(args.release, args.source, options)
        print(conversion.summary(args.output))
        print("dry run: nothing written")
        return 0
    conversion = conversions.convert(args.release, args.source, args.output, options, force=args.force)
    print(conversion.summary(args.output))
    print(f"wrote {args.output}")
    return 0
