// A small argv parser: `cmd --flag value --switch positional`. Unknown flags are an error
// that names the flag, so a typo never silently runs the default.
export interface ParsedArgs {
  positional: string[];
  flags: Record<string, string | true>;
}

export function parseArgs(argv: string[], known: { values?: string[]; switches?: string[] }): ParsedArgs {
  const values = new Set(known.values ?? []);
  const switches = new Set(known.switches ?? []);
  const out: ParsedArgs = { positional: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) {
      out.positional.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
    if (switches.has(name)) {
      out.flags[name] = true;
    } else if (values.has(name)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`--${name} needs a value`);
      out.flags[name] = v;
    } else {
      const all = [...values, ...switches].map((f) => `--${f}`).join(", ");
      throw new Error(`unknown option --${name}${all ? ` (known: ${all})` : ""}`);
    }
  }
  return out;
}

export function flagString(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === "string" ? v : undefined;
}

/** A flag the command cannot run without: its value, or an error naming the command and flag. */
export function requiredFlag(args: ParsedArgs, command: string, name: string): string {
  const v = flagString(args, name);
  if (v === undefined) throw new Error(`${command}: --${name} is required`);
  return v;
}

export function flagInt(args: ParsedArgs, name: string): number | undefined {
  const v = flagString(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be a whole number, got '${v}'`);
  return n;
}

/** An enumerated flag: its value when it is one of `choices`, `fallback` when absent, else an
 * error naming the flag, the value and the choices. */
export function flagChoice<T extends string>(args: ParsedArgs, name: string, choices: readonly T[], fallback: T): T {
  const v = flagString(args, name);
  if (v === undefined) return fallback;
  if (!(choices as readonly string[]).includes(v)) throw new Error(`--${name}: '${v}' is not one of ${choices.join(", ")}`);
  return v as T;
}
