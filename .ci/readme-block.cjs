#!/usr/bin/env node
// Prints the commands of the README's fenced block marked `<!-- ci:NAME -->` (the line just
// before the fence), one per line, comments and blank lines dropped, so that CI runs the
// README's own set-up and test lines and the two cannot drift apart.
// Usage: node .ci/readme-block.cjs NAME [README]
"use strict";
const fs = require("fs");
const path = require("path");

function readmeBlock(text, name) {
  const lines = text.split("\n");
  const at = lines.findIndex((l) => l.trim() === `<!-- ci:${name} -->`);
  if (at < 0) throw new Error(`README has no block marked <!-- ci:${name} -->`);
  if (!/^```/.test(lines[at + 1] ?? "")) throw new Error(`<!-- ci:${name} --> is not followed by a fenced block (line ${at + 2})`);
  const end = lines.findIndex((l, i) => i > at + 1 && /^```\s*$/.test(l));
  if (end < 0) throw new Error(`the block marked <!-- ci:${name} --> has no closing fence`);
  // A trailing backslash continues a command on the next line, as in a shell.
  const commands = lines
    .slice(at + 2, end)
    .join("\n")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.replace(/(^|\s)#.*$/, "").trim())
    .filter((l) => l.length > 0);
  if (commands.length === 0) throw new Error(`the block marked <!-- ci:${name} --> holds no command`);
  return commands;
}

if (require.main === module) {
  const [name, file = path.join(__dirname, "..", "README.md")] = process.argv.slice(2);
  if (!name) {
    console.error("usage: node .ci/readme-block.cjs NAME [README]");
    process.exit(2);
  }
  try {
    console.log(readmeBlock(fs.readFileSync(file, "utf8"), name).join("\n"));
  } catch (e) {
    console.error(`${file}: ${e.message}`);
    process.exit(1);
  }
}
module.exports = { readmeBlock };
