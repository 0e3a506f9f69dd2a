// `--nproc N`: a training command as N local ranks of one data-parallel run, started the way
// torchrun starts them: the same command line in N processes, each with RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT set, and this machine's cores shared
// between them. Across machines, something else (Kubernetes, deploy/) sets those variables and
// starts one process per rank; the command then joins the group without --nproc.
import { spawn } from "child_process";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../util/paths";
import {
  coresPerRank,
  freeLocalPort,
  joinProcessGroup,
  localRankEnv,
  ProcessGroup,
  threadEnv,
  worldFromEnv,
} from "../engine/process-group";
import { flagInt, OptionSpec, ParsedArgs, UsageError } from "../util/args";

export const NPROC_OPTION: OptionSpec = {
  type: "string",
  value: "N",
  int: true,
  min: 1,
  default: "1, or the ranks that RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT describe",
  description: "train data-parallel as N local processes (c10d over Gloo); rank 0 writes the checkpoint",
};

/** Seconds the other ranks get to stop by themselves after one has failed, before they are killed
 * (a rank that fails before the rendezvous would leave the others waiting for it). */
const GRACE_S = 30;

/** The command line without its --nproc option. */
export function withoutNproc(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--nproc") i++;
    else if (!argv[i].startsWith("--nproc=")) out.push(argv[i]);
  }
  return out;
}

/** Start `argv` (this CLI's arguments, the command first) as `n` ranks and wait for them; the
 * exit code is the first failed rank's (named on stderr), or 0. */
export async function launchRanks(n: number, argv: string[]): Promise<number> {
  const port = await freeLocalPort();
  const children = [...Array(n).keys()].map((rank) =>
    spawn(process.execPath, [path.join(REPO_ROOT, "bin", "retail-repr.cjs"), ...withoutNproc(argv)], {
      stdio: "inherit",
      // Each rank computes on its share of the cores, unless told otherwise.
      env: { ...threadEnv(coresPerRank(n)), ...process.env, ...localRankEnv(rank, n, port) },
    }),
  );
  const exits = children.map(
    (child, rank) =>
      new Promise<{ rank: number; code: number }>((resolve) =>
        child.on("exit", (code, signal) => resolve({ rank, code: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1) })),
      ),
  );
  // Ctrl-C reaches every rank (one process group on the terminal): they stop at the same step,
  // rank 0 saves, and each exits 130. This process waits for them instead of dying first.
  const onSigint = () => undefined;
  process.on("SIGINT", onSigint);
  let failed: { rank: number; code: number } | undefined;
  const killer: NodeJS.Timeout[] = [];
  for (const e of exits)
    void e.then((r) => {
      if (r.code === 0 || failed) return;
      failed = r;
      if (r.code !== 130) console.error(`rank ${r.rank} exited with code ${r.code}; the other ranks stop within ${GRACE_S} s`);
      killer.push(setTimeout(() => children.forEach((c) => c.exitCode === null && c.kill("SIGTERM")), GRACE_S * 1000));
    });
  await Promise.all(exits);
  killer.forEach(clearTimeout);
  process.off("SIGINT", onSigint);
  return failed?.code ?? 0;
}

/** How a training command runs: launched as --nproc ranks (this process only waits for them:
 * `exit`), as one rank of a run the environment describes (`group`), or alone. */
export async function dataParallel(args: ParsedArgs): Promise<{ exit: number } | { group?: ProcessGroup }> {
  const nproc = flagInt(args, "nproc") ?? 1;
  const world = worldFromEnv();
  if (world && nproc > 1)
    throw new UsageError(
      `--nproc ${nproc}: this process is already rank ${world.rank} of ${world.size} (WORLD_SIZE is set); use one or the other`,
    );
  if (nproc > 1) return { exit: await launchRanks(nproc, args.argv ?? []) };
  if (!world) return {};
  const group = joinProcessGroup(world);
  if (world.rank === 0) console.error(`data-parallel: ${group.description}, ${coresPerRank(world.localSize)} cores per rank here`);
  return { group };
}

/** console.log on rank 0 only (or when there are no ranks). */
export const rankZeroLog =
  (group?: ProcessGroup) =>
  (...line: unknown[]): void => {
    if (!group || group.rank === 0) console.log(...line);
  };
