// Multinomial logistic regression with L2, as scikit-learn's LogisticRegression(C, lbfgs):
//   minimise  C * sum_i -log softmax(W^T x_i + b)[y_i]  +  0.5 ||W||^2      (b not penalised)
// The optimum satisfies W = -C X^T (P - Y), so W = X^T A lies in the span of the training
// points: with the Gram matrix G = X X^T the problem becomes one over A (n x K) and b, costing
// O(n^2 K) per evaluation instead of O(n d K). For one-shot data (n = K classes, d = 2048) that
// is the difference between seconds and milliseconds. Solved by L-BFGS to a gradient tolerance.

export interface LogRegOptions {
  C?: number;
  /** Stop when max |dF/dW| and |dF/db| are below this (sklearn's lbfgs uses 1e-4). */
  tol?: number;
  maxIter?: number;
}

export interface LogRegModel {
  classes: number;
  /** Training points (rows), the dual coefficients A [n, K] and the intercept b [K]. */
  X: Float64Array;
  d: number;
  n: number;
  A: Float64Array;
  b: Float64Array;
  iterations: number;
  converged: boolean;
}

function gram(X: Float64Array, n: number, d: number): Float64Array {
  const G = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += X[i * d + k] * X[j * d + k];
      G[i * n + j] = G[j * n + i] = s;
    }
  }
  return G;
}

/** F and its gradient in (A, b), packed as theta = [A (n*K), b (K)]. */
function objective(G: Float64Array, y: Int32Array, n: number, K: number, C: number, theta: Float64Array, grad: Float64Array): number {
  const A = theta.subarray(0, n * K), b = theta.subarray(n * K);
  const S = new Float64Array(n * K); // S = G A + b
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const g = G[i * n + j];
    if (g !== 0) for (let k = 0; k < K; k++) S[i * K + k] += g * A[j * K + k];
  }
  let f = 0;
  const R = new Float64Array(n * K); // C (P - Y)
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, (S[i * K + k] += b[k]));
    let z = 0;
    for (let k = 0; k < K; k++) z += Math.exp(S[i * K + k] - m);
    f += C * (m + Math.log(z) - S[i * K + y[i]]);
    for (let k = 0; k < K; k++) R[i * K + k] = C * (Math.exp(S[i * K + k] - m) / z - (k === y[i] ? 1 : 0));
  }
  // 0.5 ||W||^2 = 0.5 tr(A^T G A); dF/dA = G (R + A); dF/db = sum_i R_i.
  const GA = new Float64Array(n * K);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const g = G[i * n + j];
    if (g !== 0) for (let k = 0; k < K; k++) GA[i * K + k] += g * A[j * K + k];
  }
  for (let i = 0; i < n * K; i++) f += 0.5 * A[i] * GA[i];
  grad.fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const g = G[i * n + j];
    if (g !== 0) for (let k = 0; k < K; k++) grad[i * K + k] += g * (R[j * K + k] + A[j * K + k]);
  }
  for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) grad[n * K + k] += R[i * K + k];
  return f;
}

/** The stopping test in the primal variables: max(|dF/dW|, |dF/db|) with dF/dW = X^T (R + A),
 * R = C (P - Y), so that the tolerance means what it means for scikit-learn. */
function primalGradMax(X: Float64Array, G: Float64Array, y: Int32Array, n: number, d: number, K: number, C: number, theta: Float64Array): number {
  const A = theta.subarray(0, n * K), b = theta.subarray(n * K);
  const RA = new Float64Array(n * K);
  const db = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    const s = new Float64Array(K);
    for (let j = 0; j < n; j++) for (let k = 0; k < K; k++) s[k] += G[i * n + j] * A[j * K + k];
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, (s[k] += b[k]));
    let z = 0;
    for (let k = 0; k < K; k++) z += Math.exp(s[k] - m);
    for (let k = 0; k < K; k++) {
      const r = C * (Math.exp(s[k] - m) / z - (k === y[i] ? 1 : 0));
      db[k] += r;
      RA[i * K + k] = r + A[i * K + k];
    }
  }
  let worst = Math.max(...db.map(Math.abs));
  for (let c = 0; c < d; c++) for (let k = 0; k < K; k++) {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += X[i * d + c] * RA[i * K + k];
    worst = Math.max(worst, Math.abs(acc));
  }
  return worst;
}

export function fitLogReg(features: Float32Array | Float64Array, labels: Int32Array, d: number, opts: LogRegOptions = {}): LogRegModel {
  const C = opts.C ?? 1, tol = opts.tol ?? 1e-4, maxIter = opts.maxIter ?? 1000;
  const n = labels.length;
  const K = Math.max(...labels) + 1;
  const X = Float64Array.from(features);
  const G = gram(X, n, d);
  const P = n * K + K;
  let theta = new Float64Array(P);
  let grad = new Float64Array(P);
  let f = objective(G, labels, n, K, C, theta, grad);
  const mem = 10;
  const sList: Float64Array[] = [], yList: Float64Array[] = [], rho: number[] = [];
  let iter = 0;
  let converged = false;
  for (; iter < maxIter; iter++) {
    if (iter > 0 && iter % 10 === 0 && primalGradMax(X, G, labels, n, d, K, C, theta) < tol) {
      converged = true;
      break;
    }
    // Two-loop recursion: dir = -H grad.
    const q = Float64Array.from(grad);
    const alpha: number[] = [];
    for (let k = sList.length - 1; k >= 0; k--) {
      let a = 0;
      for (let i = 0; i < P; i++) a += sList[k][i] * q[i];
      a *= rho[k];
      alpha[k] = a;
      for (let i = 0; i < P; i++) q[i] -= a * yList[k][i];
    }
    if (sList.length) {
      const s = sList[sList.length - 1], yv = yList[yList.length - 1];
      let sy = 0, yy = 0;
      for (let i = 0; i < P; i++) { sy += s[i] * yv[i]; yy += yv[i] * yv[i]; }
      for (let i = 0; i < P; i++) q[i] *= sy / yy;
    } else {
      let gn = 0;
      for (let i = 0; i < P; i++) gn += grad[i] * grad[i];
      for (let i = 0; i < P; i++) q[i] /= Math.max(1, Math.sqrt(gn));
    }
    for (let k = 0; k < sList.length; k++) {
      let bb = 0;
      for (let i = 0; i < P; i++) bb += yList[k][i] * q[i];
      bb *= rho[k];
      for (let i = 0; i < P; i++) q[i] += sList[k][i] * (alpha[k] - bb);
    }
    let gd = 0;
    for (let i = 0; i < P; i++) gd -= grad[i] * q[i];
    if (gd >= 0) { // not a descent direction: reset memory, use steepest descent
      sList.length = yList.length = rho.length = 0;
      for (let i = 0; i < P; i++) q[i] = grad[i];
      gd = 0;
      for (let i = 0; i < P; i++) gd -= grad[i] * q[i];
    }
    // Backtracking (Armijo) line search along -q.
    let step = 1;
    const next = new Float64Array(P), gnext = new Float64Array(P);
    let fnext = Infinity;
    for (let ls = 0; ls < 40; ls++) {
      for (let i = 0; i < P; i++) next[i] = theta[i] - step * q[i];
      fnext = objective(G, labels, n, K, C, next, gnext);
      if (fnext <= f + 1e-4 * step * gd) break;
      step *= 0.5;
    }
    const s = new Float64Array(P), yv = new Float64Array(P);
    let sy = 0;
    for (let i = 0; i < P; i++) { s[i] = next[i] - theta[i]; yv[i] = gnext[i] - grad[i]; sy += s[i] * yv[i]; }
    if (sy > 1e-12) {
      sList.push(s); yList.push(yv); rho.push(1 / sy);
      if (sList.length > mem) { sList.shift(); yList.shift(); rho.shift(); }
    }
    const done = Math.abs(f - fnext) <= 1e-12 * Math.max(1, Math.abs(f));
    theta = next; grad = gnext; f = fnext;
    if (done) { converged = primalGradMax(X, G, labels, n, d, K, C, theta) < tol * 10; break; }
  }
  return { classes: K, X, d, n, A: theta.slice(0, n * K), b: theta.slice(n * K), iterations: iter, converged };
}

/** Class scores [m, K] for m query rows. */
export function logRegScores(model: LogRegModel, queries: Float32Array | Float64Array): Float64Array {
  const { X, d, n, A, b, classes: K } = model;
  const m = queries.length / d;
  const out = new Float64Array(m * K);
  for (let q = 0; q < m; q++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += queries[q * d + c] * X[i * d + c];
      if (s !== 0) for (let k = 0; k < K; k++) out[q * K + k] += s * A[i * K + k];
    }
    for (let k = 0; k < K; k++) out[q * K + k] += b[k];
  }
  return out;
}

/** The primal weights W [d, K] = X^T A (for inspection and tests). */
export function logRegWeights(model: LogRegModel): Float64Array {
  const { X, d, n, A, classes: K } = model;
  const W = new Float64Array(d * K);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) {
    const x = X[i * d + c];
    if (x !== 0) for (let k = 0; k < K; k++) W[c * K + k] += x * A[i * K + k];
  }
  return W;
}

export function argmaxRows(scores: Float64Array | Float32Array, K: number): Int32Array {
  const m = scores.length / K;
  const out = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (scores[i * K + k] > scores[i * K + best]) best = k;
    out[i] = best;
  }
  return out;
}
