// Stopping a long run cleanly: Ctrl-C on the CLI, Kernel > Interrupt in a notebook. The training
// loop listens while it runs; the signal only sets a flag, the loop finishes the step it is in,
// saves a checkpoint and throws an InterruptedError (one line, no stack), and the next run of
// the same command or cell resumes from that checkpoint.
//
// In a notebook kernel SIGINT belongs to tslab: the project's patch to it
// (kernel-setup/tslab-*.patch) turns Kernel > Interrupt into the event below whenever a loop
// listens, and the cell ends when the loop has saved (unpatched, tslab ended the cell at once
// while the work went on behind it).
import { inNotebook } from "../util/host";

export const INTERRUPT_EVENT = "retail-repr:interrupt";

export class InterruptedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InterruptedError";
    this.stack = `${this.name}: ${message}`; // the message is the whole story
  }
}

/** Listen for an interrupt until `stop()`; `requested()` says whether one came. A second
 * Ctrl-C on the CLI, while the first waits for the step to end, exits at once. */
export function listenForInterrupt(): { requested(): boolean; stop(): void } {
  let count = 0;
  const onEvent = () => void count++;
  const onSignal = () => {
    count++;
    if (count > 1) process.exit(130);
  };
  process.on(INTERRUPT_EVENT, onEvent);
  // In a kernel SIGINT is tslab's; elsewhere the signal is ours.
  const ownSignal = !inNotebook();
  if (ownSignal) process.on("SIGINT", onSignal);
  return {
    requested: () => count > 0,
    stop: () => {
      process.off(INTERRUPT_EVENT, onEvent);
      if (ownSignal) process.off("SIGINT", onSignal);
    },
  };
}
