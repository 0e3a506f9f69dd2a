// A notebook that writes a formula out by hand checks it against the library's version on the
// same numbers: it prints the largest difference and stops the notebook when it is past the
// tolerance, so an executed notebook (and the smoke notebook test) fails when the two disagree.
export interface LibraryCheck {
  what: string;
  /** max_i |mine_i - library_i| / max(1, max_i |library_i|): absolute for values below 1. */
  difference: number;
  tolerance: number;
}

/** Compares a hand-written value (or array) with the library's; throws past `tolerance`. */
export function checkAgainstLibrary(
  what: string,
  mine: number | ArrayLike<number>,
  library: number | ArrayLike<number>,
  tolerance: number,
): LibraryCheck {
  const a = typeof mine === "number" ? [mine] : Array.from(mine);
  const b = typeof library === "number" ? [library] : Array.from(library);
  if (a.length !== b.length) throw new Error(`${what}: the hand-written version has ${a.length} values, the library's ${b.length}`);
  if (a.length === 0) throw new Error(`${what}: nothing to compare`);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i]))
      throw new Error(`${what}: value ${i} is not finite (hand-written ${a[i]}, library ${b[i]})`);
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  const difference = diff / scale;
  const line = `${what}: hand-written vs library, largest difference ${difference.toExponential(2)} (tolerance ${tolerance.toExponential(0)})`;
  if (!(difference <= tolerance)) throw new Error(`${line}: the two disagree`);
  console.log(`${line} ✓`);
  return { what, difference, tolerance };
}
