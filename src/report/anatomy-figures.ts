// Pictures of one training batch taken apart (train/anatomy.ts): who is contrasted with whom,
// how similar they are, and what each anchor contributes to the loss.
import type { BatchAnatomy, StudentBatchAnatomy } from "../train/anatomy";
import type { Figure } from "./plot";

/** Anchor i's view name: "p3·a" is the first view of pair 3, "p3·b" its second. */
export function viewNames(a: BatchAnatomy): string[] {
  const n = a.labels.length / 2;
  return Array.from(a.labels, (l, i) => `p${l}·${i < n ? "a" : "b"}`);
}

/** The similarity matrix z_i . z_j, rows = anchors. */
export function similarityFigure(a: BatchAnatomy, title = "Cosine similarity z_i · z_j in one batch"): Figure {
  const names = viewNames(a);
  return {
    data: [
      {
        z: a.similarity,
        x: names,
        y: names,
        type: "heatmap",
        colorscale: "RdBu",
        reversescale: true,
        zmin: -1,
        zmax: 1,
        hovertemplate: "anchor %{y}, other %{x}: %{z:.3f}<extra></extra>",
      },
    ],
    layout: { title: { text: title }, yaxis: { autorange: "reversed", scaleanchor: "x" }, width: 520, height: 500 },
  };
}

/** Each cell's role in anchor i's loss: its positive, a negative the miner keeps, a negative it
 * drops, or the anchor itself. */
export function contrastRolesFigure(
  a: BatchAnatomy,
  title = "Who is contrasted with whom: positives and the negatives mining keeps",
): Figure {
  const names = viewNames(a);
  const roles = ["itself", "dropped negative", "kept negative", "positive"];
  const z = a.similarity.map((row, i) => row.map((_, j) => (i === j ? 0 : a.positives[i][j] ? 3 : a.keptNegatives[i][j] ? 2 : 1)));
  const text = z.map((row) => row.map((v) => roles[v]));
  const colors = ["#ffffff", "#d9d9d9", "#d62728", "#2ca02c"];
  return {
    data: [
      {
        z,
        x: names,
        y: names,
        text,
        type: "heatmap",
        zmin: -0.5,
        zmax: 3.5,
        colorscale: colors.flatMap((c, k) => [
          [k / 4, c],
          [(k + 1) / 4, c],
        ]),
        showscale: false,
        hovertemplate: "anchor %{y}, other %{x}: %{text}<extra></extra>",
      },
    ],
    layout: { title: { text: title }, yaxis: { autorange: "reversed", scaleanchor: "x" }, width: 520, height: 500 },
  };
}

/** Each anchor's term of the loss, with the batch's loss (their mean) as a line. */
export function perAnchorLossFigure(a: BatchAnatomy, title = "Each anchor's loss term; the batch loss is their mean"): Figure {
  const names = viewNames(a);
  return {
    data: [
      { x: names, y: a.perAnchor, type: "bar", name: "(t / t_base) · l_i" },
      { x: [names[0], names[names.length - 1]], y: [a.loss, a.loss], type: "scatter", mode: "lines", name: `mean = ${a.loss.toFixed(4)}` },
    ],
    layout: { title: { text: title }, yaxis: { title: { text: "loss term" } } },
  };
}

/** How close the student's embedding of each unlabeled image is to the teacher's (its target). */
export function targetCosineFigure(
  a: StudentBatchAnatomy,
  title = "Student vs teacher embedding of each unlabeled image (the Smooth L1 term pulls these to 1)",
): Figure {
  return {
    data: [
      {
        x: a.pseudoFiles.map((_, i) => `u${i}`),
        y: a.targetCosine,
        type: "bar",
        name: "cos(student, teacher)",
        hovertext: a.pseudoFiles,
        hovertemplate: "%{hovertext}: %{y:.3f}<extra></extra>",
      },
    ],
    layout: { title: { text: title }, yaxis: { title: { text: "cosine" }, range: [-1, 1] } },
  };
}

/** The student's loss and its two weighted terms, before and after one optimiser step. */
export function studentLossPartsFigure(
  a: StudentBatchAnatomy,
  title = "The two terms of the student's loss, before and after one step",
): Figure {
  const terms = ["alpha · SupCon (pairs)", "(1 - alpha) · Smooth L1 (pseudolabels)", "loss"];
  const values = (p: StudentBatchAnatomy["before"]) => [a.alpha * p.supcon, (1 - a.alpha) * p.smoothl1, p.loss];
  return {
    data: [
      { x: terms, y: values(a.before), type: "bar", name: "before" },
      { x: terms, y: values(a.after), type: "bar", name: `after one step (lr ${a.lr})` },
    ],
    layout: { title: { text: title }, barmode: "group" },
  };
}
