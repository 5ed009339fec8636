import { expect } from 'vitest';
import { PersonaLiveError } from '../../daemon/errors.js';

/** Awaits a promise that must reject with a PersonaLiveError, and returns that error. */
export async function rejection(promise: Promise<unknown>): Promise<PersonaLiveError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PersonaLiveError);
    return error as PersonaLiveError;
  }
  throw new Error('expected a PersonaLiveError, but the call succeeded');
}
