/**
 * Checks a control request's params against the protocol before any handler sees them:
 * every field named, typed and bounded. Unknown fields are refused too (a typo should not
 * be silently ignored).
 */
import { PersonaLiveError } from '../errors.js';
import { CONFIGURED_SINKS, DECODER_KINDS, DEVICE_KINDS, DRIVING_KINDS, EXPRESSION_CHECKS, GENERATOR_KINDS, OUTPUT_PICTURES, PANEL_TOGGLED_SINK_KINDS } from '../kinds.js';
import { METHODS, type Method, type RequestMap } from '../protocol.js';
import { isBool, isInt, isNonEmptyString, isShmName, oneOf, type Check } from '../util/checks.js';

const referenceId: Check = (v) => (typeof v === 'string' && /^[0-9a-f]{16}$/.test(v) ? null : 'a reference id (16 hex digits)');
const idList: Check = (v) => (Array.isArray(v) && v.length <= 1000 && v.every((x) => referenceId(x) === null) ? null : 'an array of reference ids');
const webcamDevice: Check = (v) => (typeof v === 'string' && /^\/dev\/video\d{1,3}$/.test(v) ? null : 'a V4L2 device path such as "/dev/video0"');

interface ParamSpec {
  required: Record<string, Check>;
  optional: Record<string, Check>;
}

const SPECS: Record<Method, ParamSpec> = {
  'state.get': { required: {}, optional: {} },
  'references.activate': { required: { id: referenceId }, optional: {} },
  'references.delete': { required: { id: referenceId }, optional: {} },
  'references.reorder': { required: { ids: idList }, optional: {} },
  'backend.set': { required: {}, optional: { generator: oneOf(GENERATOR_KINDS), device: oneOf(DEVICE_KINDS), decoder: oneOf(DECODER_KINDS) } },
  'failover.restore': { required: {}, optional: {} },
  // Paths (file, image) are not settable by clients: never read a path a client chose.
  'driving.set': { required: { kind: oneOf(DRIVING_KINDS) }, optional: { ring: isShmName, webcam: webcamDevice } },
  'output.set': { required: {}, optional: { fps: isInt(1, 120), size: isInt(64, 2048, true), picture: oneOf(OUTPUT_PICTURES), ...Object.fromEntries(PANEL_TOGGLED_SINK_KINDS.map((kind) => [kind, isBool])) } },
  'animation.setPaused': { required: { paused: isBool }, optional: {} },
  'obs.listSources': { required: {}, optional: {} },
  'obs.addOutputSource': { required: {}, optional: { sceneName: isNonEmptyString(256) } },
  'obs.addDrivingFilter': { required: { sourceName: isNonEmptyString(256) }, optional: {} },
  // The configuration's own checks (kinds.ts); the background image's path stays out of clients' reach.
  'camera.set': { required: {}, optional: (({ size, background, colour, scale, x, y }) => ({ size, background, colour, scale, x, y }))(CONFIGURED_SINKS.virtualCamera.checks) },
  'expression.set': { required: {}, optional: { ...EXPRESSION_CHECKS } },
  'expression.calibrate': { required: {}, optional: {} },
  'doctor.run': { required: {}, optional: {} },
};

/** @throws PersonaLiveError CONTROL_UNKNOWN_METHOD, CONTROL_BAD_PARAMS naming the field */
export function validateRequest(method: unknown, params: unknown, extraMethods: readonly string[] = []): { method: Method; params: RequestMap[Method]['params'] } {
  if (typeof method !== 'string' || !(method in SPECS)) {
    if (typeof method === 'string' && extraMethods.includes(method)) return { method: method as Method, params: (params ?? {}) as never };
    throw new PersonaLiveError('CONTROL_UNKNOWN_METHOD', `unknown method ${JSON.stringify(method)}: expected one of ${METHODS.join(', ')}`, { method });
  }
  const spec = SPECS[method as Method];
  const given = params ?? {};
  if (typeof given !== 'object' || Array.isArray(given)) throw new PersonaLiveError('CONTROL_BAD_PARAMS', `${method}: params must be an object`, { method });
  for (const key of Object.keys(given)) {
    if (!(key in spec.required) && !(key in spec.optional)) {
      const known = [...Object.keys(spec.required), ...Object.keys(spec.optional)];
      throw new PersonaLiveError('CONTROL_BAD_PARAMS', `${method}: params.${key} is not a parameter${known.length ? ` (expected ${known.join(', ')})` : ' (it takes none)'}`, { method, field: key });
    }
  }
  for (const [key, check] of Object.entries(spec.required)) {
    const value = (given as Record<string, unknown>)[key];
    if (value === undefined) throw new PersonaLiveError('CONTROL_BAD_PARAMS', `${method}: params.${key} is required`, { method, field: key });
    const expected = check(value);
    if (expected) throw new PersonaLiveError('CONTROL_BAD_PARAMS', `${method}: params.${key}: expected ${expected}, got ${JSON.stringify(value)?.slice(0, 80)}`, { method, field: key });
  }
  for (const [key, check] of Object.entries(spec.optional)) {
    const value = (given as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const expected = check(value);
    if (expected) throw new PersonaLiveError('CONTROL_BAD_PARAMS', `${method}: params.${key}: expected ${expected}, got ${JSON.stringify(value)?.slice(0, 80)}`, { method, field: key });
  }
  return { method: method as Method, params: given as RequestMap[Method]['params'] };
}
