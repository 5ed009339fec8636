/**
 * The daemon's control protocol, defined once and shared by the daemon and the panel
 * (the panel bundles this file; keep it free of Node imports).
 *
 * Transport: WebSocket at ws://127.0.0.1:<port>/control?token=<token> (text frames, JSON).
 *   client -> daemon   { id, method, params }
 *   daemon -> client   { id, ok: true, result } | { id, ok: false, error }
 *   daemon -> client   { event, data }            (stats about 2 Hz, state on change, errors)
 * HTTP on the same port (token as ?token= or "Authorization: Bearer <token>"):
 *   GET  /panel/?token=...                      the dock panel
 *   POST /api/references?name=<display name>    body: the image bytes (PNG/JPEG/WebP, <= 20 MB)
 *   GET  /api/references/<id>/thumbnail.jpg      a reference's thumbnail
 *   GET  /api/preview.mjpg                       live preview (multipart JPEG)
 */

import type { ConfiguredSinkKind, DecoderKind, DeviceKind, DrivingKind, ExpressionControls, GeneratorKind, OutputPicture, SinkSettings } from './kinds.js';

export const PROTOCOL_VERSION = 1;
export const CONTROL_PATH = '/control';
/** Largest control message accepted (bytes); uploads go through HTTP. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Largest reference image upload (bytes). */
export const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;
/** Reference slots reachable by hotkeys. */
export const HOTKEY_SLOTS = 9;


export interface ReferenceInfo {
  id: string;
  /** Display name (from the upload's file name). */
  name: string;
  /** 1..9 for the first nine in gallery order (hotkey "reference slot N"), else null. */
  slot: number | null;
  width: number;
  height: number;
  addedAt: string;
  /** Relative URL of the thumbnail (append the token). */
  thumbnailUrl: string;
}

/** One choice of a backend toggle, disabled with the reason when unavailable. */
export interface BackendOption<T extends string = string> {
  value: T;
  label: string;
  available: boolean;
  /** Why not, in a sentence with what to do. */
  reason: string | null;
  /** What was really found (a library path, a manifest error), for a disclosure; null when there is nothing more. */
  detail: string | null;
}

export interface DrivingSettings {
  kind: DrivingKind;
  /** kind ring: the driving ring name (the plugin's Driving Capture filter writes it). */
  ring: string;
  /** kind webcam: V4L2 device path. */
  webcam: string;
  /** kind file: a video file on this machine, looped (set in the configuration file, not by the panel). */
  file: string;
  /** kind image: a still image (set in the configuration file). */
  image: string;
}

export interface DaemonState {
  version: string;
  protocol: number;
  paused: boolean;
  generator: {
    /** What runs now. */
    active: GeneratorKind;
    /** What the user asked for (differs from active during failover). */
    requested: GeneratorKind;
    device: DeviceKind;
    decoder: DecoderKind;
    /** The execution providers ONNX Runtime really uses (empty for the built-in generator). */
    providers: string[];
    /**
     * 'waiting': no reference yet (upload one); 'starting' while a new backend is prepared
     * in the background; 'failed' when even the built-in generator could not start.
     */
    status: 'waiting' | 'starting' | 'running' | 'failed';
    failover: { active: boolean; reason: string | null; since: string | null };
    /** The expression controls (kinds.ts ExpressionControls). */
    expression: ExpressionControls;
  };
  options: {
    generators: BackendOption<GeneratorKind>[];
    devices: BackendOption<DeviceKind>[];
    decoders: BackendOption<DecoderKind>[];
  };
  driving: DrivingSettings & { state: 'live' | 'waiting' | 'stale' | 'absent' | 'stopped' | 'error'; description: string; error: string | null };
  output: { fps: number; size: number; picture: OutputPicture } & { [K in ConfiguredSinkKind]: SinkState<K> };
  references: ReferenceInfo[];
  activeReferenceId: string | null;
  /** `error` is the last failure as reported, `code` its error code (OBS_UNREACHABLE, OBS_AUTH_FAILED...). */
  obs: { state: 'disabled' | 'disconnected' | 'connecting' | 'connected' | 'closed'; url: string; error: string | null; code: string | null };
}

/** The camera's 16:9 picture (output.virtualCamera): size, background, the animation's place in it. */
export type CameraPictureSettings = Pick<SinkSettings['virtualCamera'], 'size' | 'background' | 'colour' | 'image' | 'scale' | 'x' | 'y'>;

/** How the panel sees a configured sink: what it shows for the known ones, the common shape for any other. */
export interface SinkStates {
  ring: { enabled: boolean; name: string };
  /** `framing` 'photo': a wide portrait shown in its own framing (placement and background apply to square and tall ones); null while off. */
  virtualCamera: { enabled: boolean; state: 'off' | 'running' | 'error'; device: string | null; error: string | null; framing: 'photo' | 'placed' | null } & CameraPictureSettings;
  recording: { enabled: boolean; path: string | null; state: 'off' | 'recording' | 'error'; error: string | null };
}
export type SinkState<K extends ConfiguredSinkKind> = K extends keyof SinkStates ? SinkStates[K] : { enabled: boolean; state: 'off' | 'running' | 'error'; error: string | null };

export interface LatencyFigures {
  p50: number | null;
  p95: number | null;
}

export interface LiveStats {
  /** Driving frames received per second. */
  inputFps: number;
  /** Frames the generator produced per second. */
  generatedFps: number;
  /** Frames sent to the outputs per second (paced, includes repeats). */
  outputFps: number;
  /** Capture-to-output latency over the last few seconds, ms. */
  latencyMs: LatencyFigures;
  drops: { input: number; output: number };
  repeats: number;
  framesOut: number;
  generator: GeneratorKind;
  /** e.g. "CPUExecutionProvider", "CUDAExecutionProvider", or "built-in (CPU)". */
  executionProvider: string;
  failover: boolean;
  uptimeS: number;
  rssMb: number;
}

export interface ErrorPayload {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** Every request: its params and its result. */
export interface RequestMap {
  'state.get': { params: Record<string, never>; result: DaemonState };
  'references.activate': { params: { id: string }; result: { activeReferenceId: string } };
  'references.delete': { params: { id: string }; result: { references: ReferenceInfo[] } };
  'references.reorder': { params: { ids: string[] }; result: { references: ReferenceInfo[] } };
  'backend.set': { params: { generator?: GeneratorKind; device?: DeviceKind; decoder?: DecoderKind }; result: DaemonState['generator'] };
  'failover.restore': { params: Record<string, never>; result: DaemonState['generator'] };
  'driving.set': { params: Partial<DrivingSettings> & { kind: DrivingKind }; result: DaemonState['driving'] };
  /** Sink switches: the kinds whose panelToggle is set (kinds.ts); others are refused. */
  'output.set': { params: { fps?: number; size?: number; picture?: OutputPicture } & { [K in ConfiguredSinkKind]?: boolean }; result: DaemonState['output'] };
  'animation.setPaused': { params: { paused: boolean }; result: { paused: boolean } };
  'obs.listSources': { params: Record<string, never>; result: { sources: { name: string; kind: string }[] } };
  'obs.addOutputSource': { params: { sceneName?: string }; result: { sceneName: string; inputName: string } };
  'obs.addDrivingFilter': { params: { sourceName: string }; result: { sourceName: string; filterName: string } };
  /** The camera picture, changed on the running camera (the background image's path is set in the configuration only). */
  'camera.set': { params: Partial<Omit<CameraPictureSettings, 'image'>>; result: DaemonState['output']['virtualCamera'] };
  /** The built-in generator's expression controls (any subset), followed from the next frame. */
  'expression.set': { params: Partial<ExpressionControls>; result: ExpressionControls };
  /** "This is my neutral face": the next driving frame becomes the neutral. */
  'expression.calibrate': { params: Record<string, never>; result: { calibrated: true } };
  /** The same checks as `personalive doctor`, run by the daemon. */
  'doctor.run': { params: Record<string, never>; result: { checks: DoctorCheck[] } };
}

/** One line of `personalive doctor` (and the panel's Checks). */
export interface DoctorCheck {
  /** "ffmpeg", "OBS (native)", "virtual camera", "GPU", "model pack", "daemon". */
  area: string;
  name: string;
  /** info: nothing wrong, nothing to do (no GPU here, no pack configured). */
  status: 'ok' | 'warn' | 'fail' | 'info';
  /** What was found, in a sentence. */
  found: string;
  /** What to do, when something is wrong. */
  fix: string | null;
}

export type Method = keyof RequestMap;
export const METHODS: readonly Method[] = [
  'state.get', 'references.activate', 'references.delete', 'references.reorder', 'backend.set', 'failover.restore',
  'driving.set', 'output.set', 'animation.setPaused', 'obs.listSources', 'obs.addOutputSource', 'obs.addDrivingFilter', 'camera.set', 'expression.set', 'expression.calibrate', 'doctor.run',
];

export interface EventMap {
  stats: LiveStats;
  state: DaemonState;
  /** Something went wrong that the user should see (a failed swap, a failover...). */
  notice: { level: 'info' | 'warning' | 'error'; code: string | null; message: string };
}
export type EventName = keyof EventMap;

export interface RequestMessage<M extends Method = Method> {
  id: number | string;
  method: M;
  params: RequestMap[M]['params'];
}
export type ResponseMessage<M extends Method = Method> =
  | { id: number | string; ok: true; result: RequestMap[M]['result'] }
  | { id: number | string | null; ok: false; error: ErrorPayload };
export interface EventMessage<E extends EventName = EventName> {
  event: E;
  data: EventMap[E];
}

/** The reply to POST /api/references (201 with the new entry, or 4xx with the error). */
export type UploadResponse = { ok: true; result: ReferenceInfo } | { ok: false; error: ErrorPayload };

/** Error codes of the protocol itself (the daemon's own codes come from its catalogue). */
export const PROTOCOL_ERRORS = {
  BAD_MESSAGE: 'CONTROL_BAD_MESSAGE',
  UNKNOWN_METHOD: 'CONTROL_UNKNOWN_METHOD',
  BAD_PARAMS: 'CONTROL_BAD_PARAMS',
  TOO_LARGE: 'CONTROL_MESSAGE_TOO_LARGE',
} as const;
