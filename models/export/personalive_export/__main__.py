"""Command line: python -m personalive_export --upstream DIR --weights DIR --out WORK [...].

Prints JSON lines (environment, start, done, skipped, warning, finished, error) on stdout;
exits 0 when every component is exported, 2 for bad input, 1 for an export failure."""
import argparse
import json
import sys

from .errors import ExportError

EXIT_CODES = {"EXPORT_USAGE": 2, "EXPORT_UPSTREAM": 2, "EXPORT_WEIGHTS": 2, "EXPORT_ENVIRONMENT": 2, "EXPORT_DISK_FULL": 1, "EXPORT_FAILED": 1}


def parse(argv):
    parser = argparse.ArgumentParser(prog="personalive_export", description=__doc__)
    parser.add_argument("--upstream", required=True, help="a clone of GVCLab/PersonaLive")
    parser.add_argument("--weights", required=True, help="upstream's pretrained_weights folder")
    parser.add_argument("--out", required=True, help="work folder (resumable)")
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--dtype", choices=["fp16", "fp32"], default="fp16")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--step", choices=["unet_work", "denoiser"], default="unet_work")
    parser.add_argument("--components", default=None, help="comma-separated subset")
    parser.add_argument("--taesd", default=None, help="TAESD folder (diffusers AutoencoderTiny or madebyollin/taesd)")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--external-data-threshold", type=int, default=None, help=argparse.SUPPRESS)  # bytes; tests force external data with 0
    args = parser.parse_args(argv)
    if args.resolution <= 0 or args.resolution % 64 != 0:
        raise ExportError("EXPORT_USAGE", f"--resolution must be a positive multiple of 64, got {args.resolution}")
    from . import COMPONENTS

    if args.components:
        args.components = [c.strip() for c in args.components.split(",") if c.strip()]
    else:
        # A unet_work step decodes inside (full VAE); separate decoders only serve a denoiser step.
        args.components = [c for c in COMPONENTS if args.step == "denoiser" or c not in ("vae_decoder", "tiny_decoder")]
    return args


def main(argv=None):
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
        try:
            import torch  # after the arguments are known to be good; the version before anything uses it

            from .upstream_checks import check_torch_version

            check_torch_version(torch.__version__)
            from .export import run
        except ImportError as error:
            raise ExportError("EXPORT_ENVIRONMENT", f"{sys.executable} cannot import {error.name or error}: the exporter needs torch >= 1.13 and onnx "
                              "(run it in upstream's Python environment, or pass --python to personalive pack export)") from error
        run(args)
        return 0
    except ExportError as error:
        print(json.dumps({"event": "error", **error.to_json()}), flush=True)
        print(f"personalive_export: {error.code}: {error.message}", file=sys.stderr)
        return EXIT_CODES.get(error.code, 1)
    except MemoryError:
        print(json.dumps({"event": "error", "code": "EXPORT_FAILED", "message": "out of memory: see the README's model-pack section for the memory a full-size export needs"}), flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
