// Command lines on Node's own `util.parseArgs`, from one table per command: the table parses,
// validates (enumerations, whole numbers, required values) before any work starts, and writes
// the command's --help, so the help can never miss an option the parser takes.
import { parseArgs as nodeParseArgs } from "util";

/** A mistake in how a command was called: the CLI prints it with a pointer to --help and exits 2. */
export class UsageError extends Error {}

export interface OptionSpec {
  type: "string" | "boolean";
  description: string;
  /** The value's placeholder in help (`N`, `FILE`, `DIR`). */
  value?: string;
  /** The default as help shows it (where absent, the option has none). */
  default?: string;
  /** The values allowed; anything else is refused before the command runs. */
  choices?: readonly string[];
  /** A whole number, at least `min` when given. */
  int?: boolean;
  min?: number;
  required?: boolean;
  /** May be given more than once (`--set a=1 --set b=2`). */
  multiple?: boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  options: Record<string, OptionSpec>;
  /** Positional arguments, e.g. `[NAME ...]`; none are taken when absent. */
  positionals?: string;
  examples: string[];
  /** Text after the options: modes, notes. */
  notes?: string;
}

export interface ParsedArgs {
  positional: string[];
  flags: Record<string, string | true | string[]>;
  /** The whole command line, the command's name first (for a command that starts itself again). */
  argv?: string[];
}

const describe = (name: string, o: OptionSpec) =>
  `--${name}${o.type === "string" ? ` ${o.value ?? (o.choices ? o.choices.join("|") : "VALUE")}` : ""}`;

/** `argv` read against the command's table: unknown options, missing or ambiguous values
 * (`--out --merge`), values outside an option's choices, non-numbers and missing required
 * options are UsageErrors naming the option and what it takes. */
export function parseCommandArgs(spec: CommandSpec, argv: string[]): ParsedArgs {
  let parsed: ReturnType<typeof nodeParseArgs>;
  try {
    const options = Object.fromEntries(Object.entries(spec.options).map(([k, o]) => [k, { type: o.type, multiple: o.multiple ?? false }]));
    parsed = nodeParseArgs({ args: argv, options, strict: true, allowPositionals: spec.positionals !== undefined });
  } catch (e) {
    const message = (e as Error).message;
    const unknown = /^Unknown option '([^']*)'/.exec(message);
    if (unknown)
      throw new UsageError(
        `${spec.name}: unknown option ${unknown[1]} (known: ${Object.keys(spec.options)
          .map((k) => `--${k}`)
          .join(", ")})`,
      );
    throw new UsageError(`${spec.name}: ${message.replace(/\n/g, " ")}`);
  }
  const flags: ParsedArgs["flags"] = {};
  for (const [k, v] of Object.entries(parsed.values)) if (v !== undefined && v !== false) flags[k] = v as string | true | string[];
  for (const [name, o] of Object.entries(spec.options)) {
    const v = flags[name];
    if (v === undefined) {
      if (o.required) throw new UsageError(`${spec.name}: ${describe(name, o)} is required`);
      continue;
    }
    for (const one of Array.isArray(v) ? v : [v]) {
      if (typeof one !== "string") continue;
      if (o.choices && !o.choices.includes(one))
        throw new UsageError(`${spec.name}: --${name} '${one}' is not one of ${o.choices.join(", ")}`);
      if (o.int) {
        const n = Number(one);
        if (!Number.isInteger(n) || one.trim() === "") throw new UsageError(`${spec.name}: --${name} must be a whole number, got '${one}'`);
        if (o.min !== undefined && n < o.min) throw new UsageError(`${spec.name}: --${name} must be at least ${o.min}, got ${n}`);
      }
    }
  }
  return { positional: parsed.positionals, flags };
}

/** The command's --help: usage, summary, every option with its default, examples. */
export function commandHelp(spec: CommandSpec, program: string): string {
  const entries = Object.entries(spec.options);
  const required = entries.filter(([, o]) => o.required).map(([n, o]) => describe(n, o));
  const usage = [`${program} ${spec.name}`, ...required, entries.some(([, o]) => !o.required) ? "[options]" : "", spec.positionals ?? ""]
    .filter(Boolean)
    .join(" ");
  const width = Math.max(0, ...entries.map(([n, o]) => describe(n, o).length));
  const lines = [`usage: ${usage}`, "", spec.summary, "", "options:"];
  for (const [n, o] of entries) {
    const extra = [
      o.required ? "required" : undefined,
      o.default !== undefined ? `default: ${o.default}` : undefined,
      o.multiple ? "repeatable" : undefined,
    ]
      .filter(Boolean)
      .join("; ");
    lines.push(`  ${describe(n, o).padEnd(width)}  ${o.description}${extra ? ` (${extra})` : ""}`);
  }
  lines.push(`  ${"--help".padEnd(width)}  this text`);
  if (spec.notes) lines.push("", spec.notes);
  lines.push("", spec.examples.length > 1 ? "examples:" : "example:", ...spec.examples.map((e) => `  ${e}`));
  return lines.join("\n");
}

export function flagString(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === "string" ? v : undefined;
}

/** Every value of a repeatable option, in order. */
export function flagList(args: ParsedArgs, name: string): string[] {
  const v = args.flags[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

export const flagSet = (args: ParsedArgs, name: string) => args.flags[name] === true;

/** A flag the command cannot run without in this mode: its value, or a UsageError naming it. */
export function requiredFlag(args: ParsedArgs, command: string, name: string): string {
  const v = flagString(args, name);
  if (v === undefined) throw new UsageError(`${command}: --${name} is required`);
  return v;
}

/** A whole-number flag (already checked by parseCommandArgs where the table says `int`). */
export function flagInt(args: ParsedArgs, name: string): number | undefined {
  const v = flagString(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be a whole number, got '${v}'`);
  return n;
}

/** An enumerated flag's value (checked against its choices by parseCommandArgs), else `fallback`. */
export function flagChoice<T extends string>(args: ParsedArgs, name: string, choices: readonly T[], fallback: T): T {
  const v = flagString(args, name);
  if (v === undefined) return fallback;
  if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${name}: '${v}' is not one of ${choices.join(", ")}`);
  return v as T;
}
