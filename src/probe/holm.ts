// Several comparisons behind one claim: with m chances at the 5 % level, one spurious "holds" or
// "fails" becomes likely. Holm's step-down procedure keeps the chance of any false rejection
// among the m at most alpha: sort the p-values, compare the k-th smallest with alpha / (m - k + 1),
// and stop at the first that is not below. Written as adjusted p-values (Holm 1979): a comparison
// is rejected at level alpha exactly when its adjusted p is <= alpha.

/** Holm-adjusted p-values, in the order given: max over j <= k of min(1, (m - j + 1) p_(j)). */
export function holmAdjust(p: readonly number[]): number[] {
  const m = p.length;
  for (const [i, v] of p.entries())
    if (!(v >= 0 && v <= 1)) throw new Error(`holmAdjust: p-value ${i} is ${v}, expected a number in [0, 1]`);
  const order = p.map((_, i) => i).sort((i, j) => p[i] - p[j]);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach((i, k) => {
    running = Math.max(running, Math.min(1, (m - k) * p[i]));
    adjusted[i] = running;
  });
  return adjusted;
}
