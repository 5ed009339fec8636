/**
 * A run of repeated failures reported once: the first of a run (or a new reason) is worth a
 * log line, the same reason again every few seconds for hours is not; the end of the run is
 * reported with how many attempts failed.
 */
export class FailureRun {
  private reason: string | null = null;
  private count = 0;

  /** Counts one failure; true when it starts a run or changes its reason (log it). */
  fail(reason: string): boolean {
    this.count++;
    if (reason === this.reason) return false;
    this.reason = reason;
    return true;
  }

  /** Ends the run; returns how many attempts failed in it (0: there was none). */
  succeed(): number {
    const failed = this.count;
    this.reason = null;
    this.count = 0;
    return failed;
  }

  get failures(): number {
    return this.count;
  }
}
