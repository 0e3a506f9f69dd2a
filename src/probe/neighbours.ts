// Probes without training: nearest neighbour (cosine, k = 1 by default) and nearest class
// mean (cosine to the normalised mean of each class's training embeddings).

function dotRows(a: Float32Array | Float64Array, i: number, b: Float32Array | Float64Array, j: number, d: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s += a[i * d + c] * b[j * d + c];
  return s;
}

/** k-NN by cosine similarity (inputs are L2-normalised); majority vote, ties to the nearest. */
export function knnPredict(train: Float32Array, trainLabels: Int32Array, queries: Float32Array, d: number, k = 1): Int32Array {
  const n = trainLabels.length,
    m = queries.length / d;
  const out = new Int32Array(m);
  for (let q = 0; q < m; q++) {
    const sims = Array.from({ length: n }, (_, i) => [dotRows(queries, q, train, i, d), i] as [number, number]).sort(
      (a, b) => b[0] - a[0] || a[1] - b[1],
    );
    const votes = new Map<number, number>();
    for (const [, i] of sims.slice(0, k)) votes.set(trainLabels[i], (votes.get(trainLabels[i]) ?? 0) + 1);
    const best = Math.max(...votes.values());
    out[q] = trainLabels[sims.find(([, i]) => votes.get(trainLabels[i]) === best)![1]];
  }
  return out;
}

export function nearestClassMeanPredict(train: Float32Array, trainLabels: Int32Array, queries: Float32Array, d: number): Int32Array {
  const K = Math.max(...trainLabels) + 1;
  const means = new Float64Array(K * d);
  trainLabels.forEach((y, i) => {
    for (let c = 0; c < d; c++) means[y * d + c] += train[i * d + c];
  });
  for (let k = 0; k < K; k++) {
    let norm = 0;
    for (let c = 0; c < d; c++) norm += means[k * d + c] ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let c = 0; c < d; c++) means[k * d + c] /= norm;
  }
  const m = queries.length / d;
  const out = new Int32Array(m);
  for (let q = 0; q < m; q++) {
    let best = 0,
      bestSim = -Infinity;
    for (let k = 0; k < K; k++) {
      const s = dotRows(queries, q, means, k, d);
      if (s > bestSim) {
        bestSim = s;
        best = k;
      }
    }
    out[q] = best;
  }
  return out;
}

export function accuracy(pred: Int32Array, truth: Int32Array): number {
  let ok = 0;
  for (let i = 0; i < truth.length; i++) if (pred[i] === truth[i]) ok++;
  return ok / truth.length;
}

/** Rows scaled to unit length (the probes expect L2-normalised embeddings). */
export function l2NormalizeRows(x: Float32Array, d: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length / d; i++) {
    let n = 0;
    for (let c = 0; c < d; c++) n += x[i * d + c] ** 2;
    n = Math.sqrt(n) || 1;
    for (let c = 0; c < d; c++) out[i * d + c] = x[i * d + c] / n;
  }
  return out;
}
