"""The export loop: one component at a time, each into a temporary folder inside the work
folder, moved into place and recorded (<component>.json) only when complete, so a failed or
interrupted export resumes at the component it was on. Progress goes to stdout as JSON lines.
"""
import errno
import json
import os
import platform
import resource
import shutil
import time
import traceback

import onnx
import torch

from . import COMPONENTS, EXPORTER_VERSION
from . import onnx_tools
from . import wrappers
from .errors import ExportError
from .upstream import RANDOM_MARKER, Upstream, check_checkout, check_weights, checkout_commit, load_taesd_decoder

CLIP_SIZE = 224
EXTRACTOR_SIZE = 256
MOTION_CROP_SIZE = 224
CHUNK = 4
WINDOW = 16
LATENT_SCALE = 0.18215


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def peak_rss_mb():
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if platform.system() == "Darwin" else 1024))


class Graph:
    """What torch.onnx.export needs for one component, and what the manifest needs beside it."""

    def __init__(self, module, inputs, output_names, dynamic_axes=None, **meta):
        self.module = module
        self.inputs = inputs  # ordered dict: name -> sample tensor
        self.output_names = output_names
        self.dynamic_axes = dynamic_axes or {}
        self.meta = meta


def _randn(shape, like):
    return torch.randn(shape, dtype=like.dtype, device=like.device)


def reference_state_shapes(unet_config, resolution):
    """(length, channels) of each reference state, from the UNet's block channels."""
    c0, c1, c2, c3 = list(unet_config.block_out_channels)[:4]
    h = resolution // 8
    area = h * h
    sizes = {"d0": (area, c0), "d1": (area // 4, c1), "d2": (area // 16, c2), "m": (area // 64, c3), "u1": (area // 16, c2), "u2": (area // 4, c1), "u3": (area, c0)}
    return {name: sizes[name if name == "m" else name[:2]] for name in wrappers.REFERENCE_STATE_NAMES}


class Builder:
    """Builds each component's Graph from the upstream models."""

    def __init__(self, upstream, resolution, step_kind, taesd):
        self.up = upstream
        self.resolution = resolution
        self.step_kind = step_kind
        self.taesd = taesd
        self.like = torch.zeros((), dtype=upstream.dtype, device=upstream.device)

    def sample(self, *shape):
        return _randn(shape, self.like)

    def image_encoder(self):
        return Graph(wrappers.ImageEncoder(self.up.image_encoder()), {"pixel_values": self.sample(1, 3, CLIP_SIZE, CLIP_SIZE)}, ["image_embeds"])

    def vae_encoder(self):
        r = self.resolution
        return Graph(wrappers.VaeEncoder(self.up.vae()), {"image": self.sample(1, 3, r, r)}, ["latent_mean"])

    def vae_decoder(self):
        h = self.resolution // 8
        batch = {0: "batch"}
        return Graph(wrappers.VaeDecoder(self.up.vae()), {"latents": self.sample(2, 4, h, h)}, ["image"], {"latents": batch, "image": batch},
                     latentMultiplier=1 / LATENT_SCALE, outputRange="minus1to1")

    def tiny_decoder(self):
        h = self.resolution // 8
        decoder, output_range = load_taesd_decoder(self.taesd, self.up.dtype, self.up.device)
        batch = {0: "batch"}
        return Graph(wrappers.TinyDecoder(decoder), {"latents": self.sample(2, 4, h, h)}, ["image"], {"latents": batch, "image": batch},
                     latentMultiplier=1.0, outputRange=output_range)

    def reference_unet(self):
        unet = self.up.reference_unet()
        h = self.resolution // 8
        embedding = unet.config.cross_attention_dim
        inputs = {
            "sample": self.sample(1, 4, h, h),
            "timestep": torch.zeros((1,), dtype=self.like.dtype, device=self.like.device),
            "encoder_hidden_states": self.sample(1, 1, embedding),
        }
        return Graph(wrappers.ReferenceUnet(unet), inputs, list(wrappers.REFERENCE_STATE_NAMES))

    def motion_extractor(self):
        module = wrappers.MotionExtractor(self.up.motion_extractor())
        image = torch.rand((2, 3, EXTRACTOR_SIZE, EXTRACTOR_SIZE), dtype=self.like.dtype, device=self.like.device)
        names = module.output_names(image)
        batch = {0: "batch"}
        return Graph(module, {"image": image}, names, {name: batch for name in ["image", *names]})

    def motion_encoder(self):
        frames = {2: "frames"}
        return Graph(wrappers.MotionEncoder(self.up.motion_encoder()), {"motion": self.sample(1, 3, CHUNK, MOTION_CROP_SIZE, MOTION_CROP_SIZE)},
                     ["motion_hidden_states"], {"motion": frames, "motion_hidden_states": {1: "frames"}})

    def pose_guider(self):
        r = self.resolution
        return Graph(wrappers.PoseGuider(self.up.pose_guider()), {"pose": torch.rand((1, 3, CHUNK, r, r), dtype=self.like.dtype, device=self.like.device)},
                     ["pose_cond_fea"], {"pose": {2: "frames"}, "pose_cond_fea": {2: "frames"}})

    def step(self):
        r = self.resolution
        h = r // 8
        unet = self.up.denoising_unet()
        pose_guider = self.up.pose_guider()
        motion_encoder = self.up.motion_encoder()
        timesteps = torch.tensor(wrappers.WINDOW_TIMESTEPS, device=self.up.device).long()
        states = reference_state_shapes(unet.config, r)
        pose_channels = pose_guider(torch.zeros((1, 3, 1, r, r), dtype=self.like.dtype, device=self.like.device)).shape[1]
        history = WINDOW - CHUNK
        inputs = {
            "sample": self.sample(1, 4, WINDOW, h, h),
            "encoder_hidden_states": self.sample(1, 1, unet.config.cross_attention_dim),
            "motion_hidden_states": self.sample(1, history, 32, 16),
            "motion": self.sample(1, 3, CHUNK, MOTION_CROP_SIZE, MOTION_CROP_SIZE),
            "pose_cond_fea": self.sample(1, pose_channels, history, h, h),
            "pose": torch.rand((1, 3, CHUNK, r, r), dtype=self.like.dtype, device=self.like.device),
        }
        if self.step_kind == "unet_work":
            inputs["new_noise"] = self.sample(1, 4, CHUNK, h, h)
        for name, (length, channels) in states.items():
            inputs[name] = self.sample(1, length, channels)
        dynamic = {name: {1: f"len_{name}"} for name in states}
        if self.step_kind == "unet_work":
            module = self.up.framed_models().unet_work(pose_guider, motion_encoder, unet, self.up.vae(), self.up.scheduler(), timesteps)
            outputs = ["pred_video", "latents", "pose_cond_fea_out", "motion_hidden_states_out", "motion_out", "latent_first"]
        else:
            module = wrappers.Denoiser(pose_guider, motion_encoder, unet, timesteps)
            outputs = ["noise_pred", "pose_cond_fea_out", "motion_hidden_states_out", "motion_out"]
        return Graph(module, inputs, outputs, dynamic, kind=self.step_kind)


def component_file(name, step_kind):
    return f"{step_kind}.onnx" if name == "step" else f"{name}.onnx"


def export_graph(graph, path, opset, float16_after, external_threshold=None):
    """torch.onnx.export, then fixed output dims, float16 (when converting after an fp32
    trace), and one data file. Returns (data file name or None, output shapes)."""
    module = graph.module.eval()
    names = list(graph.inputs)
    args = tuple(graph.inputs[n] for n in names)
    # The output sizes come from the trace's own forward pass (a separate eager run would
    # double the cost: about 9 minutes for a reduced step graph on 2 cores).
    shapes = {}

    def record_shapes(_module, _inputs, output):
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        if len(outputs) != len(graph.output_names):
            raise ExportError("EXPORT_FAILED", f"the module returns {len(outputs)} tensors, expected {len(graph.output_names)} ({', '.join(graph.output_names)})")
        shapes.update({name: [int(n) for n in t.shape] for name, t in zip(graph.output_names, outputs)})

    hook = module.register_forward_hook(record_shapes)
    trace_dir = os.path.join(os.path.dirname(path), "trace")
    os.makedirs(trace_dir, exist_ok=True)
    trace_path = os.path.join(trace_dir, os.path.basename(path))
    try:
        with torch.no_grad():
            torch.onnx.export(module, args, trace_path, export_params=True, opset_version=opset, do_constant_folding=True,
                              input_names=names, output_names=graph.output_names, dynamic_axes=graph.dynamic_axes)
    finally:
        hook.remove()
    if not os.path.isfile(trace_path) or os.path.getsize(trace_path) == 0:
        raise ExportError("EXPORT_FAILED", f"torch {torch.__version__} wrote no graph (an empty {os.path.basename(path)}); a graph with about 2 GB of "
                          "weights can hit protobuf's 2 GB limit in torch 1.13: export in fp16 on a GPU (--dtype fp16 --device cuda) or use torch >= 2.1")
    model = onnx.load(trace_path)  # with any per-tensor files torch wrote for a big graph
    onnx_tools.fix_output_dims(model, shapes, graph.dynamic_axes)
    if float16_after:
        onnx_tools.to_float16(model)
    data = onnx_tools.save_component(model, path, threshold=external_threshold)
    shutil.rmtree(trace_dir)
    return data, shapes


def is_done(work, name):
    record_path = os.path.join(work, f"{name}.json")
    if not os.path.isfile(record_path):
        return None
    with open(record_path) as f:
        record = json.load(f)
    files = [record["file"]] + ([record["data"]] if record.get("data") else [])
    if all(os.path.isfile(os.path.join(work, f)) for f in files):
        return record
    return None


def write_json(path, value):
    partial = path + ".partial"
    with open(partial, "w") as f:
        json.dump(value, f, indent=2)
    os.replace(partial, path)


def run(args):
    check_checkout(args.upstream)
    components = args.components
    unknown = [c for c in components if c not in COMPONENTS]
    if unknown:
        raise ExportError("EXPORT_USAGE", f"unknown component(s) {', '.join(unknown)}: expected some of {', '.join(COMPONENTS)}")
    if "tiny_decoder" in components and not args.taesd:
        components = [c for c in components if c != "tiny_decoder"]
    check_weights(args.weights, components)
    float16 = args.dtype == "fp16"
    trace_half = float16 and args.device != "cpu"  # upstream traces in fp16 on the GPU; the CPU cannot run half convolutions in torch
    upstream = Upstream(args.upstream, args.weights, torch.float16 if trace_half else torch.float32, args.device)
    os.makedirs(args.out, exist_ok=True)
    environment = {
        "exporter": f"personalive-export {EXPORTER_VERSION}",
        "upstreamCommit": checkout_commit(args.upstream),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxOpset": args.opset,
        "randomWeights": upstream.random_weights,
        "resolution": args.resolution,
        "precision": "float16" if float16 else "float32",
        "step": args.step,
        "device": args.device,
    }
    previous = os.path.join(args.out, "export.json")
    if os.path.isfile(previous):
        with open(previous) as f:
            before = json.load(f)
        changed = [k for k in ("resolution", "precision", "step") if before.get(k) != environment[k]]
        if changed:
            raise ExportError("EXPORT_USAGE", f"{args.out} holds a started export with other settings ({', '.join(f'{k} {before.get(k)}' for k in changed)}): "
                              "resume it with the same settings or remove the folder")
    write_json(previous, environment)
    emit("environment", **environment, components=components)
    if upstream.random_weights:
        emit("warning", message=f"{args.weights} holds RANDOM weights ({RANDOM_MARKER} is there): the pack proves the export path and animates noise")
    builder = Builder(upstream, args.resolution, args.step, args.taesd)
    torch.manual_seed(0)
    for name in components:
        done = is_done(args.out, name)
        if done:
            emit("skipped", component=name, file=done["file"], reason="already exported (resumed)")
            continue
        emit("start", component=name)
        started = time.monotonic()
        temp = os.path.join(args.out, f".{name}.partial")
        shutil.rmtree(temp, ignore_errors=True)
        os.makedirs(temp)
        try:
            graph = getattr(builder, name)()
            file = component_file(name, args.step)
            data, shapes = export_graph(graph, os.path.join(temp, file), args.opset, float16 and not trace_half, args.external_data_threshold)
            meta = graph.meta
            del graph  # free the component's weights before the next one
            for f in [file] + ([data] if data else []):
                os.replace(os.path.join(temp, f), os.path.join(args.out, f))
        except ExportError as error:
            error.component = error.component or name
            raise
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise ExportError("EXPORT_DISK_FULL", f"no space left on the disk of {args.out} while writing {name}: free some space and run the "
                                  "same command again (finished components are kept)", component=name) from error
            raise ExportError("EXPORT_FAILED", f"{name}: {error}", component=name) from error
        except (RuntimeError, ValueError, TypeError, KeyError, AttributeError, IndexError) as error:
            traceback.print_exc()  # the whole story on stderr; the event keeps torch's first line
            first = (str(error).strip().splitlines() or [""])[0][:400]
            raise ExportError("EXPORT_FAILED", f"{name}: {type(error).__name__}: {first}", component=name) from error
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        record = {"component": name, "file": file, "data": data, "seconds": round(time.monotonic() - started, 1), "peakRssMb": peak_rss_mb(),
                  "outputShapes": shapes, **meta}
        write_json(os.path.join(args.out, f"{name}.json"), record)
        emit("done", **record)
    emit("finished", components=components, peakRssMb=peak_rss_mb())
