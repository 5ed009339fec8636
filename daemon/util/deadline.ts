/**
 * Resolves or rejects like `work`, unless `ms` pass first: then rejects with `onTimeout()`.
 * The timer is always cleared, so a finished call leaves nothing pending. `work` itself is
 * not cancelled (a hung worker may never answer): the caller decides what to abandon.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
