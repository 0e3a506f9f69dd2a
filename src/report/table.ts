// Tables as danfojs DataFrames: built from plain rows, shown as HTML inline, saved as CSV/JSON.
import * as fs from "fs";
import { escapeHtml, showHtml } from "./notebook";

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
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  return String(v);
}

/** HTML of a DataFrame (danfojs has no HTML export in Node). */
export function dataFrameHtml(df: any, caption?: string): string {
  const cols: string[] = df.columns;
  const values: unknown[][] = df.values;
  const th = cols.map((c) => `<th style="text-align:left;padding:2px 8px">${escapeHtml(c)}</th>`).join("");
  const body = values
    .map((r) => `<tr>${r.map((v) => `<td style="padding:2px 8px">${escapeHtml(fmt(v))}</td>`).join("")}</tr>`)
    .join("\n");
  const cap = caption ? `<caption style="text-align:left;font-weight:bold">${escapeHtml(caption)}</caption>` : "";
  return `<table class="rr-table" style="border-collapse:collapse">${cap}<thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** Show inline in a notebook, or print as text elsewhere. */
export function showTable(df: any, caption?: string): void {
  if (!showHtml(dataFrameHtml(df, caption))) {
    if (caption) console.log(caption);
    console.log(df.toString());
  }
}

export function saveTableCsv(rows: Row[], file: string): void {
  const cols = Object.keys(rows[0] ?? {});
  const cell = (v: unknown) => {
    const s = fmt(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  fs.writeFileSync(file, [cols.join(","), ...rows.map((r) => cols.map((c) => cell(r[c])).join(","))].join("\n") + "\n");
}
