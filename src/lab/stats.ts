/** Small-sample statistics for the lab's comparisons. */

/** A mean and the half-width of its 95% confidence interval. */
export interface Estimate {
  mean: number;
  /** Half-width of the 95% interval; NaN when there is one value and nothing else to go by. */
  ci95: number;
  n: number;
}

/** Student's t, two-sided 95%, by degrees of freedom 1..30 (beyond: 1.96). */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export function t95(df: number): number {
  return df >= 1 && df <= T95.length ? T95[df - 1] : 1.96;
}

/** The mean of independent values (runs with their own seeds) and its t-based 95% interval. */
export function estimate(values: readonly number[]): Estimate {
  const xs = values.filter((v) => Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return { mean: Number.NaN, ci95: Number.NaN, n: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, ci95: Number.NaN, n };
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  return { mean, ci95: (t95(n - 1) * Math.sqrt(variance)) / Math.sqrt(n), n };
}

/**
 * The tolerance for "prediction and measurement agree": the 95% interval of their difference, from the
 * two independent estimates' intervals (sqrt of the sum of squares).
 */
export function tolerance(measured: Estimate, predicted: Estimate): number {
  const m = Number.isFinite(measured.ci95) ? measured.ci95 : Number.NaN;
  const p = Number.isFinite(predicted.ci95) ? predicted.ci95 : 0;
  return Math.sqrt(m * m + p * p);
}
