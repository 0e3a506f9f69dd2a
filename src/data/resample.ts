// torchvision's evaluation transform on PIL images, computed as Pillow computes it, so that a
// model imported from PyTorch sees the pixels it was trained to see:
//   Resize(n): the shorter side to n, the longer to int(n * long / short), bilinear;
//   CenterCrop(s): top = int(round((h - s) / 2)), left likewise (Python's round: half to even).
// Pillow's bilinear resize is a separable convolution with a triangle filter whose support grows
// with the reduction factor (antialiasing), horizontal pass first, each pass rounded to 8 bits
// through fixed-point weights (22 fractional bits). Written here from that description.

const PRECISION_BITS = 32 - 8 - 2;

/** For each output index along one axis: the first input index and its normalised weights. */
function coefficients(inSize: number, outSize: number): { start: number; weights: Int32Array }[] {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale; // the triangle's support is 1
  const out: { start: number; weights: Int32Array }[] = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const w = new Float64Array(xmax - xmin);
    let total = 0;
    for (let x = xmin; x < xmax; x++) {
      const t = Math.abs((x - center + 0.5) / filterScale);
      w[x - xmin] = t < 1 ? 1 - t : 0;
      total += w[x - xmin];
    }
    const fixed = new Int32Array(w.length);
    for (let k = 0; k < w.length; k++) {
      const v = total ? w[k] / total : 0;
      fixed[k] = Math.trunc(v < 0 ? v * (1 << PRECISION_BITS) - 0.5 : v * (1 << PRECISION_BITS) + 0.5);
    }
    out.push({ start: xmin, weights: fixed });
  }
  return out;
}

const clip8 = (acc: number) => {
  const v = Math.floor(acc / (1 << PRECISION_BITS));
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/** One pass along x (horizontal) or y, on interleaved RGB uint8. */
function pass(src: Uint8Array, w: number, h: number, outLen: number, horizontal: boolean): Uint8Array {
  const inLen = horizontal ? w : h;
  const coeffs = coefficients(inLen, outLen);
  const ow = horizontal ? outLen : w;
  const oh = horizontal ? h : outLen;
  const dst = new Uint8Array(ow * oh * 3);
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const { start, weights } = coeffs[horizontal ? x : y];
      for (let c = 0; c < 3; c++) {
        let acc = half;
        for (let k = 0; k < weights.length; k++) {
          const sx = horizontal ? start + k : x;
          const sy = horizontal ? y : start + k;
          acc += src[(sy * w + sx) * 3 + c] * weights[k];
        }
        dst[(y * ow + x) * 3 + c] = clip8(acc);
      }
    }
  }
  return dst;
}

/** Pillow's Image.resize((outW, outH), BILINEAR) of an RGB uint8 image. */
export function resizeBilinearPil(src: Uint8Array, w: number, h: number, outW: number, outH: number): Uint8Array {
  let img = src;
  let cw = w;
  if (outW !== w) {
    img = pass(img, w, h, outW, true);
    cw = outW;
  }
  if (outH !== h) img = pass(img, cw, h, outH, false);
  return img === src ? src.slice() : img;
}

/** Python's round(): to the nearest integer, halves to the even one. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision's Resize(n) output size for a w x h image: the shorter side n. */
export function shorterSideSize(w: number, h: number, n: number): [number, number] {
  return w <= h ? [n, Math.trunc((n * h) / w)] : [Math.trunc((n * w) / h), n];
}

/** Resize(resizeTo) then CenterCrop(size) of an RGB uint8 image, as torchvision does on PIL. */
export function resizeShorterAndCrop(src: Uint8Array, w: number, h: number, resizeTo: number, size: number): Uint8Array {
  const [rw, rh] = shorterSideSize(w, h, resizeTo);
  const resized = w === rw && h === rh ? src : resizeBilinearPil(src, w, h, rw, rh);
  if (rw < size || rh < size) throw new Error(`centre crop ${size} of a ${rw}x${rh} image: resizeTo must be at least the crop size`);
  const top = pyRound((rh - size) / 2);
  const left = pyRound((rw - size) / 2);
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) out.set(resized.subarray(((top + y) * rw + left) * 3, ((top + y) * rw + left + size) * 3), y * size * 3);
  return out;
}
