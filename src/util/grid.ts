// A choice on the edge of its grid says the grid decided, not the data: the best value may lie
// beyond it. The rule used wherever a setting is chosen from a grid on dev: widen it once, one
// step past the edge the choice fell on (the step between the two values there, as a ratio: the
// grids are spaced by factors), and choose again among all the values tried.

/** The value one step past the edge of `grid` that `chosen` is on, or undefined when `chosen` is
 * inside the grid (or the grid has fewer than two values). */
export function pastTheEdge(grid: readonly number[], chosen: number): number | undefined {
  const g = [...new Set(grid)].sort((a, b) => a - b);
  if (g.length < 2) return undefined;
  // Twelve significant digits: a decade past 1e-5 is 1e-4, not 1.0000000000000003e-4.
  const tidy = (v: number) => Number(v.toPrecision(12));
  if (chosen === g[g.length - 1]) return tidy(chosen * (g[g.length - 1] / g[g.length - 2]));
  if (chosen === g[0]) return tidy(chosen / (g[1] / g[0]));
  return undefined;
}
