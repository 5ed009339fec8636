/**
 * Field checks shared by the configuration validator (config/config.ts) and the control
 * request validator (control/validate.ts), and the one shared-memory name rule (the C side
 * checks the same rule in plugin/include/personalive-ring.h). A check returns null when
 * the value is acceptable, otherwise what was expected, in words for the error message.
 * Node-free.
 */

export type Check = (value: unknown) => string | null;

export const isBool: Check = (v) => (typeof v === 'boolean' ? null : 'true or false');

/** An integer in [min, max]; `even` for sizes that video formats need even. */
export const isInt = (min: number, max: number, even = false): Check => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max && (!even || v % 2 === 0) ? null : `${even ? 'an even' : 'an'} integer from ${min} to ${max}`;

/** A number in [min, max] (fractions allowed). */
export const isNumber = (min: number, max: number): Check => (v) => (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? null : `a number from ${min} to ${max}`);

/** A colour as '#rrggbb'. */
export const isHexColour: Check = (v) => (typeof v === 'string' && /^#[0-9a-fA-F]{6}$/.test(v) ? null : 'a colour such as "#202020"');

/** A string of at most `maxLength` characters (empty allowed: "not set"). */
export const isString = (maxLength = 4096): Check => (v) => (typeof v === 'string' && v.length <= maxLength ? null : `a string (at most ${maxLength} characters)`);

export const isNonEmptyString = (maxLength = 200): Check => (v) => (typeof v === 'string' && v.length > 0 && v.length <= maxLength ? null : `a non-empty string of at most ${maxLength} characters`);

export const oneOf = (values: readonly string[]): Check => (v) => (typeof v === 'string' && values.includes(v) ? null : `one of ${values.map((x) => `"${x}"`).join(', ')}`);

/** Longest shared-memory (ring) name; the C header's PL_SHM_NAME_MAX. */
export const SHM_NAME_MAX = 200;
/** The shared-memory name rule in words (the same words as the C side's messages). */
export const SHM_NAME_RULE = `1-${SHM_NAME_MAX} characters of A-Z a-z 0-9 . _ -`;
const SHM_NAME_PATTERN = new RegExp(`^[A-Za-z0-9._-]{1,${SHM_NAME_MAX}}$`);

/** Whether `name` may name a shared-memory object (portable across POSIX shm and Win32 mappings). */
export function isValidShmName(name: unknown): name is string {
  return typeof name === 'string' && SHM_NAME_PATTERN.test(name);
}

export const isShmName: Check = (v) => (isValidShmName(v) ? null : SHM_NAME_RULE);
