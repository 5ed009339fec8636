"""Writes a weights folder in upstream's pretrained_weights layout with RANDOMLY initialised
models built from the checkout's own classes: the proof that the export path works on the
real architecture where the published weights cannot be downloaded (and the tests' input,
with the stand-in checkout). A RANDOM_WEIGHTS.txt marker makes every pack exported from it
say so. `--scale` shrinks the UNets' channels (the step graph and reference UNet do not fit
a 24 GB machine's export at full size in fp32).

    python -m personalive_export.random_weights --upstream DIR --out WEIGHTS [--scale 0.4] [--configs DIR]
"""
import argparse
import json
import os
import sys

import torch

from .upstream import BASE, RANDOM_MARKER, Upstream

# Public configs of the models PersonaLive builds on (sd-image-variations-diffusers' UNet and
# CLIP image encoder, sd-vae-ft-mse), as their config.json files give them.
SD_UNET = {
    "_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False, "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
    "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
SD_VAE = {
    "_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4, "in_channels": 3, "latent_channels": 4, "layers_per_block": 2,
    "norm_num_groups": 32, "out_channels": 3, "sample_size": 512, "up_block_types": ["UpDecoderBlock2D"] * 4,
}
CLIP_VISION = {
    "model_type": "clip_vision_model", "architectures": ["CLIPVisionModelWithProjection"], "hidden_size": 1024, "intermediate_size": 4096,
    "num_hidden_layers": 24, "num_attention_heads": 16, "image_size": 224, "patch_size": 14, "projection_dim": 768,
    "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05,
}
TAESD = {"_class_name": "AutoencoderTiny"}


def scaled_unet(scale):
    config = dict(SD_UNET)
    config["block_out_channels"] = [max(32, int(round(c * scale / 32)) * 32) for c in SD_UNET["block_out_channels"]]
    return config


def _write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=2)


def _save(model, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(model.state_dict(), path)


def write(checkout, out, scale=1.0, configs=None):
    """Writes the folder; returns what it wrote (relative paths)."""
    def config(name, default):
        if configs:
            with open(os.path.join(configs, f"{name}.json")) as f:
                return json.load(f)
        return default

    up = Upstream(checkout, out)  # puts the checkout on sys.path; loads nothing
    torch.manual_seed(0)
    written = []
    unet_config = config("unet", scaled_unet(scale))
    _write_json(os.path.join(out, BASE, "unet", "config.json"), unet_config)
    unet_2d = up._module("src.models.unet_2d_condition").UNet2DConditionModel
    _save(unet_2d.from_config(unet_config), os.path.join(out, BASE, "unet", "diffusion_pytorch_model.bin"))
    _save(unet_2d.from_config(unet_config), os.path.join(out, "personalive", "reference_unet.pth"))
    # The denoising UNet takes the 2D weights above; its motion and temporal modules keep their
    # random initialisation (strict=False, as upstream loads them).
    for name in ("denoising_unet.pth", "temporal_module.pth"):
        torch.save({}, os.path.join(out, "personalive", name))
    written += [f"{BASE}/unet", "personalive/reference_unet.pth", "personalive/denoising_unet.pth", "personalive/temporal_module.pth"]

    from diffusers import AutoencoderKL

    vae_config = config("vae", SD_VAE)
    _write_json(os.path.join(out, "sd-vae-ft-mse", "config.json"), vae_config)
    _save(AutoencoderKL.from_config(vae_config), os.path.join(out, "sd-vae-ft-mse", "diffusion_pytorch_model.bin"))
    written.append("sd-vae-ft-mse")

    from transformers import CLIPVisionModelWithProjection

    clip_config = config("image_encoder", CLIP_VISION)
    folder = os.path.join(out, BASE, "image_encoder")
    _write_json(os.path.join(folder, "config.json"), clip_config)
    try:
        from transformers import CLIPVisionConfig

        clip = CLIPVisionModelWithProjection(CLIPVisionConfig(**clip_config))
    except ImportError:  # the stand-in takes a plain namespace
        from types import SimpleNamespace

        clip = CLIPVisionModelWithProjection(SimpleNamespace(**clip_config))
    _save(clip, os.path.join(folder, "pytorch_model.bin"))
    written.append(f"{BASE}/image_encoder")

    pose_guider = up._module("src.models.pose_guider").PoseGuider(conditioning_embedding_channels=unet_config["block_out_channels"][0])
    _save(pose_guider, os.path.join(out, "personalive", "pose_guider.pth"))
    _save(up._module("src.models.motion_encoder.encoder").MotEncoder(), os.path.join(out, "personalive", "motion_encoder.pth"))
    _save(up._module("src.liveportrait.motion_extractor").MotionExtractor(num_kp=21), os.path.join(out, "personalive", "motion_extractor.pth"))
    written += ["personalive/pose_guider.pth", "personalive/motion_encoder.pth", "personalive/motion_extractor.pth"]

    try:
        from diffusers import AutoencoderTiny

        tiny_config = config("taesd", TAESD)
        _write_json(os.path.join(out, "taesd", "config.json"), tiny_config)
        _save(AutoencoderTiny.from_config(tiny_config), os.path.join(out, "taesd", "diffusion_pytorch_model.bin"))
        written.append("taesd")
    except ImportError:
        pass
    with open(os.path.join(out, RANDOM_MARKER), "w") as f:
        f.write(f"Random weights written by personalive_export.random_weights (scale {scale}, checkout {checkout}). NOT an animation model.\n")
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(prog="personalive_export.random_weights", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--scale", type=float, default=1.0, help="UNet channel scale (1 = full size)")
    parser.add_argument("--configs", default=None, help="folder with unet.json, vae.json, image_encoder.json, taesd.json to use instead")
    args = parser.parse_args(argv)
    for path in write(args.upstream, args.out, args.scale, args.configs):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
