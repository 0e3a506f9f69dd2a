// Multinomial logistic regression with L2, as scikit-learn's LogisticRegression(C, lbfgs):
//   minimise  C * sum_i -log softmax(W^T x_i + b)[y_i]  +  0.5 ||W||^2      (b not penalised)
//
// The gradient in W is X^T (C (P - Y)) + W, so the optimum lies in the row space of the n
// training points. With the thin decomposition X = U S V^T (from the eigenvectors of the Gram
// matrix G = X X^T = U S^2 U^T), W = V B turns the problem into the same logistic regression on
// the n-dimensional features Z = X V = U S with the same penalty 0.5 ||B||^2: equally well
// conditioned as the original, but O(n r K) per evaluation instead of O(n d K). For one-shot
// probes (n = classes, d = 2048) that is milliseconds. Solved by L-BFGS to a gradient tolerance.

export interface LogRegOptions {
  C?: number;
  /** Stop when every class's weight gradient has L2 norm below this, and |dF/db| too. */
  tol?: number;
  maxIter?: number;
}

export interface LogRegModel {
  classes: number;
  d: number;
  n: number;
  /** Training rows, U_r / s_r of the decomposition, and the solution (B [r, K], b [K]). */
  X: Float64Array;
  U: Float64Array;
  s: Float64Array;
  r: number;
  B: Float64Array;
  b: Float64Array;
  iterations: number;
  converged: boolean;
}

/** Eigen-decomposition of a symmetric n x n matrix by cyclic Jacobi rotations. */
export function symmetricEigen(A0: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(A0);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1),
          s = t * c;
        for (let k = 0; k < n; k++) {
          // A = J^T A J, columns then rows
          const akp = A[k * n + p],
            akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k],
            aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p],
            vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => A[i * n + i]), vectors: V };
}

/** F(B, b) and its gradient for features Z [n, r]; theta = [B (r*K), b (K)]. */
function objective(
  Z: Float64Array,
  y: Int32Array,
  n: number,
  r: number,
  K: number,
  C: number,
  theta: Float64Array,
  grad: Float64Array,
): number {
  const B = theta.subarray(0, r * K),
    b = theta.subarray(r * K);
  grad.fill(0);
  let f = 0;
  const s = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < K; k++) s[k] = b[k];
    for (let j = 0; j < r; j++) {
      const z = Z[i * r + j];
      if (z !== 0) for (let k = 0; k < K; k++) s[k] += z * B[j * K + k];
    }
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, s[k]);
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(s[k] - m);
    f += C * (m + Math.log(sum) - s[y[i]]);
    for (let k = 0; k < K; k++) {
      const g = C * (Math.exp(s[k] - m) / sum - (k === y[i] ? 1 : 0));
      grad[r * K + k] += g;
      for (let j = 0; j < r; j++) grad[j * K + k] += Z[i * r + j] * g;
    }
  }
  for (let i = 0; i < r * K; i++) {
    f += 0.5 * B[i] * B[i];
    grad[i] += B[i];
  }
  return f;
}

function gradSmall(grad: Float64Array, r: number, K: number, tol: number): boolean {
  for (let k = 0; k < K; k++) {
    let n2 = 0;
    for (let j = 0; j < r; j++) n2 += grad[j * K + k] ** 2;
    if (Math.sqrt(n2) >= tol || Math.abs(grad[r * K + k]) >= tol) return false;
  }
  return true;
}

/** L-BFGS (memory 10) with backtracking Armijo line search. */
function lbfgs(fg: (x: Float64Array, g: Float64Array) => number, x0: Float64Array, done: (g: Float64Array) => boolean, maxIter: number) {
  const P = x0.length;
  let x = x0,
    g = new Float64Array(P);
  let f = fg(x, g);
  const S: Float64Array[] = [],
    Y: Float64Array[] = [],
    rho: number[] = [];
  let iter = 0;
  for (; iter < maxIter && !done(g); iter++) {
    const q = Float64Array.from(g);
    const alpha: number[] = [];
    for (let k = S.length - 1; k >= 0; k--) {
      let a = 0;
      for (let i = 0; i < P; i++) a += S[k][i] * q[i];
      alpha[k] = a * rho[k];
      for (let i = 0; i < P; i++) q[i] -= alpha[k] * Y[k][i];
    }
    let gamma = 1;
    if (S.length) {
      let sy = 0,
        yy = 0;
      for (let i = 0; i < P; i++) {
        sy += S[S.length - 1][i] * Y[Y.length - 1][i];
        yy += Y[Y.length - 1][i] ** 2;
      }
      gamma = sy / yy;
    } else {
      let gn = 0;
      for (let i = 0; i < P; i++) gn += g[i] * g[i];
      gamma = 1 / Math.max(1, Math.sqrt(gn));
    }
    for (let i = 0; i < P; i++) q[i] *= gamma;
    for (let k = 0; k < S.length; k++) {
      let bb = 0;
      for (let i = 0; i < P; i++) bb += Y[k][i] * q[i];
      bb *= rho[k];
      for (let i = 0; i < P; i++) q[i] += S[k][i] * (alpha[k] - bb);
    }
    let gd = 0;
    for (let i = 0; i < P; i++) gd -= g[i] * q[i];
    if (gd >= 0) {
      // lost descent: restart from steepest descent
      S.length = Y.length = rho.length = 0;
      q.set(g);
      gd = 0;
      for (let i = 0; i < P; i++) gd -= g[i] * g[i];
    }
    let step = 1,
      fn = Infinity;
    const xn = new Float64Array(P),
      gn = new Float64Array(P);
    for (let ls = 0; ls < 50; ls++) {
      for (let i = 0; i < P; i++) xn[i] = x[i] - step * q[i];
      fn = fg(xn, gn);
      if (fn <= f + 1e-4 * step * gd) break;
      step *= 0.5;
    }
    const s = new Float64Array(P),
      yv = new Float64Array(P);
    let sy = 0;
    for (let i = 0; i < P; i++) {
      s[i] = xn[i] - x[i];
      yv[i] = gn[i] - g[i];
      sy += s[i] * yv[i];
    }
    if (sy > 1e-16) {
      S.push(s);
      Y.push(yv);
      rho.push(1 / sy);
      if (S.length > 10) {
        S.shift();
        Y.shift();
        rho.shift();
      }
    }
    const stalled = f - fn <= 1e-15 * Math.max(1, Math.abs(f));
    x = xn;
    g = gn;
    f = fn;
    if (stalled) break;
  }
  return { x, g, iterations: iter, converged: done(g) };
}

export function fitLogReg(features: Float32Array | Float64Array, labels: Int32Array, d: number, opts: LogRegOptions = {}): LogRegModel {
  const C = opts.C ?? 1,
    tol = opts.tol ?? 1e-4,
    maxIter = opts.maxIter ?? 1000;
  const n = labels.length;
  const K = Math.max(...labels) + 1;
  const X = Float64Array.from(features);
  const G = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += X[i * d + c] * X[j * d + c];
      G[i * n + j] = G[j * n + i] = s;
    }
  const { values, vectors } = symmetricEigen(G, n);
  const maxEv = Math.max(...values, 0);
  const keep = [...values.keys()].filter((i) => values[i] > 1e-10 * maxEv);
  const r = keep.length;
  const U = new Float64Array(n * r),
    s = new Float64Array(r),
    Z = new Float64Array(n * r);
  keep.forEach((col, j) => {
    s[j] = Math.sqrt(values[col]);
    for (let i = 0; i < n; i++) {
      U[i * r + j] = vectors[i * n + col];
      Z[i * r + j] = vectors[i * n + col] * s[j];
    }
  });
  const res = lbfgs(
    (x, g) => objective(Z, labels, n, r, K, C, x, g),
    new Float64Array(r * K + K),
    (g) => gradSmall(g, r, K, tol),
    maxIter,
  );
  return {
    classes: K,
    d,
    n,
    X,
    U,
    s,
    r,
    B: res.x.slice(0, r * K),
    b: res.x.slice(r * K),
    iterations: res.iterations,
    converged: res.converged,
  };
}

/** Query rows -> their coordinates z = U^T (X q) / s in the training points' row space. */
function project(m: LogRegModel, queries: Float32Array | Float64Array, q: number): Float64Array {
  const { X, d, n, U, s, r } = m;
  const kq = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let c = 0; c < d; c++) acc += X[i * d + c] * queries[q * d + c];
    kq[i] = acc;
  }
  const z = new Float64Array(r);
  for (let j = 0; j < r; j++) {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += U[i * r + j] * kq[i];
    z[j] = acc / s[j];
  }
  return z;
}

/** Class scores [m, K] for m query rows. */
export function logRegScores(m: LogRegModel, queries: Float32Array | Float64Array): Float64Array {
  const K = m.classes;
  const count = queries.length / m.d;
  const out = new Float64Array(count * K);
  for (let q = 0; q < count; q++) {
    const z = project(m, queries, q);
    for (let k = 0; k < K; k++) {
      let acc = m.b[k];
      for (let j = 0; j < m.r; j++) acc += z[j] * m.B[j * K + k];
      out[q * K + k] = acc;
    }
  }
  return out;
}

/** The primal weights W [d, K] = V B with V = X^T U S^-1 (for inspection and tests). */
export function logRegWeights(m: LogRegModel): Float64Array {
  const { X, d, n, U, s, r, B, classes: K } = m;
  const W = new Float64Array(d * K);
  for (let c = 0; c < d; c++) {
    for (let j = 0; j < r; j++) {
      let v = 0;
      for (let i = 0; i < n; i++) v += X[i * d + c] * U[i * r + j];
      v /= s[j];
      for (let k = 0; k < K; k++) W[c * K + k] += v * B[j * K + k];
    }
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
