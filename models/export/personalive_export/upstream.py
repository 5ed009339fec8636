"""The user's upstream checkout and weights: check them, import the model code from the
checkout, build each model and load its weights. One model at a time, so an export never
holds more than the component it writes.

Weights folder layout: upstream's own `pretrained_weights/` (what its
tools/download_weights.py writes).
"""
import importlib
import json
import os
import sys
import types

import torch

from .errors import ExportError

# Files that identify a PersonaLive checkout, and the modules this exporter imports from it.
CHECKOUT_FILES = [
    "src/models/unet_3d_explicit_reference.py",
    "src/models/unet_2d_condition.py",
    "src/models/pose_guider.py",
    "src/models/motion_encoder/encoder.py",
    "src/liveportrait/motion_extractor.py",
    "src/modeling/framed_models.py",
    "src/scheduler/scheduler_ddim.py",
    "configs/inference/inference_stage3.yaml",
]

BASE = "sd-image-variations-diffusers"
WEIGHT_FILES = {
    "pose_guider": "personalive/pose_guider.pth",
    "motion_encoder": "personalive/motion_encoder.pth",
    "motion_extractor": "personalive/motion_extractor.pth",
    "denoising_unet": "personalive/denoising_unet.pth",
    "temporal_module": "personalive/temporal_module.pth",
    "reference_unet": "personalive/reference_unet.pth",
    "unet_config": BASE + "/unet/config.json",
    "image_encoder_config": BASE + "/image_encoder/config.json",
    "vae_config": "sd-vae-ft-mse/config.json",
}

# Which weight files each component needs.
NEEDS = {
    "image_encoder": ["image_encoder_config"],
    "vae_encoder": ["vae_config"],
    "vae_decoder": ["vae_config"],
    "reference_unet": ["unet_config", "reference_unet"],
    "motion_extractor": ["motion_extractor"],
    "motion_encoder": ["motion_encoder"],
    "pose_guider": ["pose_guider", "unet_config"],
    "step": ["pose_guider", "motion_encoder", "unet_config", "denoising_unet", "temporal_module", "vae_config"],
}

# Written by random_weights.py: the weights are random (a proof of the export path).
RANDOM_MARKER = "RANDOM_WEIGHTS.txt"


def check_checkout(checkout):
    if not os.path.isdir(checkout):
        raise ExportError("EXPORT_UPSTREAM", f"{checkout}: no such folder (--upstream must be a clone of GVCLab/PersonaLive)")
    missing = [f for f in CHECKOUT_FILES if not os.path.isfile(os.path.join(checkout, f))]
    if missing:
        raise ExportError(
            "EXPORT_UPSTREAM",
            f"{checkout} is not a PersonaLive checkout: it lacks {', '.join(missing)} "
            "(--upstream must be a clone of GVCLab/PersonaLive)",
            missing=missing,
        )


def check_weights(weights, components):
    needed = sorted({key for c in components for key in NEEDS.get(c, [])})
    missing = [WEIGHT_FILES[k] for k in needed if not os.path.isfile(os.path.join(weights, WEIGHT_FILES[k]))]
    if missing:
        raise ExportError(
            "EXPORT_WEIGHTS",
            f"{weights}: missing {', '.join(missing)} (--weights must be upstream's pretrained_weights folder, "
            "filled by its tools/download_weights.py)",
            missing=missing,
        )


def checkout_commit(checkout):
    """The checkout's HEAD commit, read from .git without running git (None when not a git clone)."""
    head = os.path.join(checkout, ".git", "HEAD")
    try:
        with open(head) as f:
            ref = f.read().strip()
        if ref.startswith("ref: "):
            with open(os.path.join(checkout, ".git", ref[5:])) as f:
                return f.read().strip()
        return ref
    except OSError:
        return None


def _stub_polygraphy():
    """upstream's framed_models imports polygraphy (TensorRT tooling) for one type it never
    uses in forward(); a plain ONNX export does not need TensorRT, so give it a stand-in."""
    try:
        importlib.import_module("polygraphy.backend.trt")
    except ImportError:
        names = ["polygraphy", "polygraphy.backend", "polygraphy.backend.trt"]
        for name in names:
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules["polygraphy.backend.trt"].Profile = object


class Upstream:
    """Builds upstream's models from the checkout and the weights, one at a time."""

    def __init__(self, checkout, weights, dtype=torch.float32, device="cpu"):
        self.checkout = os.path.abspath(checkout)
        self.weights = os.path.abspath(weights)
        self.dtype = dtype
        self.device = torch.device(device)
        self.random_weights = os.path.isfile(os.path.join(self.weights, RANDOM_MARKER))
        if self.checkout not in sys.path:
            sys.path.insert(0, self.checkout)
        _stub_polygraphy()

    def _module(self, name):
        try:
            return importlib.import_module(name)
        except ImportError as error:
            raise ExportError(
                "EXPORT_ENVIRONMENT",
                f"cannot import {name} from {self.checkout}: {error} (run the exporter in upstream's own Python "
                "environment, the one its README installs: diffusers, transformers, einops)",
            ) from error

    def _path(self, key):
        return os.path.join(self.weights, WEIGHT_FILES[key])

    def _state(self, key):
        return torch.load(self._path(key), map_location="cpu")

    def _ready(self, model):
        return model.to(device=self.device, dtype=self.dtype).eval()

    def inference_config(self):
        from omegaconf import OmegaConf

        return OmegaConf.load(os.path.join(self.checkout, "configs/inference/inference_stage3.yaml"))

    def unet_config(self):
        with open(self._path("unet_config")) as f:
            return json.load(f)

    def pose_guider(self):
        # Its output is added to the UNet's first block: as many channels (320 for the real weights).
        channels = self.unet_config()["block_out_channels"][0]
        model = self._module("src.models.pose_guider").PoseGuider(conditioning_embedding_channels=channels)
        model.load_state_dict(self._state("pose_guider"))
        return self._ready(model)

    def motion_encoder(self):
        model = self._module("src.models.motion_encoder.encoder").MotEncoder()
        model.load_state_dict(self._state("motion_encoder"))
        self._plain_attention(model)
        return self._ready(model)

    def motion_extractor(self):
        model = self._module("src.liveportrait.motion_extractor").MotionExtractor(num_kp=21)
        # strict=False as upstream loads it: the expression head's weights are not used.
        model.load_state_dict(self._state("motion_extractor"), strict=False)
        return self._ready(model)

    def denoising_unet(self):
        from omegaconf import OmegaConf

        unet_3d = self._module("src.models.unet_3d_explicit_reference").UNet3DConditionModel
        config = self.inference_config()
        model = unet_3d.from_pretrained_2d(
            os.path.join(self.weights, BASE), "", subfolder="unet",
            unet_additional_kwargs=OmegaConf.to_container(config.unet_additional_kwargs),
        )
        model.load_state_dict(self._state("denoising_unet"), strict=False)
        model.load_state_dict(self._state("temporal_module"), strict=False)
        self._plain_attention(model)
        return self._ready(model)

    def reference_unet(self):
        unet_2d = self._module("src.models.unet_2d_condition").UNet2DConditionModel
        model = unet_2d.from_pretrained(os.path.join(self.weights, BASE), subfolder="unet")
        model.load_state_dict(self._state("reference_unet"))
        self._plain_attention(model)
        return self._ready(model)

    def vae(self):
        from diffusers import AutoencoderKL

        model = AutoencoderKL.from_pretrained(os.path.join(self.weights, "sd-vae-ft-mse"))
        if hasattr(model, "set_default_attn_processor"):
            model.set_default_attn_processor()
        return self._ready(model)

    def image_encoder(self):
        from transformers import CLIPVisionModelWithProjection

        return self._ready(CLIPVisionModelWithProjection.from_pretrained(os.path.join(self.weights, BASE, "image_encoder")))

    def scheduler(self):
        from omegaconf import OmegaConf

        ddim = self._module("src.scheduler.scheduler_ddim").DDIMScheduler
        scheduler = ddim(**OmegaConf.to_container(self.inference_config().noise_scheduler_kwargs))
        scheduler.to(self.device)
        scheduler.set_step_length(333)
        return scheduler

    def framed_models(self):
        return self._module("src.modeling.framed_models")

    @staticmethod
    def _plain_attention(model):
        """The plain attention processor traces to ordinary ONNX ops (upstream's torch2trt does
        the same). Set on each attention module itself: upstream's UNet2DConditionModel.
        set_attn_processor passes _remove_lora, which its own pinned diffusers 0.27 rejects."""
        try:
            from diffusers.models.attention_processor import AttnProcessor
        except ImportError:
            return
        attention = [m for m in model.modules() if hasattr(m, "set_processor") and hasattr(m, "processor")]
        for module in attention:
            module.set_processor(AttnProcessor())
        if not attention and hasattr(model, "set_attn_processor"):
            model.set_attn_processor(AttnProcessor())


def load_taesd_decoder(folder, dtype, device):
    """TinyVAE's decoder from --taesd: diffusers' AutoencoderTiny folder (config.json; output in
    [-1, 1]) or madebyollin/taesd's own files (taesd.py + taesd_decoder.pth; output in [0, 1]).
    Returns (module taking latents, output range)."""
    if os.path.isfile(os.path.join(folder, "config.json")):
        from diffusers import AutoencoderTiny

        tiny = AutoencoderTiny.from_pretrained(folder)
        return tiny.decoder.to(device=device, dtype=dtype).eval(), "minus1to1"
    weights = os.path.join(folder, "taesd_decoder.pth")
    if os.path.isfile(os.path.join(folder, "taesd.py")) and os.path.isfile(weights):
        sys.path.insert(0, folder)
        decoder = importlib.import_module("taesd").Decoder()
        decoder.load_state_dict(torch.load(weights, map_location="cpu"))
        return decoder.to(device=device, dtype=dtype).eval(), "zero1"
    raise ExportError(
        "EXPORT_WEIGHTS",
        f"{folder}: not a TAESD folder: expected diffusers' AutoencoderTiny (config.json + weights) or "
        "madebyollin/taesd's taesd.py with taesd_decoder.pth",
        component="tiny_decoder",
    )
