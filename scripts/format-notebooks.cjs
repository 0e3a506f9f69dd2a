#!/usr/bin/env node
// The notebooks' code cells formatted as the library's sources are (prettier, TypeScript), at a
// width of 120 so that a cell reads in a notebook column; a line prettier cannot break (a long
// string) is refused past that width too. Markdown and outputs are left alone.
// Usage: node scripts/format-notebooks.cjs [--check] [NOTEBOOK ...]   (default: notebooks/*.ipynb)
"use strict";
const fs = require("fs");
const path = require("path");
const prettier = require("prettier");

const ROOT = path.join(__dirname, "..");
const OPTIONS = { ...JSON.parse(fs.readFileSync(path.join(ROOT, ".prettierrc.json"), "utf8")), parser: "typescript", printWidth: 120 };

/** A cell's source as Jupyter stores it: lines that keep their "\n", the last one without. */
const toLines = (text) => text.split(/(?<=\n)/);

async function formatCell(source, where) {
  try {
    return (await prettier.format(source, OPTIONS)).replace(/\n+$/, "");
  } catch (e) {
    throw new Error(`${where}: prettier cannot parse this cell: ${String(e.message).split("\n")[0]}`);
  }
}

const WIDTH = OPTIONS.printWidth;

/** The notebook with its code cells formatted, which cells changed, and the lines still too wide. */
async function formatNotebook(file) {
  const text = fs.readFileSync(file, "utf8");
  const nb = JSON.parse(text);
  const changed = [];
  const wide = [];
  for (const [i, cell] of nb.cells.entries()) {
    if (cell.cell_type !== "code") continue;
    const source = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
    const formatted = await formatCell(source, `${path.relative(ROOT, file)} cell ${i}`);
    // Stored as Jupyter writes it, one line per string, or it counts as unformatted too.
    if (formatted !== source || JSON.stringify(cell.source) !== JSON.stringify(toLines(formatted))) {
      changed.push(i);
      cell.source = toLines(formatted);
    }
    formatted.split("\n").forEach((line, k) => {
      if (line.length > WIDTH) wide.push(`cell ${i} line ${k + 1} has ${line.length} characters`);
    });
  }
  return { nb, changed, wide, text };
}

async function main() {
  const args = process.argv.slice(2);
  const check = args.includes("--check");
  const named = args.filter((a) => a !== "--check");
  const dir = path.join(ROOT, "notebooks");
  const files = named.length
    ? named
    : fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".ipynb"))
        .sort()
        .map((f) => path.join(dir, f));
  let unformatted = 0;
  let tooWide = 0;
  for (const file of files) {
    const { nb, changed, wide } = await formatNotebook(file);
    for (const w of wide) console.error(`[warn] ${path.relative(ROOT, file)}: ${w}, over ${WIDTH}: split the string`);
    tooWide += wide.length;
    if (!changed.length) continue;
    if (check) {
      unformatted++;
      console.error(`[warn] ${path.relative(ROOT, file)}: code cells ${changed.join(", ")} are not formatted`);
    } else {
      fs.writeFileSync(file, JSON.stringify(nb, null, 1) + "\n");
      console.log(`${path.relative(ROOT, file)}: formatted cells ${changed.join(", ")}`);
    }
  }
  if (check && unformatted) console.error(`[warn] ${unformatted} notebook(s) need formatting: run npm run format`);
  if ((check && unformatted) || tooWide) process.exit(1);
  if (check) console.log("All notebooks' code cells use Prettier code style!");
}

if (require.main === module)
  main().catch((e) => {
    console.error(e.message);
    process.exit(2);
  });
module.exports = { formatNotebook };
