// Checks that read an input (a dataset's manifest, its planned spec, pseudolabel parts) are asked
// the same question many times in one run: every step checks the steps it reads. Their answers
// are kept per version of the file they read (its path, size and modification time) and per
// question, so each input is read and hashed once per process; a rewritten file is read again.
import * as fs from "fs";

const answers = new Map<string, unknown>();

/** `compute()`'s value for this version of `file` and this `question`; not kept (computed every
 * time) when the file does not exist, and a throw is never kept. */
export function memoOnFile<T>(file: string, question: string, compute: () => T): T {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return compute();
  }
  const key = `${file}\0${stat.size}\0${stat.mtimeMs}\0${question}`;
  if (answers.has(key)) return answers.get(key) as T;
  const value = compute();
  answers.set(key, value);
  return value;
}
