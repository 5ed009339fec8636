"""PersonaLive model-pack exporter: turns the published PersonaLive weights into the ONNX
graphs of a personalive model pack, using the model code of the user's own upstream
checkout (GVCLab/PersonaLive). `personalive pack export` runs it and writes the manifest
from what ONNX Runtime reports for each graph.

Run as `python -m personalive_export --help` with this folder (models/export) on
PYTHONPATH. Needs torch >= 1.13 and onnx; the real upstream also needs diffusers,
transformers and einops (its own requirements).
"""

EXPORTER_VERSION = "1"
MIN_TORCH = (1, 13)
# Every component of a pack, in the manifest's order.
COMPONENTS = ["image_encoder", "vae_encoder", "reference_unet", "motion_extractor", "motion_encoder", "pose_guider", "step", "vae_decoder", "tiny_decoder"]
