"""Each pack component as one nn.Module whose forward takes and returns the contract's tensors
(models/contract.ts), built from upstream's models. Only the step graph ("unet_work") is
upstream's own module; upstream runs the others in PyTorch, so they are wrapped here.
"""
import re

import torch
from torch import nn

from .errors import ExportError

REFERENCE_STATE_NAMES = ["d00", "d01", "d10", "d11", "d20", "d21", "m", "u10", "u11", "u12", "u20", "u21", "u22", "u30", "u31", "u32"]
EXTRACTOR_OUTPUTS = ["kp", "pitch", "yaw", "roll", "t", "scale"]
# Window timestep of each frame, oldest chunk first (torch2trt.py's constant).
WINDOW_TIMESTEPS = [0] * 4 + [333] * 4 + [666] * 4 + [999] * 4


class ImageEncoder(nn.Module):
    """CLIP vision + projection: pixel_values [1,3,224,224] (CLIP-normalised) -> image_embeds [1,768]."""

    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, pixel_values):
        return self.clip(pixel_values).image_embeds


class VaeEncoder(nn.Module):
    """image [1,3,R,R] in [-1,1] -> latent_mean [1,4,R/8,R/8] (not yet times 0.18215)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, image):
        return self.vae.encode(image).latent_dist.mean


class VaeDecoder(nn.Module):
    """latents [N,4,h,w] (already divided by 0.18215) -> image [N,3,8h,8w] in [-1,1]."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latents):
        return self.vae.decode(latents).sample


class TinyDecoder(nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, latents):
        return self.decoder(latents)


def reference_state_name(path):
    """'down_blocks.0.attentions.1.transformer_blocks.0' -> 'd01'; the mid block's -> 'm'."""
    match = re.fullmatch(r"(down|up)_blocks\.(\d+)\.attentions\.(\d+)\.transformer_blocks\.0", path)
    if match:
        return f"{match.group(1)[0]}{match.group(2)}{match.group(3)}"
    if re.fullmatch(r"mid_block\.attentions\.0\.transformer_blocks\.0", path):
        return "m"
    return None


class ReferenceUnet(nn.Module):
    """The reference UNet in "write" mode: sample, timestep, encoder_hidden_states -> the 16
    self-attention inputs, i.e. what upstream's ReferenceAttentionControl banks (the output
    of each spatial transformer block's norm1), named by the block they come from."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet
        self._captured = {}
        blocks = {}
        for path, module in unet.named_modules():
            if type(module).__name__ == "BasicTransformerBlock":
                name = reference_state_name(path)
                if name is None:
                    raise ExportError("EXPORT_FAILED", f"unexpected transformer block {path} in the reference UNet", component="reference_unet")
                blocks[name] = module
        if sorted(blocks) != sorted(REFERENCE_STATE_NAMES):
            raise ExportError(
                "EXPORT_FAILED",
                f"the reference UNet has transformer blocks {sorted(blocks)}, expected {REFERENCE_STATE_NAMES}",
                component="reference_unet",
            )
        for name, block in blocks.items():
            block.norm1.register_forward_hook(self._capture(name))

    def _capture(self, name):
        def hook(_module, _inputs, output):
            self._captured[name] = output

        return hook

    def forward(self, sample, timestep, encoder_hidden_states):
        self._captured.clear()
        self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, return_dict=False)
        return tuple(self._captured[name] for name in REFERENCE_STATE_NAMES)


class MotionExtractor(nn.Module):
    """LivePortrait's ConvNeXt head: image [N,3,256,256] in [0,1] -> kp, pitch, yaw, roll, t, scale
    (+ exp when the checkout computes it; upstream's does not)."""

    def __init__(self, extractor):
        super().__init__()
        self.detector = extractor.detector
        self.names = list(EXTRACTOR_OUTPUTS)

    def forward(self, image):
        out = self.detector(image)
        return tuple(out[name] for name in self.names)

    def output_names(self, sample):
        with torch.no_grad():
            out = self.detector(sample)
        missing = [n for n in EXTRACTOR_OUTPUTS if n not in out]
        if missing:
            raise ExportError("EXPORT_FAILED", f"the motion extractor returns {sorted(out)}, which lacks {missing}", component="motion_extractor")
        self.names = list(EXTRACTOR_OUTPUTS) + (["exp"] if "exp" in out else [])
        return self.names


class MotionEncoder(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, motion):
        return self.encoder(motion)


class PoseGuider(nn.Module):
    def __init__(self, guider):
        super().__init__()
        self.guider = guider

    def forward(self, pose):
        return self.guider(pose)


class Denoiser(nn.Module):
    """The step graph without the DDIM step and the decoder (so TinyVAE / full VAE stays a
    runtime switch): the same conditioning as upstream's unet_work, noise_pred out."""

    def __init__(self, pose_guider, motion_encoder, unet, timesteps):
        super().__init__()
        self.pose_guider = pose_guider
        self.motion_encoder = motion_encoder
        self.unet = unet
        self.register_buffer("timesteps", timesteps, persistent=False)

    def forward(self, sample, encoder_hidden_states, motion_hidden_states, motion, pose_cond_fea, pose, *states):
        pose_cond_fea = torch.cat([pose_cond_fea, self.pose_guider(pose)], dim=2)
        motion_hidden_states = torch.cat([motion_hidden_states, self.motion_encoder(motion)], dim=1)
        score = self.unet(sample, self.timesteps, [encoder_hidden_states, motion_hidden_states], pose_cond_fea, *states)
        score = getattr(score, "sample", score)
        chunk = pose.shape[2]
        return score, pose_cond_fea[:, :, chunk:], motion_hidden_states[:, chunk:], motion_hidden_states[:, :1]
