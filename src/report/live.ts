// Training charts that redraw in place while the loop runs: one output in the notebook (a
// display updated by its id), not one per step. Outside a notebook nothing is drawn and the
// rows are still collected.
import type { Model } from "../models/model";
import type { HistoryRow } from "../train/loop";
import { lossFigure } from "./figures";
import { figureBundle, Figure } from "./plot";
import { liveBundle } from "../util/host";

export interface LiveCheck {
  /** What the check measures, e.g. "grozi-like 1-NN %". */
  name: string;
  /** Every this many steps. */
  every: number;
  run: (model: Model) => Promise<number>;
}

export interface LiveTraining {
  /** Pass as StepOptions.onStep. */
  onStep: (row: HistoryRow, model: Model) => Promise<void>;
  rows: HistoryRow[];
  checks: { step: number; value: number }[];
  /** The chart as it stands (for a report, or when training was already done: from `history`). */
  figure(history?: HistoryRow[]): Figure;
  /** Draw the whole run once more after the loop: the last steps may have come within `minMs`
   * of a redraw, and a run that was already trained drew nothing. */
  finish(history: HistoryRow[]): void;
}

/** A loss curve, and a check (e.g. 1-NN accuracy on a held-out set) every few steps on a second
 * axis, redrawn at most every `minMs` and on every check. */
export function liveTraining(title: string, check?: LiveCheck, minMs = 1000): LiveTraining {
  const rows: HistoryRow[] = [];
  const checks: { step: number; value: number }[] = [];
  const display = liveBundle();
  let last = 0;
  const figure = (history: HistoryRow[] = rows): Figure => {
    const fig = lossFigure(history, title);
    if (check && checks.length) {
      fig.data.push({
        x: checks.map((c) => c.step),
        y: checks.map((c) => c.value),
        type: "scatter",
        mode: "lines+markers",
        name: check.name,
        yaxis: "y2",
      });
      fig.layout = { ...fig.layout, yaxis2: { title: { text: check.name }, overlaying: "y", side: "right" } };
    }
    return fig;
  };
  return {
    rows,
    checks,
    figure,
    finish(history) {
      display?.show(figureBundle(figure(history)));
    },
    async onStep(row, model) {
      rows.push(row);
      let checked = false;
      if (check && row.step % check.every === 0) {
        checks.push({ step: row.step, value: await check.run(model) });
        checked = true;
      }
      if (display && (checked || Date.now() - last >= minMs)) {
        display.show(figureBundle(figure()));
        last = Date.now();
      }
    },
  };
}
