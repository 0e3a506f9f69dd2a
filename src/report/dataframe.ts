// Tables as danfojs DataFrames: built from plain rows, shown as HTML inline, saved as CSV/JSON.
import * as fs from "fs";
import { escapeHtml, showHtml } from "../util/host";

export type Row = Record<string, string | number | null>;

let dfd: any;
/** danfojs-node is loaded lazily: it pulls in a lot, and the CLI rarely needs it. */
export function danfo(): any {
  if (!dfd) dfd = require("danfojs-node");
  return dfd;
}

export function toDataFrame(rows: Row[]): any {
  if (rows.length === 0) throw new Error("toDataFrame: no rows");
  return new (danfo().DataFrame)(rows);
}

function fmt(v: unknown): string {
  if (v === null || v === undefined || (typeof v === "number" && Number.isNaN(v))) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 1 ? 3 : 1);
  return String(v);
}

/** A plain-text table for terminals: whole cells, no index column, blanks as blanks, numbers
 * right-aligned. */
export function textTable(cols: string[], values: unknown[][]): string {
  const cells = values.map((r) => r.map(fmt));
  const width = cols.map((c, j) => Math.max(c.length, ...cells.map((r) => r[j].length)));
  const numeric = cols.map((_, j) => values.every((r) => r[j] === null || r[j] === undefined || typeof r[j] === "number"));
  const line = (r: string[]) =>
    r
      .map((v, j) => (numeric[j] ? v.padStart(width[j]) : v.padEnd(width[j])))
      .join("  ")
      .trimEnd();
  return [line(cols), width.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}

/** HTML of a DataFrame (danfojs has no HTML export in Node). */
export function dataFrameHtml(df: any, caption?: string): string {
  const cols: string[] = df.columns;
  const values: unknown[][] = df.values;
  const th = cols.map((c) => `<th style="text-align:left;padding:2px 8px">${escapeHtml(c)}</th>`).join("");
  const body = values.map((r) => `<tr>${r.map((v) => `<td style="padding:2px 8px">${escapeHtml(fmt(v))}</td>`).join("")}</tr>`).join("\n");
  const cap = caption ? `<caption style="text-align:left;font-weight:bold">${escapeHtml(caption)}</caption>` : "";
  return `<table class="rr-table" style="border-collapse:collapse">${cap}<thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** Show inline in a notebook (returns true), or print as text elsewhere (false). */
export function showTable(df: any, caption?: string): boolean {
  if (showHtml(dataFrameHtml(df, caption))) return true;
  if (caption) console.log(`\n${caption}`);
  console.log(textTable(df.columns, df.values));
  return false;
}

export function saveTableCsv(rows: Row[], file: string): void {
  const cols = Object.keys(rows[0] ?? {});
  const cell = (v: unknown) => {
    const s = fmt(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  fs.writeFileSync(file, [cols.join(","), ...rows.map((r) => cols.map((c) => cell(r[c])).join(","))].join("\n") + "\n");
}
