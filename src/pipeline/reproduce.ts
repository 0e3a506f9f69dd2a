// `npm run reproduce`: the whole paper on one profile, then the notebook series executed
// headless into reports/. Every step is cached, so a second run only redoes what changed.
import { selectBackend } from "../engine/backend";
import { Profile } from "../config/profiles";
import { runNotebooks } from "../notebooks/run";
import { reportTables } from "../report/tables";
import { formatSeconds } from "../util/progress";
import { evaluate } from "./evaluate";
import { ensureData, trainStudent, trainTeacher } from "./steps";

export async function reproduce(profile: Profile, opts: { notebooks?: boolean } = {}): Promise<number> {
  const t0 = Date.now();
  await selectBackend();
  const stage = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    console.log(`== ${name}`);
    const r = await fn();
    console.log(`   ${name} done in ${formatSeconds((Date.now() - t) / 1000)}`);
    return r;
  };
  await stage("data", () => ensureData(profile));
  await stage("teacher", () => trainTeacher(profile));
  await stage("student (with pseudolabels)", () => trainStudent(profile));
  const metrics = await stage("probes and fine-tune baselines", () => evaluate(profile));
  reportTables(metrics);
  let failed = 0;
  if (opts.notebooks !== false) {
    const runs = await stage("notebooks", async () => runNotebooks({ profile: profile.name }));
    failed = runs.filter((r) => !r.ok).length;
  }
  console.log(`reproduce (${profile.name}) finished in ${formatSeconds((Date.now() - t0) / 1000)}${failed ? `; ${failed} notebooks FAILED` : ""}`);
  return failed ? 1 : 0;
}
