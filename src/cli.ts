// `retail-repr`: thin commands over the same library functions the notebooks call. This file is
// the entry (help, version, exit statuses); the commands are in cli/, one table each.
import "./util/threadpool"; // first: before anything uses libuv's pool
import * as fs from "fs";
import * as path from "path";
import { InterruptedError } from "./train/interrupt";
import { CommandSpec, commandHelp, parseCommandArgs, UsageError } from "./util/args";
import { Command, PROGRAM } from "./cli/options";
import { pipelineCommands } from "./cli/pipeline-commands";
import { machineCommands, modelCommands } from "./cli/model-commands";

const commandList: Command[] = [...machineCommands, ...pipelineCommands, ...modelCommands];
const commands: Record<string, Command> = Object.fromEntries(commandList.map((c) => [c.name, c]));

/** The package's version, from package.json beside dist/. */
export function version(): string {
  return JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")).version;
}

function help(): string {
  const lines = [
    `${PROGRAM} ${version()} — contrastive + pseudolabel representations for retail product images`,
    "",
    `usage: ${PROGRAM} COMMAND [options]`,
    "",
    "commands:",
  ];
  for (const c of commandList) lines.push(`  ${c.name.padEnd(14)} ${c.summary}`);
  lines.push(
    "",
    `\`${PROGRAM} COMMAND --help\` lists a command's options, their defaults and an example; \`${PROGRAM} --version\` prints the version.`,
  );
  return lines.join("\n");
}

/** Each command's table (name, options, examples), for tests and completion. */
export const COMMAND_SPECS: readonly CommandSpec[] = commandList;

/** Runs one command line; returns the exit status (0 done, 1 failed, 2 usage error). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(help());
    return 0;
  }
  if (name === "--version" || name === "-V") {
    console.log(version());
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`${PROGRAM}: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(commandHelp(cmd, PROGRAM));
    return 0;
  }
  return cmd.run({ ...parseCommandArgs(cmd, rest), argv });
}

/** `main` with every error turned into a message and an exit status: 2 for a usage error (with
 * a pointer to the command's --help), 130 for Ctrl-C, 1 for anything else (RETAIL_REPR_DEBUG=1
 * adds the stack). */
export async function runCli(argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${PROGRAM} ${err.message}\n(\`${PROGRAM} ${argv[0]} --help\` lists the options)`);
      return 2;
    }
    console.error(`${PROGRAM}: ${(err as Error)?.message ?? err}`);
    if (process.env.RETAIL_REPR_DEBUG) console.error(err);
    return err instanceof InterruptedError ? 130 : 1; // 130: stopped by Ctrl-C, as shells report it
  }
}

if (require.main === module) runCli(process.argv.slice(2)).then((code) => process.exit(code));
