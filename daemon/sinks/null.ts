/** Counts frames and drops them (soak runs, benchmarks). */
import type { Sink } from './types.js';

export function createNullSink(): Sink {
  let written = 0;
  return {
    kind: 'null',
    write() {
      written++;
    },
    status: () => ({ written }),
    async close() {},
  };
}
