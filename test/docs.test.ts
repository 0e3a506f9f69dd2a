// The README and docs/ as a newcomer reads them: every relative link resolves (the file, and the
// heading an anchor names), the README stays short, and the set-up block CI runs is the README's.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..", "..");
const { readmeBlock } = require(path.join(ROOT, ".ci", "readme-block.cjs")) as { readmeBlock: (text: string, name: string) => string[] };

function pages(): string[] {
  const docs = path.join(ROOT, "docs");
  return [
    "README.md",
    ...fs
      .readdirSync(docs)
      .filter((f) => f.endsWith(".md"))
      .map((f) => path.join("docs", f)),
  ];
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, "")
    .replace(/[^\p{L}\p{N} -]/gu, "")
    .replace(/ /g, "-");
}

function anchors(file: string): Set<string> {
  const text = fs.readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
}

/** The links of a Markdown text outside code: [text](target). */
function links(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

test("slug follows GitHub's rule on hand-worked headings", () => {
  assert.equal(slug("Results (cpu profile, synthetic data)"), "results-cpu-profile-synthetic-data");
  assert.equal(slug("How the comparisons are made"), "how-the-comparisons-are-made");
  assert.equal(slug("`src/`: the library's rooms"), "src-the-librarys-rooms");
});

test("every relative link in README.md and docs/ resolves, anchors included", () => {
  const broken: string[] = [];
  let checked = 0;
  for (const page of pages()) {
    const from = path.join(ROOT, page);
    for (const target of links(fs.readFileSync(from, "utf8"))) {
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
      checked++;
      const [file, anchor] = target.split("#");
      const dest = file ? path.resolve(path.dirname(from), file) : from;
      if (!fs.existsSync(dest)) broken.push(`${page}: ${target} (no such file)`);
      else if (anchor && dest.endsWith(".md") && !anchors(dest).has(anchor)) broken.push(`${page}: ${target} (no heading #${anchor})`);
    }
  }
  assert.deepEqual(broken, [], "broken links");
  assert.ok(checked >= 10, `only ${checked} relative links were found: is the link pattern still right?`);
});

test("the link check catches a missing file and a missing heading", () => {
  const bad = links("see [a](docs/nope.md) and [b](README.md#no-such-heading) but not `[c](x.md)`");
  assert.deepEqual(bad, ["docs/nope.md", "README.md#no-such-heading"]);
  assert.equal(fs.existsSync(path.join(ROOT, "docs/nope.md")), false);
  assert.equal(anchors(path.join(ROOT, "README.md")).has("no-such-heading"), false);
});

test("README.md is at most 300 lines", () => {
  const text = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const lines = text.split("\n").length;
  assert.ok(lines <= 300, `README.md has ${lines} lines; move detail to docs/`);
});

test("CI runs the README's own set-up, test and main blocks", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const setup = readmeBlock(readme, "setup");
  assert.ok(
    setup.some((l) => /\bnpm ci\b/.test(l)),
    `the set-up block runs no npm ci: ${setup.join("; ")}`,
  );
  assert.deepEqual(readmeBlock(readme, "test"), ["npm test"]);
  assert.deepEqual(readmeBlock(readme, "main"), ["npm run reproduce"]);
  // No environment variable is needed: the onnxruntime-node switch lives in the project's .npmrc.
  assert.ok(!setup.some((l) => /\b[A-Z_]{4,}=/.test(l)), `the set-up block sets an environment variable: ${setup.join("; ")}`);
  assert.match(fs.readFileSync(path.join(ROOT, ".npmrc"), "utf8"), /^onnxruntime-node-install=skip$/m);
  const ci = fs.readFileSync(path.join(ROOT, ".ci", "run"), "utf8");
  for (const name of ["setup", "test", "main"])
    assert.match(ci, new RegExp(`readme_block ${name}\\b`), `.ci/run does not run the README's ${name} block`);
  assert.doesNotMatch(ci, /ONNXRUNTIME_NODE_INSTALL/, ".ci/run must not set what a README user would not");
});

test("readmeBlock joins continued lines, drops comments, and names a missing block", () => {
  const text = "x\n<!-- ci:a -->\n```bash\nsudo apt-get install -y a \\\n  b   # two packages\n\nnpm ci  # install\n```\n";
  assert.deepEqual(readmeBlock(text, "a"), ["sudo apt-get install -y a    b", "npm ci"]);
  assert.throws(() => readmeBlock(text, "b"), /no block marked <!-- ci:b -->/);
  assert.throws(() => readmeBlock("<!-- ci:a -->\ntext\n", "a"), /not followed by a fenced block/);
});
