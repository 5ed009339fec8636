/**
 * The one error catalogue. Every failure the product reports to a user carries one of
 * these codes; docs/errors.md documents each (a test checks that every code is there).
 *
 * exitCode: 2 for bad input or usage (the user can fix it), 1 for runtime failures.
 */
export const ERROR_CATALOGUE = {
  USAGE: { exitCode: 2, summary: 'Invalid command-line usage or argument value.' },
  PACK_MANIFEST_MISSING: { exitCode: 2, summary: 'The model pack folder has no manifest.json.' },
  PACK_MANIFEST_INVALID: { exitCode: 2, summary: 'manifest.json is not valid JSON or breaks the manifest schema.' },
  PACK_FILE_MISSING: { exitCode: 2, summary: 'A file named by the manifest is not in the pack.' },
  PACK_CHECKSUM_MISMATCH: { exitCode: 2, summary: "A pack file's sha256 differs from the manifest." },
  PACK_GRAPH_INVALID: { exitCode: 2, summary: 'An ONNX graph cannot be loaded by ONNX Runtime.' },
  PACK_GRAPH_MISMATCH: { exitCode: 2, summary: "A graph's real inputs/outputs differ from the manifest (name, dtype or shape), or it reads a data file the manifest does not list." },
  EXPORT_ENVIRONMENT: { exitCode: 2, summary: 'No Python with torch >= 1.13 and onnx (or the upstream code cannot be imported in it) for pack export.' },
  EXPORT_UPSTREAM: { exitCode: 2, summary: '--upstream is not a GVCLab/PersonaLive checkout (the files it lacks are named).' },
  EXPORT_WEIGHTS: { exitCode: 2, summary: "--weights lacks files of upstream's pretrained_weights layout (each is named), or --taesd is not a TAESD folder." },
  EXPORT_FAILED: { exitCode: 1, summary: 'Exporting a component failed (the component and the reason are named); finished components are kept for a resumed run.' },
  EXPORT_DISK_FULL: { exitCode: 1, summary: 'The disk filled up during pack export; finished components are kept for a resumed run.' },
  EXPORT_INCOMPLETE: { exitCode: 2, summary: 'The export folder lacks components a pack needs (they are named).' },
  PACK_INVALID: { exitCode: 2, summary: 'A model pack has several problems; the message and details.problems list each one.' },
  DEVICE_UNKNOWN: { exitCode: 2, summary: 'The requested device is not one of cpu, cuda, tensorrt, webgpu.' },
  DEVICE_UNAVAILABLE: { exitCode: 2, summary: 'The requested execution provider is not available in this ONNX Runtime build or on this machine.' },
  DECODER_UNAVAILABLE: { exitCode: 2, summary: 'The requested decoder (vae or tiny) is not in the pack.' },
  GENERATOR_UNKNOWN: { exitCode: 2, summary: 'The requested generator is not registered.' },
  GENERATOR_NEEDS_PACK: { exitCode: 2, summary: 'The PersonaLive generator was chosen without a model pack.' },
  IMAGE_NOT_FOUND: { exitCode: 2, summary: 'An image file does not exist or cannot be read.' },
  IMAGE_UNREADABLE: { exitCode: 2, summary: 'A file is not a decodable PNG, JPEG or WebP image.' },
  VIDEO_NOT_FOUND: { exitCode: 2, summary: 'A video file does not exist or cannot be read.' },
  VIDEO_UNREADABLE: { exitCode: 2, summary: 'ffmpeg cannot read the video (no video stream or corrupt).' },
  VIDEO_NO_FRAMES: { exitCode: 2, summary: 'The video decodes to zero frames.' },
  FFMPEG_MISSING: { exitCode: 1, summary: 'The ffmpeg/ffprobe binaries are not on PATH.' },
  FFMPEG_FAILED: { exitCode: 1, summary: 'ffmpeg exited with an error while decoding or encoding.' },
  OUTPUT_NOT_WRITABLE: { exitCode: 2, summary: 'The output folder does not exist or is not writable.' },
  ENGINE_FAILED: { exitCode: 1, summary: 'Inference failed inside the generator.' },
  ENGINE_CLOSED: { exitCode: 1, summary: 'The generator was used after close().' },
  NO_REFERENCE: { exitCode: 1, summary: 'Driving frames were pushed before a reference was fused.' },
  TRACKER_MODELS_MISSING: { exitCode: 1, summary: 'The face tracker models (from @vladmandic/human) are missing or cannot be loaded.' },
  TRACKER_FAILED: { exitCode: 1, summary: 'The face tracker failed: its worker crashed, timed out or its backend did not start.' },
  TRACKER_CLOSED: { exitCode: 1, summary: 'The face tracker was used after close().' },
  NO_FACE: { exitCode: 2, summary: 'No face was found in an image that needs one (e.g. the reference portrait).' },
  SHM_FAILED: { exitCode: 1, summary: 'A shared-memory object could not be created, opened or mapped (the OS call and errno are named).' },
  RING_INVALID: { exitCode: 1, summary: 'A shared-memory frame ring has a bad magic, version or geometry (another program or an incompatible plugin version).' },
  RING_IN_USE: { exitCode: 1, summary: 'Another live process (another daemon) writes the frame ring of that name.' },
  RING_CLOSED: { exitCode: 1, summary: 'A frame ring was used after close().' },
  VCAM_UNAVAILABLE: { exitCode: 2, summary: 'No virtual camera device: the v4l2loopback module is not loaded (the message gives the modprobe line) or the configured device is not a loopback output.' },
  VCAM_BUSY: { exitCode: 2, summary: "The virtual camera is held by another writer (e.g. OBS's own virtual camera)." },
  VCAM_FAILED: { exitCode: 1, summary: 'Configuring or writing the virtual camera failed (the ioctl or call and errno are named).' },
  OBS_UNREACHABLE: { exitCode: 1, summary: 'obs-websocket could not be reached (OBS not running, websocket server disabled, wrong port).' },
  OBS_AUTH_FAILED: { exitCode: 2, summary: 'obs-websocket refused the password.' },
  OBS_TIMEOUT: { exitCode: 1, summary: 'An obs-websocket call got no answer in time.' },
  OBS_DISCONNECTED: { exitCode: 1, summary: 'The connection to obs-websocket closed while a call was pending, or a call was made while disconnected.' },
  OBS_REQUEST_FAILED: { exitCode: 1, summary: 'obs-websocket answered a request with an error (its code and comment are given).' },
  CONFIG_INVALID: { exitCode: 2, summary: 'The configuration (file, command line or a panel edit) has a bad field; the message names the source, the field and what was expected.' },
  CONTROL_UNAUTHORIZED: { exitCode: 2, summary: 'A control API client came without the right token (an old or incomplete panel URL).' },
  CONTROL_FORBIDDEN_ORIGIN: { exitCode: 2, summary: 'A web page from another origin tried to use the control API.' },
  CONTROL_BAD_MESSAGE: { exitCode: 2, summary: 'A control API message is not valid JSON or lacks id/method.' },
  CONTROL_UNKNOWN_METHOD: { exitCode: 2, summary: 'A control API request names a method that does not exist.' },
  CONTROL_BAD_PARAMS: { exitCode: 2, summary: "A control API request's params break the protocol (the field is named)." },
  CONTROL_MESSAGE_TOO_LARGE: { exitCode: 2, summary: 'A control API message or upload is larger than allowed.' },
  PORT_IN_USE: { exitCode: 1, summary: 'The control API port is taken (another daemon running?).' },
  SETUP_BLOCKED: { exitCode: 1, summary: 'setup cannot change OBS\'s files now (OBS is running and would overwrite them), or its journal is unreadable.' },
  REFERENCE_NOT_FOUND: { exitCode: 2, summary: 'No reference with that id in the gallery.' },
  DRIVING_SOURCE_FAILED: { exitCode: 1, summary: 'The driving source (webcam, file, image or the OBS capture ring) failed to start or stopped.' },
  DAEMON_START_TIMEOUT: { exitCode: 1, summary: 'A subsystem did not become ready in time at start-up (the subsystem is named).' },
  INTERRUPTED: { exitCode: 130, summary: 'The command was interrupted (SIGINT/SIGTERM); partial output was removed.' },
  INTERNAL: { exitCode: 1, summary: 'An unexpected internal error (a bug: please report it).' },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** An error a user can act on: a stable code, a specific message, optional structured details. */
export class PersonaLiveError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PersonaLiveError';
    this.code = code;
    this.details = details;
  }

  get exitCode(): number {
    return ERROR_CATALOGUE[this.code].exitCode;
  }

  /** Plain-object form that survives postMessage / JSON across threads and processes. */
  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }

  static fromJSON(value: { code: ErrorCode; message: string; details?: Record<string, unknown> }): PersonaLiveError {
    return new PersonaLiveError(value.code in ERROR_CATALOGUE ? value.code : 'INTERNAL', value.message, value.details ?? {});
  }
}

/** Wraps anything thrown into a PersonaLiveError (keeping one that already is). */
export function asPersonaLiveError(error: unknown, fallback: ErrorCode = 'INTERNAL'): PersonaLiveError {
  if (error instanceof PersonaLiveError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PersonaLiveError(fallback, message, {}, { cause: error });
}
