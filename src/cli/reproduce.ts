// `npm run reproduce`: the whole paper on one profile — data, the pretrained start, teacher,
// pseudolabels and student, fine-tune baselines and probes, the tables with intervals and the
// findings — then the notebook series executed headless into reports/. Every step is cached by
// its inputs, so a second run with nothing changed only reads results back.
import * as path from "path";
import { selectBackend } from "../engine/backend";
import { overridesOf, Profile, withRun } from "../config/profiles";
import * as fs from "fs";
import { NotebookRun, runNotebooks } from "../jupyter/harness";
import { reportPath } from "../util/reports";
import { reportTables } from "../report/paper-tables";
import { showTable, toDataFrame } from "../report/dataframe";
import { paths } from "../util/paths";
import { formatSeconds } from "../util/progress";
import { evaluate, metricsName, testProducts, writeMetrics } from "../pipeline/evaluate";
import type { Metrics } from "../pipeline/metrics";
import { summariseSeeds } from "../pipeline/seeds";
import { paperFindings } from "../pipeline/paper-findings";
import { ensureStep, planSteps } from "../pipeline/steps";
import type { ProcessGroup } from "../engine/process-group";
import { rankZeroLog } from "./launch";

/** The init for the notebooks' kernels: a checkpoint folder as an absolute path, since
 * notebooks run in notebooks/, not where the command was given. */
function notebookInit(profile: Profile): string | undefined {
  if (profile.init === "pretrained") return undefined;
  return profile.init === "random" ? "random" : path.resolve(profile.init);
}

export interface ReproduceOptions {
  notebooks?: boolean;
  /** Repeat the training steps this many times, each with its own training seed and its own
   * draws of dev-like and the test sets, every choice made again (1 = the profile's run only). */
  seeds?: number;
  /** One rank of a data-parallel run: every rank trains each training step together; rank 0
   * alone makes the other steps, evaluates, and writes the metrics, tables and notebooks. */
  group?: ProcessGroup;
}

export async function reproduce(profile: Profile, opts: ReproduceOptions = {}): Promise<number> {
  const t0 = Date.now();
  await selectBackend();
  const seconds: Record<string, number> = {};
  const cached = new Set<string>();
  /** Run a stage, timed; `wasCached` says, after it ran, whether it only read its cache back. */
  const log = rankZeroLog(opts.group); // rank 0 speaks for all
  const stage = async <T>(name: string, fn: () => Promise<T>, wasCached: () => boolean): Promise<T> => {
    const t = Date.now();
    log(`== ${name}`);
    const r = await fn();
    seconds[name] = Math.round((Date.now() - t) / 100) / 10;
    const reused = wasCached();
    if (reused) cached.add(name);
    log(`   ${name} ${reused ? "read back from its cache" : "done"} in ${formatSeconds(seconds[name])}`);
    return r;
  };
  /** The pipeline's steps in their table's order, each made unless its artifact is current. */
  const steps = async (p: Profile, label = "") => {
    for (const row of planSteps(p))
      await stage(
        `${label}${row.step}`,
        () => ensureStep(p, row.step, { group: opts.group }),
        () => row.status === "cached",
      );
  };
  /** The probes and the metrics, read back when their inputs are the metrics file's. */
  const evaluation = (p: Profile, label = "") => {
    const file = reportPath(metricsName(p));
    const before = fs.existsSync(file) ? fs.statSync(file).mtimeMs : -1;
    return stage(
      `${label}evaluate`,
      () => evaluate(p),
      () => before >= 0 && fs.statSync(file).mtimeMs === before,
    );
  };
  const seeds = Math.max(1, opts.seeds ?? 1);
  if (opts.group && opts.group.rank !== 0) {
    // The other ranks train with rank 0 (each step waits for what rank 0 makes alone) and stop.
    for (let k = 0; k < seeds; k++) await steps(k ? withRun(profile, { repeat: k }) : profile);
    return 0;
  }
  await steps(profile);
  let metrics = await evaluation(profile);

  if (seeds > 1) {
    const runs: Metrics[] = [metrics];
    for (let k = 1; k < seeds; k++) {
      const pk = withRun(profile, { repeat: k });
      const label = `repeat ${k} (training seed +${k}, its own dev and test draws): `;
      await steps(pk, label);
      runs.push(await evaluation(pk, label));
    }
    const summary = summariseSeeds(runs);
    // The findings over every repeat: a hierarchical paired bootstrap over the repeats and each
    // one's test products (each repeat scores its own draw of the test sets).
    const findings = paperFindings(
      runs.map((m) => ({ ...m, selection: m.meta.selection })),
      runs.map((_, k) => testProducts(withRun(profile, { repeat: k }))),
      profile.seed,
    );
    metrics = { ...metrics, seeds: summary, findings };
    const p = (v: number) => (100 * v).toFixed(1);
    showTable(
      toDataFrame(
        summary.map((s) => ({ set: s.set, row: s.row, "mean % ± sd": `${p(s.mean)} ± ${p(s.sd)}`, runs: s.values.map(p).join(" / ") })),
      ),
      `${seeds} repeats (training seed, dev and test draws): mean ± sd`,
    );
  }
  // Each stage's time in the run that did its work: a stage this run read back from its cache
  // keeps the time recorded when it was computed.
  const recorded = { ...metrics.meta.stageSeconds };
  const save = () => {
    const stageSeconds = Object.fromEntries(
      Object.entries(seconds).map(([k, v]) => [k, cached.has(k) && recorded[k] !== undefined ? recorded[k] : v]),
    );
    // A one-seed rerun keeps an earlier --seeds summary (and its count) that it read back, and
    // its repeats' times; a stage the pipeline no longer has is dropped.
    const repeats =
      seeds === 1 && metrics.seeds ? Object.fromEntries(Object.entries(recorded).filter(([k]) => k.startsWith("repeat "))) : {};
    metrics = {
      ...metrics,
      meta: {
        ...metrics.meta,
        seeds: seeds > 1 || !metrics.seeds ? seeds : metrics.meta.seeds,
        stageSeconds: { ...repeats, ...stageSeconds },
      },
    };
    return writeMetrics(profile, metrics);
  };
  const metricsFile = save();
  const written = [metricsFile, ...reportTables(metrics)];

  let failed = 0;
  const warnings: string[] = [];
  if (opts.notebooks !== false) {
    let runs: NotebookRun[] = [];
    const execute = async () =>
      (runs = runNotebooks({
        profile: profile.name,
        init: notebookInit(profile),
        overrides: overridesOf(profile),
        inputs: metrics.inputs,
        oversize: "warn",
      }));
    await stage("notebooks", execute, () => runs.every((r) => r.reused));
    failed = runs.filter((r) => !r.ok).length;
    warnings.push(...runs.filter((r) => r.warning).map((r) => r.warning!));
    save();
    written.push(...runs.map((r) => r.html));
  }
  console.log(`\nwritten:\n${written.map((f) => `  ${path.relative(paths.root, f)}`).join("\n")}`);
  const total = (Date.now() - t0) / 1000;
  console.log(
    `stage times: ${Object.entries(seconds)
      .map(([k, v]) => `${k} ${formatSeconds(v)}`)
      .join(", ")}`,
  );
  if (warnings.length)
    console.log(
      `\nwarnings (the results are computed; these notebooks are heavier than a person would save):\n${warnings.map((w) => `  ${w}`).join("\n")}`,
    );
  console.log(
    `reproduce (${profile.name}, init ${profile.init}) finished in ${formatSeconds(total)}${failed ? `; ${failed} notebooks FAILED` : ""}${warnings.length ? `; ${warnings.length} notebook size warnings` : ""}`,
  );
  return failed ? 1 : 0;
}
