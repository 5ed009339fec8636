/** Summary statistics the benchmarks print: min / median / p95 in milliseconds, 3 decimals. */
export interface Stat {
  min: number;
  median: number;
  p95: number;
}

export function stat(values: number[]): Stat {
  const s = values.slice().sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { min: +s[0].toFixed(3), median: +at(0.5).toFixed(3), p95: +at(0.95).toFixed(3) };
}
