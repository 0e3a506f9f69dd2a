// What could this set-up have seen? A difference estimated with standard error se is declared
// at two-sided level alpha when |estimate| > z(1 - alpha/2) se. If the true difference is D, the
// estimate is about Normal(D, se), so it is declared with probability `power` when
// D >= (z(1 - alpha/2) + z(power)) se: the minimum detectable difference. An inconclusive
// comparison whose MDD is above the effect one looks for says "could not have seen it", not "no
// effect".
const { jStat } = require("jstat") as { jStat: { normal: { inv(p: number, mean: number, sd: number): number } } };

/** The standard normal's quantile function. */
export const normalQuantile = (p: number) => jStat.normal.inv(p, 0, 1);

/** The smallest true difference detected with probability `power` by a two-sided test at level
 * `alpha`, for an estimate with standard error `se`. */
export function minimumDetectableDifference(se: number, alpha = 0.05, power = 0.8): number {
  if (!(se >= 0)) throw new Error(`minimumDetectableDifference: standard error ${se}, expected >= 0`);
  if (!(alpha > 0 && alpha < 1 && power > 0 && power < 1))
    throw new Error(`minimumDetectableDifference: alpha ${alpha} and power ${power} must lie in (0, 1)`);
  return (normalQuantile(1 - alpha / 2) + normalQuantile(power)) * se;
}
