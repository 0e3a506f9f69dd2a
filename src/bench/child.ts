// Run one benchmark case in a fresh Node process, so that its peak RSS and wasm heap are its
// own: the child is `file` (a compiled bench module) with the case as JSON in argv[2], and
// prints one JSON line; an error comes back as the case with `error` set.
import { spawnSync } from "child_process";

export function inFreshProcess<C extends object>(file: string, c: C): C & Record<string, unknown> {
  const r = spawnSync(process.execPath, [file, JSON.stringify(c)], { encoding: "utf8", maxBuffer: 1 << 24 });
  const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
  if (r.status !== 0 || !line) return { ...c, error: (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" / ") };
  return JSON.parse(line);
}

/** The child's side: run the case named on the command line, print its result as one line. */
export function childMain<C>(run: (c: C) => Promise<Record<string, unknown>>): void {
  run(JSON.parse(process.argv[2]) as C).then(
    (r) => console.log(JSON.stringify(r)),
    (e) => {
      console.error((e as Error).message);
      process.exit(1);
    },
  );
}

/** This process's peak resident set so far, in bytes. */
export const peakRss = (): number => process.resourceUsage().maxRSS * 1024;
