/**
 * The monotonic clock frames are stamped with, in microseconds: CLOCK_MONOTONIC on Linux,
 * QPC on Windows (uv_hrtime), the clock OBS's os_gettime_ns() reads too, so capture times
 * compare across the daemon, its workers and OBS.
 */
import { performance } from 'node:perf_hooks';

// performance.now() counts from process start on uv_hrtime's clock: shifting it once puts
// it on process.hrtime's scale without a BigInt per call (this is read on every frame).
const HRTIME_OFFSET_US = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;

/** Monotonic microseconds (process.hrtime's clock). */
export function monotonicUs(): number {
  return HRTIME_OFFSET_US + performance.now() * 1000;
}
