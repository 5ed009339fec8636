/** Repeated failures logged once per run (OBS closed for hours must not fill the log). */
import { describe, expect, it } from 'vitest';
import { FailureRun } from '../../daemon/util/failure-run.js';

describe('FailureRun', () => {
  it('reports the first failure of a run and a changed reason, then the count at the end', () => {
    const run = new FailureRun();
    const logged = ['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED', 'auth failed', 'auth failed'].map((reason) => run.fail(reason));
    expect(logged).toEqual([true, false, false, true, false]);
    expect(run.failures).toBe(5);
    expect(run.succeed()).toBe(5);
    expect(run.succeed()).toBe(0);
    expect(run.fail('ECONNREFUSED')).toBe(true); // a new run
  });
});
