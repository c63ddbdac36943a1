// Latency percentiles from the full sorted sample set: exact, and cheap enough at
// the sample counts a run produces (a few million at most). No averages: a mean
// hides exactly the tail the benchmark exists to show.

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/** Nearest-rank percentile of an ascending array; q in [0, 1]. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Summarises latencies given in microseconds; undefined when there are none. */
export function summarizeLatencies(samplesUs: ArrayLike<number>): LatencySummary | undefined {
  if (samplesUs.length === 0) return undefined;
  const sorted = Float64Array.from(samplesUs).sort();
  const ms = (us: number) => us / 1000;
  return {
    count: sorted.length,
    p50Ms: ms(percentile(sorted, 0.5)),
    p99Ms: ms(percentile(sorted, 0.99)),
    p999Ms: ms(percentile(sorted, 0.999)),
    maxMs: ms(sorted[sorted.length - 1] ?? Number.NaN),
  };
}
