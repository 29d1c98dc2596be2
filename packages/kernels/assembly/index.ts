// WebAssembly SIMD kernels over the shared memory. Every pointer is a byte offset into the one shared
// WebAssembly.Memory that holds all tensors; sizes are element counts. The kernels never allocate and use no
// runtime or static data (the build checks for data segments): every worker instantiates this module over the
// same memory, and a data segment would be written over tensors at each instantiation.
// The plain TypeScript kernels in ../src are the reference these are tested against.

// ---- vector math (float32x4) ----
// Clamps and running extremes use pmin/pmax (b < a ? b : a), one minps/maxps each: f32x4.min/max must order
// −0 below +0 and propagate NaN, which V8 11 spells in 8 instructions. The results differ only for NaN operands
// and zeros of either sign, and none of the uses below compares a zero against a zero of the other sign.

/** a·b + c: one fused instruction in the relaxed-SIMD build, a multiply and an add in the portable one. */
// @ts-ignore: decorator
@inline function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

const LOG2E: f32 = 1.44269504;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

/**
 * e^x per lane, Cephes' expf polynomial after Cody-Waite range reduction; exactly 0 below -87.3. The integer
 * part n comes from adding 1.5·2²³ + 127 (float addition rounds to nearest, leaving n + 127 in the low mantissa
 * bits), so 2ⁿ is that sum's bits shifted into the exponent field: no round or float-to-int conversion, which
 * cost a dozen instructions each in V8's SIMD lowering, and softmax takes one exponential per score.
 */
// @ts-ignore: decorator
@inline function vexp(x: v128): v128 {
  const under = f32x4.lt(x, f32x4.splat(-87.3));
  const xc = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.3)), f32x4.splat(88.3));
  const shifted = fma(xc, f32x4.splat(LOG2E), f32x4.splat(12583039)); // 1.5·2²³ + 127 + n
  const n = f32x4.sub(shifted, f32x4.splat(12583039));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = fma(f32x4.splat(1.9875691500e-4), r, f32x4.splat(1.3981999507e-3));
  p = fma(p, r, f32x4.splat(8.3334519073e-3));
  p = fma(p, r, f32x4.splat(4.1665795894e-2));
  p = fma(p, r, f32x4.splat(1.6666665459e-1));
  p = fma(p, r, f32x4.splat(5.0000001201e-1));
  const y = f32x4.add(fma(f32x4.mul(p, r), r, r), f32x4.splat(1));
  const scale = i32x4.shl(shifted, 23);
  return v128.andnot(f32x4.mul(y, scale), under);
}

/**
 * erf per lane: the odd/even rational minimax approximation Eigen and XLA use for float (|error| < 4e-7), on x
 * clamped to [-4, 4], beyond which erf is ±1 in float. No exponential: a third of the instructions of
 * Abramowitz & Stegun 7.1.26, and GELU runs on every element of the widest activation in a BERT layer.
 */
// @ts-ignore: decorator
@inline function verf(a: v128): v128 {
  const x = f32x4.pmax(f32x4.pmin(a, f32x4.splat(4)), f32x4.splat(-4));
  const x2 = f32x4.mul(x, x);
  let p = fma(x2, f32x4.splat(-2.72614225801306e-10), f32x4.splat(2.77068142495902e-08));
  p = fma(x2, p, f32x4.splat(-2.10102402082508e-06));
  p = fma(x2, p, f32x4.splat(-5.69250639462346e-05));
  p = fma(x2, p, f32x4.splat(-7.34990630326855e-04));
  p = fma(x2, p, f32x4.splat(-2.95459980854025e-03));
  p = fma(x2, p, f32x4.splat(-1.60960333262415e-02));
  let q = fma(x2, f32x4.splat(-1.45660718464996e-05), f32x4.splat(-2.13374055278905e-04));
  q = fma(x2, q, f32x4.splat(-1.68282697438203e-03));
  q = fma(x2, q, f32x4.splat(-7.37332916720468e-03));
  q = fma(x2, q, f32x4.splat(-1.42647390514189e-02));
  return f32x4.div(f32x4.mul(x, p), q);
}

/** tanh per lane as 1 - 2 / (e^{2x} + 1) (saturates cleanly to ±1). */
// @ts-ignore: decorator
@inline function vtanh(x: v128): v128 {
  return f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(vexp(f32x4.add(x, x)), f32x4.splat(1))));
}

// Activation codes, as in ../src/activation.ts.
const GELU = 1;
const GELU_TANH = 2;
const SILU = 3;
const RELU = 4;
const TANH = 5;

// @ts-ignore: decorator
@inline function activate(kind: i32, x: v128): v128 {
  if (kind == GELU) return f32x4.mul(f32x4.mul(f32x4.splat(0.5), x), f32x4.add(f32x4.splat(1), verf(f32x4.mul(x, f32x4.splat(0.70710678)))));
  if (kind == GELU_TANH) {
    const inner = f32x4.mul(f32x4.splat(0.7978845608), f32x4.add(x, f32x4.mul(f32x4.splat(0.044715), f32x4.mul(x, f32x4.mul(x, x)))));
    return f32x4.mul(f32x4.mul(f32x4.splat(0.5), x), f32x4.add(f32x4.splat(1), vtanh(inner)));
  }
  if (kind == SILU) return f32x4.div(x, f32x4.add(f32x4.splat(1), vexp(f32x4.neg(x))));
  if (kind == RELU) return f32x4.max(x, f32x4.splat(0));
  if (kind == TANH) return vtanh(x);
  return x;
}

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

// @ts-ignore: decorator
@inline function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

// ---- half-precision weights, widened to float32 as they are read (see ../src/linear.ts, WeightType) ----

const BF16: i32 = 1;
const F16: i32 = 2;

/**
 * Four 16-bit patterns (zero-extended in i32 lanes) as float32. bfloat16: shift into the top half. float16:
 * exponent and mantissa shifted into float32's places and scaled by 2^112 (which also makes subnormals right),
 * the sign put back, and an all-ones exponent (infinity, NaN) kept all ones.
 */
// @ts-ignore: decorator
@inline function widen(h: v128, half: i32): v128 {
  if (half == BF16) return i32x4.shl(h, 16);
  const magnitude = f32x4.mul(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), f32x4.splat(5.192296858534828e33));
  const special = v128.and(i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0x7c00)), i32x4.splat(0x7f800000));
  return v128.or(v128.or(magnitude, special), i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

/** One weight of a half-precision W (element i) as float32. */
// @ts-ignore: decorator
@inline function halfAt(w: usize, i: i32, half: i32): f32 {
  return f32x4.extract_lane(widen(i32x4.splat(<i32>load<u16>(w + (<usize>i << 1))), half), 0);
}

/** Rows of a half-precision (N, K) W, one dot product at a time: rare (packed panels are what layers load). */
function linearRowsHalf(
  out: usize, x: usize, w: usize, bias: usize, gate: usize, residual: usize,
  K: i32, os: i32, xs: i32, act: i32, rowStart: i32, rowEnd: i32, colStart: i32, colEnd: i32, half: i32,
): void {
  for (let i = rowStart; i < rowEnd; i++) {
    const xi = at(x, i * xs);
    for (let j = colStart; j < colEnd; j++) {
      let s: f32 = 0;
      for (let k = 0; k < K; k++) s += load<f32>(at(xi, k)) * halfAt(w, j * K + k, half);
      store<f32>(at(out, i * os + j), s);
    }
    epilogue(out, bias, gate, residual, colStart, colEnd, os, act, i, i + 1);
  }
}

// ---- linear over plain (N, K) weights: dot products of rows of x with rows of W ----

/** Dot products of 4 rows of x with 2 rows of W (K vectorised by 4, scalar tail): the register tile. */
function tile4x2(out: usize, x: usize, w: usize, i: i32, j: i32, K: i32, xs: i32, os: i32): void {
  const x0 = at(x, i * xs), x1 = at(x, (i + 1) * xs), x2 = at(x, (i + 2) * xs), x3 = at(x, (i + 3) * xs);
  const w0 = at(w, j * K), w1 = at(w, (j + 1) * K);
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  const K4 = K & ~3;
  for (let k = 0; k < K4; k += 4) {
    const o = <usize>k << 2;
    const b0 = v128.load(w0 + o), b1 = v128.load(w1 + o);
    const c0 = v128.load(x0 + o), c1 = v128.load(x1 + o), c2 = v128.load(x2 + o), c3 = v128.load(x3 + o);
    a00 = fma(c0, b0, a00); a01 = fma(c0, b1, a01);
    a10 = fma(c1, b0, a10); a11 = fma(c1, b1, a11);
    a20 = fma(c2, b0, a20); a21 = fma(c2, b1, a21);
    a30 = fma(c3, b0, a30); a31 = fma(c3, b1, a31);
  }
  let s00 = hsum(a00), s01 = hsum(a01), s10 = hsum(a10), s11 = hsum(a11);
  let s20 = hsum(a20), s21 = hsum(a21), s30 = hsum(a30), s31 = hsum(a31);
  for (let k = K4; k < K; k++) {
    const b0 = load<f32>(at(w0, k)), b1 = load<f32>(at(w1, k));
    const c0 = load<f32>(at(x0, k)), c1 = load<f32>(at(x1, k)), c2 = load<f32>(at(x2, k)), c3 = load<f32>(at(x3, k));
    s00 += c0 * b0; s01 += c0 * b1; s10 += c1 * b0; s11 += c1 * b1;
    s20 += c2 * b0; s21 += c2 * b1; s30 += c3 * b0; s31 += c3 * b1;
  }
  store<f32>(at(out, i * os + j), s00); store<f32>(at(out, i * os + j + 1), s01);
  store<f32>(at(out, (i + 1) * os + j), s10); store<f32>(at(out, (i + 1) * os + j + 1), s11);
  store<f32>(at(out, (i + 2) * os + j), s20); store<f32>(at(out, (i + 2) * os + j + 1), s21);
  store<f32>(at(out, (i + 3) * os + j), s30); store<f32>(at(out, (i + 3) * os + j + 1), s31);
}

function dot(a: usize, b: usize, K: i32): f32 {
  let acc = f32x4.splat(0);
  const K4 = K & ~3;
  for (let k = 0; k < K4; k += 4) acc = fma(v128.load(a + (<usize>k << 2)), v128.load(b + (<usize>k << 2)), acc);
  let s = hsum(acc);
  for (let k = K4; k < K; k++) s += load<f32>(at(a, k)) * load<f32>(at(b, k));
  return s;
}

/** bias, activation, gate and residual over out[rowStart..rowEnd, col0..col1), 4 columns at a time. */
function epilogue(out: usize, bias: usize, gate: usize, residual: usize, col0: i32, col1: i32, os: i32, act: i32, rowStart: i32, rowEnd: i32): void {
  if (!bias && !gate && !residual && act == 0) return;
  const N4 = col0 + ((col1 - col0) & ~3);
  for (let i = rowStart; i < rowEnd; i++) {
    const row = at(out, i * os);
    for (let j = col0; j < N4; j += 4) {
      const o = <usize>j << 2;
      let y = v128.load(row + o);
      if (bias) y = f32x4.add(y, v128.load(bias + o));
      y = activate(act, y);
      if (gate) y = f32x4.mul(y, v128.load(at(gate, i * os) + o));
      if (residual) y = f32x4.add(y, v128.load(at(residual, i * os) + o));
      v128.store(row + o, y);
    }
    for (let j = N4; j < col1; j++) {
      let y = load<f32>(at(row, j));
      if (bias) y += load<f32>(at(bias, j));
      y = f32x4.extract_lane(activate(act, f32x4.splat(y)), 0);
      if (gate) y *= load<f32>(at(gate, i * os + j));
      if (residual) y += load<f32>(at(residual, i * os + j));
      store<f32>(at(row, j), y);
    }
  }
}

/**
 * Rows of W per block: about 192 KB of W stays in L2 while every 4-row tile of x streams past it, so x is
 * re-read from L3 only once per block (fewer blocks → less traffic on the cache both workers share).
 */
// @ts-ignore: decorator
@inline function blockRows(K: i32): i32 {
  return max(2, (49152 / max(K, 1)) & ~1);
}

function linearRows(
  out: usize, x: usize, w: usize, bias: usize, gate: usize, residual: usize,
  K: i32, os: i32, xs: i32, act: i32, rowStart: i32, rowEnd: i32, colStart: i32, colEnd: i32,
): void {
  const JB = blockRows(K);
  for (let jb = colStart; jb < colEnd; jb += JB) {
    const jEnd = min(jb + JB, colEnd);
    let i = rowStart;
    for (; i + 4 <= rowEnd; i += 4) {
      let j = jb;
      for (; j + 2 <= jEnd; j += 2) tile4x2(out, x, w, i, j, K, xs, os);
      for (; j < jEnd; j++) for (let r = 0; r < 4; r++) store<f32>(at(out, (i + r) * os + j), dot(at(x, (i + r) * xs), at(w, j * K), K));
      // bias and activation while these outputs are still in L1
      epilogue(out, bias, gate, residual, jb, jEnd, os, act, i, i + 4);
    }
    for (; i < rowEnd; i++) {
      for (let j = jb; j < jEnd; j++) store<f32>(at(out, i * os + j), dot(at(x, i * xs), at(w, j * K), K));
      epilogue(out, bias, gate, residual, jb, jEnd, os, act, i, i + 1);
    }
  }
}

// ---- linear over packed weights: W in panels of 8 output columns, panel p holding W[8p..8p+8, k] for k in order
// (k-major, 8 floats per k, zero columns past N), so one k step is two vector loads of W and a broadcast of each
// x value: 8 multiply-adds for 6 loads, against 8 for 6 plus horizontal sums in the dot-product form, and no
// strided reads. About 1.3× the rows kernel (npm run bench, kernels section). ----

const PANEL = 8;
// Cache blocking, tuned on MiniLM shapes: a block of x rows (32 KB) is swept by every panel of a block of W
// (64 KB) before the next, so both stay in the first two cache levels.
const MB_FLOATS = 8192;
const JB_FLOATS = 16384;

/**
 * Rows i..i+R (R = 1..4) of x against one panel: the register tile (R×8 accumulators, each a sequential fused
 * multiply-add over k). Every row goes through the same per-lane chain whatever R is, so a text gets the same
 * bits in a batch of 1 as in a batch of 64.
 */
// @ts-ignore: decorator
@inline function panelTile(R: i32, half: i32, out: usize, x: usize, wp: usize, i: i32, j: i32, cols: i32, K: i32, xs: i32, os: i32): void {
  const x0 = at(x, i * xs);
  const x1 = R > 1 ? at(x, (i + 1) * xs) : x0;
  const x2 = R > 2 ? at(x, (i + 2) * xs) : x0;
  const x3 = R > 3 ? at(x, (i + 3) * xs) : x0;
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  let b = wp;
  const end = at(x0, K);
  let c0 = x0, c1 = x1, c2 = x2, c3 = x3;
  while (c0 < end) {
    let b0: v128, b1: v128;
    if (half) {
      // 8 half weights in one load, widened into the two vectors of the panel's k step
      const raw = v128.load(b);
      b0 = widen(i32x4.extend_low_i16x8_u(raw), half);
      b1 = widen(i32x4.extend_high_i16x8_u(raw), half);
    } else {
      b0 = v128.load(b);
      b1 = v128.load(b, 16);
    }
    const v0 = v128.load32_splat(c0);
    a00 = fma(v0, b0, a00); a01 = fma(v0, b1, a01);
    if (R > 1) { const v1 = v128.load32_splat(c1); a10 = fma(v1, b0, a10); a11 = fma(v1, b1, a11); }
    if (R > 2) { const v2 = v128.load32_splat(c2); a20 = fma(v2, b0, a20); a21 = fma(v2, b1, a21); }
    if (R > 3) { const v3 = v128.load32_splat(c3); a30 = fma(v3, b0, a30); a31 = fma(v3, b1, a31); }
    b += half ? 16 : 32; c0 += 4; c1 += 4; c2 += 4; c3 += 4;
  }
  storePanelRow(at(out, i * os + j), a00, a01, cols);
  if (R > 1) storePanelRow(at(out, (i + 1) * os + j), a10, a11, cols);
  if (R > 2) storePanelRow(at(out, (i + 2) * os + j), a20, a21, cols);
  if (R > 3) storePanelRow(at(out, (i + 3) * os + j), a30, a31, cols);
}

// @ts-ignore: decorator
@inline function storePanelRow(o: usize, lo: v128, hi: v128, cols: i32): void {
  if (cols == PANEL) { v128.store(o, lo); v128.store(o, hi, 16); return; }
  // a last, partial panel (N not a multiple of 8): lanes one by one (extract_lane takes a constant index)
  store<f32>(o, f32x4.extract_lane(lo, 0));
  if (cols > 1) store<f32>(o, f32x4.extract_lane(lo, 1), 4);
  if (cols > 2) store<f32>(o, f32x4.extract_lane(lo, 2), 8);
  if (cols > 3) store<f32>(o, f32x4.extract_lane(lo, 3), 12);
  if (cols > 4) store<f32>(o, f32x4.extract_lane(hi, 0), 16);
  if (cols > 5) store<f32>(o, f32x4.extract_lane(hi, 1), 20);
  if (cols > 6) store<f32>(o, f32x4.extract_lane(hi, 2), 24);
}

// @ts-ignore: decorator
@inline function linearPanels(
  out: usize, x: usize, w: usize, bias: usize, gate: usize, residual: usize,
  K: i32, os: i32, xs: i32, act: i32, rowStart: i32, rowEnd: i32, colStart: i32, colEnd: i32, half: i32,
): void {
  const IB = max(4, (MB_FLOATS / max(K, 1)) & ~3);
  const JB = max(PANEL, (JB_FLOATS / max(K, 1)) & ~(PANEL - 1));
  for (let ib = rowStart; ib < rowEnd; ib += IB) {
    const iEnd = min(ib + IB, rowEnd);
    for (let jb = colStart; jb < colEnd; jb += JB) {
      const jEnd = min(jb + JB, colEnd);
      for (let j = jb; j < jEnd; j += PANEL) {
        const wp = w + (<usize>(j * K) << (half ? 1 : 2)), cols = min(PANEL, jEnd - j);
        let i = ib;
        for (; i + 4 <= iEnd; i += 4) panelTile(4, half, out, x, wp, i, j, cols, K, xs, os);
        for (; i < iEnd; i++) panelTile(1, half, out, x, wp, i, j, cols, K, xs, os);
      }
      epilogue(out, bias, gate, residual, jb, jEnd, os, act, ib, iEnd);
    }
  }
}

/**
 * out (M, N) = act(x (M, K) · Wᵀ + bias) [* gate] [+ residual] over rows rowStart..rowEnd and columns
 * colStart..colEnd (a multiple of 8 when packed). W is packed in panels (the layout every loaded layer has) or
 * plain (N, K) rows (weights shared with an embedding table, such as a tied LM head).
 */
export function linear(
  out: usize, x: usize, w: usize, bias: usize, gate: usize, residual: usize,
  K: i32, os: i32, xs: i32, act: i32, rowStart: i32, rowEnd: i32, colStart: i32, colEnd: i32, packed: i32, weightType: i32,
): void {
  // one specialised copy of the panel loops per weight type: the widening is decided outside the loops
  if (packed && weightType == BF16) linearPanels(out, x, w, bias, gate, residual, K, os, xs, act, rowStart, rowEnd, colStart, colEnd, BF16);
  else if (packed && weightType == F16) linearPanels(out, x, w, bias, gate, residual, K, os, xs, act, rowStart, rowEnd, colStart, colEnd, F16);
  else if (packed) linearPanels(out, x, w, bias, gate, residual, K, os, xs, act, rowStart, rowEnd, colStart, colEnd, 0);
  else if (weightType) linearRowsHalf(out, x, w, bias, gate, residual, K, os, xs, act, rowStart, rowEnd, colStart, colEnd, weightType);
  else linearRows(out, x, w, bias, gate, residual, K, os, xs, act, rowStart, rowEnd, colStart, colEnd);
}

// ---- 8-bit linear (dtype q8): integer dot products of quantized rows and weights; see ../src/q8.ts ----

/**
 * acc + four dot products of 4 bytes: lane c += Σ_k w[4c + k]·x[4c + k], w in -127..127, x in 0..127. The
 * relaxed build takes pairs of products in 16 bits (pmaddubsw; |pair| ≤ 2·127·127 < 2¹⁵, so it never
 * saturates) and sums the pairs against a vector of ones (pmaddwd). It spells out what
 * `i32x4.relaxed_dot_i8x16_i7x16_add_s` does because V8 11 rebuilds that instruction's vector of ones before
 * every use: 5 instructions instead of 3, 34 against 39 GMAC/s a core on MiniLM's shapes. (Later V8s lower the
 * fused instruction to one vpdpbusd on AVX-VNNI hosts; Node 20's V8 11.3 knows no AVX-VNNI, so nothing is lost
 * here, but under a newer Node on such a host the fused form would be the faster one.) The portable build
 * widens both to 16 bits and takes pairs of products (`i32x4.dot_i16x8_s`), then adds the pairs of each
 * column: the same integers either way.
 */
// @ts-ignore: decorator
@inline function dot4(w: v128, x: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(w, x), i16x8.splat(1)));
  const xw = i16x8.extend_low_i8x16_u(x);
  const lo = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), xw);
  const hi = i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), xw);
  return i32x4.add(acc, i32x4.add(v128.shuffle<i32>(lo, hi, 0, 2, 4, 6), v128.shuffle<i32>(lo, hi, 1, 3, 5, 7)));
}

/** Rows of x (float32) to 0..127 bytes with a step and a zero point per row (params), as q8.ts's quantizeRows. */
export function quantizeRows(xq: usize, params: usize, x: usize, K: i32, xs: i32, rowStart: i32, rowEnd: i32): void {
  const Kp = (K + 3) & ~3, K4 = K & ~3;
  for (let i = rowStart; i < rowEnd; i++) {
    const row = at(x, i * xs), q = xq + <usize>(i * Kp);
    let lo4 = f32x4.splat(0), hi4 = f32x4.splat(0);
    for (let k = 0; k < K4; k += 4) {
      const v = v128.load(at(row, k));
      lo4 = f32x4.pmin(lo4, v);
      hi4 = f32x4.pmax(hi4, v);
    }
    let lo = min(min(f32x4.extract_lane(lo4, 0), f32x4.extract_lane(lo4, 1)), min(f32x4.extract_lane(lo4, 2), f32x4.extract_lane(lo4, 3)));
    let hi = max(max(f32x4.extract_lane(hi4, 0), f32x4.extract_lane(hi4, 1)), max(f32x4.extract_lane(hi4, 2), f32x4.extract_lane(hi4, 3)));
    for (let k = K4; k < K; k++) {
      lo = min(lo, load<f32>(at(row, k)));
      hi = max(hi, load<f32>(at(row, k)));
    }
    let step: f32 = (hi - lo) / 127;
    if (step == 0) step = 1;
    const inv: f32 = 1 / step;
    const zero = <i32>min<f32>(127, max<f32>(0, nearest<f32>(-lo * inv)));
    store<f32>(params + (<usize>i << 3), step);
    store<f32>(params + (<usize>i << 3), <f32>zero, 4);
    const invv = f32x4.splat(inv), zv = i32x4.splat(zero), top = i32x4.splat(127), bottom = i32x4.splat(0);
    for (let k = 0; k < K4; k += 4) {
      const r = i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(at(row, k)), invv))), zv);
      const c = i32x4.max_s(i32x4.min_s(r, top), bottom);
      v128.store32_lane(q + <usize>k, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(c, c), i16x8.narrow_i32x4_s(c, c)), 0);
    }
    for (let k = K4; k < Kp; k++) {
      const v = k < K ? min<i32>(127, max<i32>(0, <i32>nearest<f32>(load<f32>(at(row, k)) * inv) + zero)) : 0;
      store<u8>(q + <usize>k, <u8>v);
    }
  }
}

/**
 * Dot products of rows i..i+R (R = 1..4) of xq with one panel of 8 columns, dequantized into out: per group of G
 * inputs the integer sums are converted and scaled, and added in float.
 */
// @ts-ignore: decorator
@inline function q8Tile(R: i32, out: usize, xq: usize, params: usize, wp: usize, sp: usize, op: usize, i: i32, j: i32, cols: i32, Kp: i32, G: i32, os: i32): void {
  const x0 = xq + <usize>(i * Kp);
  const x1 = R > 1 ? x0 + <usize>Kp : x0;
  const x2 = R > 2 ? x1 + <usize>Kp : x0;
  const x3 = R > 3 ? x2 + <usize>Kp : x0;
  let y00 = f32x4.splat(0), y01 = f32x4.splat(0), y10 = f32x4.splat(0), y11 = f32x4.splat(0);
  let y20 = f32x4.splat(0), y21 = f32x4.splat(0), y30 = f32x4.splat(0), y31 = f32x4.splat(0);
  let b = wp, s = sp;
  for (let g: usize = 0; g < <usize>Kp; g += <usize>G) {
    const end = min<usize>(g + <usize>G, <usize>Kp);
    let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
    let a20 = i32x4.splat(0), a21 = i32x4.splat(0), a30 = i32x4.splat(0), a31 = i32x4.splat(0);
    for (let k = g; k < end; k += 4) {
      const w0 = v128.load(b), w1 = v128.load(b, 16);
      const v0 = v128.load32_splat(x0 + k);
      a00 = dot4(w0, v0, a00); a01 = dot4(w1, v0, a01);
      if (R > 1) { const v1 = v128.load32_splat(x1 + k); a10 = dot4(w0, v1, a10); a11 = dot4(w1, v1, a11); }
      if (R > 2) { const v2 = v128.load32_splat(x2 + k); a20 = dot4(w0, v2, a20); a21 = dot4(w1, v2, a21); }
      if (R > 3) { const v3 = v128.load32_splat(x3 + k); a30 = dot4(w0, v3, a30); a31 = dot4(w1, v3, a31); }
      b += 32;
    }
    const s0 = v128.load(s), s1 = v128.load(s, 16);
    y00 = q8Group(y00, a00, s0); y01 = q8Group(y01, a01, s1);
    if (R > 1) { y10 = q8Group(y10, a10, s0); y11 = q8Group(y11, a11, s1); }
    if (R > 2) { y20 = q8Group(y20, a20, s0); y21 = q8Group(y21, a21, s1); }
    if (R > 3) { y30 = q8Group(y30, a30, s0); y31 = q8Group(y31, a31, s1); }
    s += 32;
  }
  const o0 = v128.load(op), o1 = v128.load(op, 16);
  storeQ8Row(at(out, i * os + j), params, i, y00, y01, o0, o1, cols);
  if (R > 1) storeQ8Row(at(out, (i + 1) * os + j), params, i + 1, y10, y11, o0, o1, cols);
  if (R > 2) storeQ8Row(at(out, (i + 2) * os + j), params, i + 2, y20, y21, o0, o1, cols);
  if (R > 3) storeQ8Row(at(out, (i + 3) * os + j), params, i + 3, y30, y31, o0, o1, cols);
}

/** y + s_g · acc for 4 columns. */
// @ts-ignore: decorator
@inline function q8Group(y: v128, acc: v128, scales: v128): v128 {
  return f32x4.add(y, f32x4.mul(f32x4.convert_i32x4_s(acc), scales));
}

/** t_i · (y − z_i · o_j) for 8 columns of row i. */
// @ts-ignore: decorator
@inline function storeQ8Row(o: usize, params: usize, i: i32, y0: v128, y1: v128, o0: v128, o1: v128, cols: i32): void {
  const p = params + (<usize>i << 3);
  const step = f32x4.splat(load<f32>(p)), zero = f32x4.splat(load<f32>(p, 4));
  storePanelRow(o, f32x4.mul(f32x4.sub(y0, f32x4.mul(zero, o0)), step), f32x4.mul(f32x4.sub(y1, f32x4.mul(zero, o1)), step), cols);
}

// Cache blocking as linearPanels, in bytes: a block of quantized rows (32 KB) swept by every panel of a block of
// W (64 KB).
const Q8_ROW_BLOCK_BYTES = 32768;
const Q8_COL_BLOCK_BYTES = 65536;

/**
 * out (M, N) = act(dequantized xq · Wᵀ + bias) [* gate] [+ residual] over rows rowStart..rowEnd and columns
 * colStart..colEnd (a multiple of 8), W in q8 panels with scales per panel, group of G inputs and column, and
 * zero-point offsets per column.
 */
export function linearQ8(
  out: usize, xq: usize, params: usize, w: usize, scales: usize, offsets: usize, bias: usize, gate: usize, residual: usize,
  K: i32, G: i32, os: i32, act: i32, rowStart: i32, rowEnd: i32, colStart: i32, colEnd: i32,
): void {
  const Kp = (K + 3) & ~3;
  const groups = (Kp + G - 1) / G;
  const IB = max(4, (Q8_ROW_BLOCK_BYTES / max(Kp, 1)) & ~3);
  const JB = max(PANEL, (Q8_COL_BLOCK_BYTES / max(Kp, 1)) & ~(PANEL - 1));
  for (let ib = rowStart; ib < rowEnd; ib += IB) {
    const iEnd = min(ib + IB, rowEnd);
    for (let jb = colStart; jb < colEnd; jb += JB) {
      const jEnd = min(jb + JB, colEnd);
      for (let j = jb; j < jEnd; j += PANEL) {
        // panel j/8's scales start at element (j/8) · groups · 8 = j · groups
        const wp = w + <usize>(j * Kp), sp = at(scales, j * groups), op = at(offsets, j), cols = min(PANEL, jEnd - j);
        let i = ib;
        for (; i + 4 <= iEnd; i += 4) q8Tile(4, out, xq, params, wp, sp, op, i, j, cols, Kp, G, os);
        for (; i < iEnd; i++) q8Tile(1, out, xq, params, wp, sp, op, i, j, cols, Kp, G, os);
      }
      epilogue(out, bias, gate, residual, jb, jEnd, os, act, ib, iEnd);
    }
  }
}

/**
 * Lane c of the result: the sum of a_c's four lanes, as (l0 + l2) + (l1 + l3), for four columns' partial sums at once.
 */
// @ts-ignore: decorator
@inline function sumLanes4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const u01 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const u23 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(u01, u23, 0, 1, 4, 5), v128.shuffle<f32>(u01, u23, 2, 3, 6, 7));
}

/** a + x · (4 weights of one column, widened from the low or high half of 8 int16), multiply and add unfused. */
// @ts-ignore: decorator
@inline function q8FloatStep(a: v128, x: v128, w16: v128, high: bool): v128 {
  const w = f32x4.convert_i32x4_s(high ? i32x4.extend_high_i16x8_s(w16) : i32x4.extend_low_i16x8_s(w16));
  return f32x4.add(a, f32x4.mul(x, w));
}

/**
 * out (M, N) = act(x · Wᵀ + bias) [* gate] [+ residual] for a few rows of float x against q8 weights (the panels,
 * groups and scales of linearQ8), each weight widened to float32 in registers: decoding's one row a step, where
 * quantizing the activations would round them for no gain (the bytes of W read per row set the speed). Per
 * panel, group and row, 8 columns' partial sums over 4 lanes, summed across lanes and scaled once per group.
 */
export function linearQ8Float(
  out: usize, x: usize, w: usize, scales: usize, bias: usize, gate: usize, residual: usize,
  K: i32, G: i32, os: i32, xs: i32, act: i32, rowStart: i32, rowEnd: i32, colStart: i32, colEnd: i32,
): void {
  const Kp = (K + 3) & ~3;
  const groups = (Kp + G - 1) / G;
  for (let j = colStart; j < colEnd; j += PANEL) {
    const wp = w + <usize>(j * Kp), sp = at(scales, j * groups), cols = min(PANEL, colEnd - j);
    for (let i = rowStart; i < rowEnd; i++) {
      const row = at(x, i * xs);
      let y0 = f32x4.splat(0), y1 = f32x4.splat(0);
      let b = wp, s = sp;
      for (let g = 0; g < Kp; g += G) {
        const end = min(g + G, Kp);
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
        for (let k = g; k < end; k += 4) {
          // 16 bytes: columns 0-3 (then 4-7), each column's 4 k in order
          const xk = xQuad(row, k, K), w0 = v128.load(b), w1 = v128.load(b, 16);
          const c01 = i16x8.extend_low_i8x16_s(w0), c23 = i16x8.extend_high_i8x16_s(w0);
          const c45 = i16x8.extend_low_i8x16_s(w1), c67 = i16x8.extend_high_i8x16_s(w1);
          a0 = q8FloatStep(a0, xk, c01, false); a1 = q8FloatStep(a1, xk, c01, true);
          a2 = q8FloatStep(a2, xk, c23, false); a3 = q8FloatStep(a3, xk, c23, true);
          a4 = q8FloatStep(a4, xk, c45, false); a5 = q8FloatStep(a5, xk, c45, true);
          a6 = q8FloatStep(a6, xk, c67, false); a7 = q8FloatStep(a7, xk, c67, true);
          b += 32;
        }
        y0 = f32x4.add(y0, f32x4.mul(sumLanes4(a0, a1, a2, a3), v128.load(s)));
        y1 = f32x4.add(y1, f32x4.mul(sumLanes4(a4, a5, a6, a7), v128.load(s, 16)));
        s += 32;
      }
      storePanelRow(at(out, i * os + j), y0, y1, cols);
    }
  }
  epilogue(out, bias, gate, residual, colStart, colEnd, os, act, rowStart, rowEnd);
}

// ---- 4-bit weights (dtype q4), widened to float32 in registers; see ../src/q4.ts ----

const Q4_GROUP = 32;

/**
 * Four x values of row `row` from k on, zeros past K (padded weights are zero, but what lies past a row of x may be
 * anything, NaN included).
 */
// @ts-ignore: decorator
@inline function xQuad(row: usize, k: i32, K: i32): v128 {
  if (k + 4 <= K) return v128.load(at(row, k));
  let v = f32x4.splat(0);
  if (k < K) v = f32x4.replace_lane(v, 0, load<f32>(at(row, k)));
  if (k + 1 < K) v = f32x4.replace_lane(v, 1, load<f32>(at(row, k + 1)));
  if (k + 2 < K) v = f32x4.replace_lane(v, 2, load<f32>(at(row, k + 2)));
  return v;
}

/** g += x_k · w_k for one k of a panel, x_k broadcast. Multiply and add, never fused: both builds give the same bits. */
// @ts-ignore: decorator
@inline function q4Step(g: v128, xk: v128, w: v128): v128 {
  return f32x4.add(g, f32x4.mul(xk, w));
}

/** Rows i (and i + 1 when R = 2) of x against one panel: per group, float sums of x·(q − 8), then scaled. */
// @ts-ignore: decorator
@inline function q4Tile(R: i32, out: usize, x: usize, wp: usize, sp: usize, i: i32, j: i32, cols: i32, K: i32, xs: i32, os: i32): void {
  const Kp = (K + Q4_GROUP - 1) & ~(Q4_GROUP - 1);
  const x0 = at(x, i * xs), x1 = R > 1 ? at(x, (i + 1) * xs) : x0;
  const low = i8x16.splat(0x0f), eight = i16x8.splat(8);
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let b = wp, s = sp;
  for (let g = 0; g < Kp; g += Q4_GROUP) {
    let g00 = f32x4.splat(0), g01 = f32x4.splat(0), g10 = f32x4.splat(0), g11 = f32x4.splat(0);
    const end = min(g + Q4_GROUP, (K + 3) & ~3);
    for (let k = g; k < end; k += 4) {
      const v = v128.load(b + <usize>((k - g) << 2));
      const lo = v128.and(v, low), hi = i8x16.shr_u(v, 4);
      // (k, k+1) and (k+2, k+3), columns 0-3 from the low nibbles and 4-7 from the high ones, as q − 8
      const la = i16x8.sub(i16x8.extend_low_i8x16_u(lo), eight), lb = i16x8.sub(i16x8.extend_high_i8x16_u(lo), eight);
      const ha = i16x8.sub(i16x8.extend_low_i8x16_u(hi), eight), hb = i16x8.sub(i16x8.extend_high_i8x16_u(hi), eight);
      const q0 = xQuad(x0, k, K), q1 = R > 1 ? xQuad(x1, k, K) : q0;
      let wl = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(la)), wh = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(ha));
      const c0 = v128.shuffle<f32>(q0, q0, 0, 0, 0, 0);
      g00 = q4Step(g00, c0, wl); g01 = q4Step(g01, c0, wh);
      if (R > 1) { const d0 = v128.shuffle<f32>(q1, q1, 0, 0, 0, 0); g10 = q4Step(g10, d0, wl); g11 = q4Step(g11, d0, wh); }
      wl = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(la)); wh = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(ha));
      const c1 = v128.shuffle<f32>(q0, q0, 1, 1, 1, 1);
      g00 = q4Step(g00, c1, wl); g01 = q4Step(g01, c1, wh);
      if (R > 1) { const d1 = v128.shuffle<f32>(q1, q1, 1, 1, 1, 1); g10 = q4Step(g10, d1, wl); g11 = q4Step(g11, d1, wh); }
      wl = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lb)); wh = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hb));
      const c2 = v128.shuffle<f32>(q0, q0, 2, 2, 2, 2);
      g00 = q4Step(g00, c2, wl); g01 = q4Step(g01, c2, wh);
      if (R > 1) { const d2 = v128.shuffle<f32>(q1, q1, 2, 2, 2, 2); g10 = q4Step(g10, d2, wl); g11 = q4Step(g11, d2, wh); }
      wl = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lb)); wh = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hb));
      const c3 = v128.shuffle<f32>(q0, q0, 3, 3, 3, 3);
      g00 = q4Step(g00, c3, wl); g01 = q4Step(g01, c3, wh);
      if (R > 1) { const d3 = v128.shuffle<f32>(q1, q1, 3, 3, 3, 3); g10 = q4Step(g10, d3, wl); g11 = q4Step(g11, d3, wh); }
    }
    const s0 = v128.load(s), s1 = v128.load(s, 16);
    a00 = f32x4.add(a00, f32x4.mul(g00, s0)); a01 = f32x4.add(a01, f32x4.mul(g01, s1));
    if (R > 1) { a10 = f32x4.add(a10, f32x4.mul(g10, s0)); a11 = f32x4.add(a11, f32x4.mul(g11, s1)); }
    b += Q4_GROUP * 4;
    s += 32;
  }
  storePanelRow(at(out, i * os + j), a00, a01, cols);
  if (R > 1) storePanelRow(at(out, (i + 1) * os + j), a10, a11, cols);
}

/**
 * out (M, N) = act(x · Wᵀ + bias) [* gate] [+ residual] with W in 4-bit panels and group scales, over rows
 * rowStart..rowEnd and columns colStart..colEnd (a multiple of 8).
 */
export function linearQ4(
  out: usize, x: usize, w: usize, scales: usize, bias: usize, gate: usize, residual: usize,
  K: i32, os: i32, xs: i32, act: i32, rowStart: i32, rowEnd: i32, colStart: i32, colEnd: i32,
): void {
  const Kp = (K + Q4_GROUP - 1) & ~(Q4_GROUP - 1);
  const IB = max(2, (MB_FLOATS / max(K, 1)) & ~1);
  const JB = max(PANEL, (JB_FLOATS * 8 / max(Kp, 1)) & ~(PANEL - 1));
  for (let ib = rowStart; ib < rowEnd; ib += IB) {
    const iEnd = min(ib + IB, rowEnd);
    for (let jb = colStart; jb < colEnd; jb += JB) {
      const jEnd = min(jb + JB, colEnd);
      for (let j = jb; j < jEnd; j += PANEL) {
        const wp = w + <usize>(j * Kp / 2), sp = scales + <usize>(j * (Kp / Q4_GROUP) * 4), cols = min(PANEL, jEnd - j);
        let i = ib;
        for (; i + 2 <= iEnd; i += 2) q4Tile(2, out, x, wp, sp, i, j, cols, K, xs, os);
        for (; i < iEnd; i++) q4Tile(1, out, x, wp, sp, i, j, cols, K, xs, os);
      }
      epilogue(out, bias, gate, residual, jb, jEnd, os, act, ib, iEnd);
    }
  }
}

// ---- LayerNorm / RMSNorm over rows: out = norm(x [+ residual]) * weight [+ bias]; out may alias x ----

export function norm(out: usize, x: usize, residual: usize, weight: usize, bias: usize, dim: i32, eps: f32, rms: i32, rowStart: i32, rowEnd: i32, groups: i32, rowStride: i32): void {
  const D4 = dim & ~3;
  for (let u = rowStart * groups; u < rowEnd * groups; u++) {
    const e = (u / groups) * rowStride + (u % groups) * dim;
    const o = at(out, e), xi = at(x, e), ri = at(residual, e);
    let sum = f32x4.splat(0);
    for (let c = 0; c < D4; c += 4) {
      let v = v128.load(xi + (<usize>c << 2));
      if (residual) v = f32x4.add(v, v128.load(ri + (<usize>c << 2)));
      v128.store(o + (<usize>c << 2), v);
      sum = f32x4.add(sum, v);
    }
    let s = hsum(sum);
    for (let c = D4; c < dim; c++) {
      let v = load<f32>(at(xi, c));
      if (residual) v += load<f32>(at(ri, c));
      store<f32>(at(o, c), v);
      s += v;
    }
    const mean: f32 = rms ? 0 : s / <f32>dim;
    const m = f32x4.splat(mean);
    let sq = f32x4.splat(0);
    for (let c = 0; c < D4; c += 4) {
      const d = f32x4.sub(v128.load(o + (<usize>c << 2)), m);
      sq = f32x4.add(sq, f32x4.mul(d, d));
    }
    let q = hsum(sq);
    for (let c = D4; c < dim; c++) {
      const d = load<f32>(at(o, c)) - mean;
      q += d * d;
    }
    const inv: f32 = 1 / Mathf.sqrt(q / <f32>dim + eps);
    const iv = f32x4.splat(inv);
    for (let c = 0; c < D4; c += 4) {
      const p = <usize>c << 2;
      let y = f32x4.mul(f32x4.mul(f32x4.sub(v128.load(o + p), m), iv), v128.load(weight + p));
      if (bias) y = f32x4.add(y, v128.load(bias + p));
      v128.store(o + p, y);
    }
    for (let c = D4; c < dim; c++) {
      let y = (load<f32>(at(o, c)) - mean) * inv * load<f32>(at(weight, c));
      if (bias) y += load<f32>(at(bias, c));
      store<f32>(at(o, c), y);
    }
  }
}

// ---- attention: softmax(q kᵀ · scale + bias, masked) v per (batch, head) unit; see ../src/attention.ts ----
// Queries go two at a time where they can: the two share every load of Kᵀ and of V. Each score and each output
// lane is still one sequential fused multiply-add chain (over d, over keys), so a query gets the same bits
// alone or paired, and with or without padded keys.

/** Σ_j p_j v_j into out[d0..D) in memory, 4 columns at a time: the columns the register loops leave over. */
function weightedSumRest(oi: usize, row: usize, v: usize, kvRow: i32, kLen: i32, d0: i32, D: i32): void {
  if (d0 == D) return;
  for (let d = d0; d < D; d++) store<f32>(at(oi, d), 0);
  const rest4 = d0 + ((D - d0) & ~3);
  for (let j = 0; j < kLen; j++) {
    const p = load<f32>(at(row, j));
    if (p == 0) continue;
    const pv = f32x4.splat(p);
    const vj = at(v, j * kvRow);
    for (let d = d0; d < rest4; d += 4) v128.store(at(oi, d), fma(pv, v128.load(at(vj, d)), v128.load(at(oi, d))));
    for (let d = rest4; d < D; d++) store<f32>(at(oi, d), load<f32>(at(oi, d)) + p * load<f32>(at(vj, d)));
  }
}

/**
 * The 2 × 16 register tile both products of attention use: oa[0..16) = Σ_t xa[t]·B[t, 0..16) and the same for
 * xb, each B row (row stride bStride) loaded once for both. With skipZeros, steps where both weights are zero are
 * skipped: a zero weight adds exactly nothing (0·b + acc = acc), so each row still gets the bits it gets alone.
 */
// @ts-ignore: decorator
@inline function pairTile(oa: usize, ob: usize, xa: usize, xb: usize, b: usize, bStride: i32, n: i32, skipZeros: bool): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  // pointers stepped, not indices multiplied: V8 recomputes t · bStride in every iteration otherwise
  const step = <usize>bStride << 2, end = at(xa, n);
  for (let pa = xa, pb = xb, c = b; pa < end; pa += 4, pb += 4, c += step) {
    // zero tested on the bits: a float comparison costs V8 a dozen instructions (NaN, −0), an integer one
    // two; the weights skipped are probabilities, never −0
    if (skipZeros && (load<u32>(pa) | load<u32>(pb)) == 0) continue;
    // loaded again as floats: a broadcast straight from memory is one instruction
    const va = v128.load32_splat(pa), vb = v128.load32_splat(pb);
    const k0 = v128.load(c), k1 = v128.load(c, 16), k2 = v128.load(c, 32), k3 = v128.load(c, 48);
    a0 = fma(va, k0, a0); a1 = fma(va, k1, a1); a2 = fma(va, k2, a2); a3 = fma(va, k3, a3);
    b0 = fma(vb, k0, b0); b1 = fma(vb, k1, b1); b2 = fma(vb, k2, b2); b3 = fma(vb, k3, b3);
  }
  v128.store(oa, a0); v128.store(oa, a1, 16); v128.store(oa, a2, 32); v128.store(oa, a3, 48);
  v128.store(ob, b0); v128.store(ob, b1, 16); v128.store(ob, b2, 32); v128.store(ob, b3, 48);
}

/** out (D,) = Σ_j p_j v_j for two queries, 16 columns at a time. */
function weightedSumPair(oa: usize, ob: usize, ra: usize, rb: usize, v: usize, kvRow: i32, kLen: i32, D: i32): void {
  let d0 = 0;
  for (; d0 + 16 <= D; d0 += 16) pairTile(at(oa, d0), at(ob, d0), ra, rb, at(v, d0), kvRow, kLen, true);
  weightedSumRest(oa, ra, v, kvRow, kLen, d0, D);
  weightedSumRest(ob, rb, v, kvRow, kLen, d0, D);
}

/**
 * The one-query tile of the weighted sum: o[0..C) = Σ_t p[t]·V[t, 0..C) for C = 16 or 32, zero weights skipped,
 * each lane the same fused multiply-add chain over t as in pairTile.
 */
// @ts-ignore: decorator
@inline function rowTile(C: i32, o: usize, p: usize, b: usize, bStride: i32, n: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  const step = <usize>bStride << 2, end = at(p, n);
  for (let pt = p, c = b; pt < end; pt += 4, c += step) {
    if (load<u32>(pt) == 0) continue;
    const w = v128.load32_splat(pt);
    a0 = fma(w, v128.load(c), a0); a1 = fma(w, v128.load(c, 16), a1);
    a2 = fma(w, v128.load(c, 32), a2); a3 = fma(w, v128.load(c, 48), a3);
    if (C > 16) {
      a4 = fma(w, v128.load(c, 64), a4); a5 = fma(w, v128.load(c, 80), a5);
      a6 = fma(w, v128.load(c, 96), a6); a7 = fma(w, v128.load(c, 112), a7);
    }
  }
  v128.store(o, a0); v128.store(o, a1, 16); v128.store(o, a2, 32); v128.store(o, a3, 48);
  if (C > 16) { v128.store(o, a4, 64); v128.store(o, a5, 80); v128.store(o, a6, 96); v128.store(o, a7, 112); }
}

/** out (D,) = Σ_j p_j v_j for one query (decoding, or the last of an odd count): half the work of a pair of it. */
function weightedSumOne(o: usize, r: usize, v: usize, kvRow: i32, kLen: i32, D: i32): void {
  let d0 = 0;
  for (; d0 + 32 <= D; d0 += 32) rowTile(32, at(o, d0), r, at(v, d0), kvRow, kLen);
  for (; d0 + 16 <= D; d0 += 16) rowTile(16, at(o, d0), r, at(v, d0), kvRow, kLen);
  weightedSumRest(o, r, v, kvRow, kLen, d0, D);
}

/** Raw scores q·k_j of two queries (a lone query passes itself twice) against Kᵀ (D, kPad), 16 keys at a time, keys below kEnd. */
function scorePair(ra: usize, rb: usize, qa: usize, qb: usize, kt: usize, D: i32, kPad: i32, kEnd: i32): void {
  for (let j0 = 0; j0 < kEnd; j0 += 16) pairTile(at(ra, j0), at(rb, j0), qa, qb, at(kt, j0), kPad, D, false);
}

/**
 * Column c of the 4×4 block whose rows are r0..r3: (r0[c], r1[c], r2[c], r3[c]). Two interleaving shuffles and one
 * to pick; the interleavings are the same for every c, so the four columns of a block share them.
 */
// @ts-ignore: decorator
@inline function column4(c: i32, r0: v128, r1: v128, r2: v128, r3: v128): v128 {
  if (c < 2) {
    const lo01 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), lo23 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
    return c == 0 ? v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5) : v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7);
  }
  const hi01 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), hi23 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  return c == 2 ? v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5) : v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7);
}

/**
 * acc + Σ_{d..d+4} q_d · (four keys' values at d), the keys' rows r0..r3 (four values each) transposed in
 * registers: lane c stays key c's fused multiply-add chain, in order of d.
 */
// @ts-ignore: decorator
@inline function keys4x4(acc: v128, q0: v128, q1: v128, q2: v128, q3: v128, r0: v128, r1: v128, r2: v128, r3: v128): v128 {
  acc = fma(q0, column4(0, r0, r1, r2, r3), acc);
  acc = fma(q1, column4(1, r0, r1, r2, r3), acc);
  acc = fma(q2, column4(2, r0, r1, r2, r3), acc);
  return fma(q3, column4(3, r0, r1, r2, r3), acc);
}

/** acc + Σ_{d..D} q_d · (keys k0..k3 at d), gathered lane by lane; keys past n read as zero. */
// @ts-ignore: decorator
@inline function keysGather(acc: v128, qi: usize, k0: usize, kvRow: i32, n: i32, d: i32, D: i32): v128 {
  for (; d < D; d++) {
    let kv = f32x4.splat(load<f32>(at(k0, d)));
    kv = f32x4.replace_lane(kv, 1, n > 1 ? load<f32>(at(k0, kvRow + d)) : 0);
    kv = f32x4.replace_lane(kv, 2, n > 2 ? load<f32>(at(k0, 2 * kvRow + d)) : 0);
    kv = f32x4.replace_lane(kv, 3, n > 3 ? load<f32>(at(k0, 3 * kvRow + d)) : 0);
    acc = fma(f32x4.splat(load<f32>(at(qi, d))), kv, acc);
  }
  return acc;
}

/**
 * Raw scores of one query against keys in their rows (few queries: no transpose), four keys per vector: lane c
 * is key c's fused multiply-add chain over d, as in scorePair. Each key's next four values are loaded as a row
 * and four keys transposed in registers (keys4x4: 8 shuffles, where gathering costs 12 lane inserts); sixteen
 * keys go at once, so four chains are in flight (one chain waits on each multiply-add's latency); a last block
 * of fewer than four keys gathers.
 */
function scoresGather(row: usize, qi: usize, kBase: usize, kvRow: i32, D: i32, kLen: i32): void {
  const D4 = D & ~3, full = kLen & ~3, rs = <usize>kvRow << 2;
  let j0 = 0;
  for (; j0 + 16 <= full; j0 += 16) {
    const k0 = at(kBase, j0 * kvRow);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let d = 0;
    for (; d < D4; d += 4) {
      const qd = at(qi, d);
      const q0 = f32x4.splat(load<f32>(qd)), q1 = f32x4.splat(load<f32>(qd, 4)), q2 = f32x4.splat(load<f32>(qd, 8)), q3 = f32x4.splat(load<f32>(qd, 12));
      const r = at(k0, d);
      a0 = keys4x4(a0, q0, q1, q2, q3, v128.load(r), v128.load(r + rs), v128.load(r + 2 * rs), v128.load(r + 3 * rs));
      a1 = keys4x4(a1, q0, q1, q2, q3, v128.load(r + 4 * rs), v128.load(r + 5 * rs), v128.load(r + 6 * rs), v128.load(r + 7 * rs));
      a2 = keys4x4(a2, q0, q1, q2, q3, v128.load(r + 8 * rs), v128.load(r + 9 * rs), v128.load(r + 10 * rs), v128.load(r + 11 * rs));
      a3 = keys4x4(a3, q0, q1, q2, q3, v128.load(r + 12 * rs), v128.load(r + 13 * rs), v128.load(r + 14 * rs), v128.load(r + 15 * rs));
    }
    v128.store(at(row, j0), keysGather(a0, qi, k0, kvRow, 4, d, D));
    v128.store(at(row, j0 + 4), keysGather(a1, qi, at(k0, 4 * kvRow), kvRow, 4, d, D));
    v128.store(at(row, j0 + 8), keysGather(a2, qi, at(k0, 8 * kvRow), kvRow, 4, d, D));
    v128.store(at(row, j0 + 12), keysGather(a3, qi, at(k0, 12 * kvRow), kvRow, 4, d, D));
  }
  for (; j0 < kLen; j0 += 4) {
    const k0 = at(kBase, j0 * kvRow);
    let acc = f32x4.splat(0);
    let d = 0;
    if (j0 < full) {
      for (; d < D4; d += 4) {
        const qd = at(qi, d), r = at(k0, d);
        acc = keys4x4(acc, f32x4.splat(load<f32>(qd)), f32x4.splat(load<f32>(qd, 4)), f32x4.splat(load<f32>(qd, 8)), f32x4.splat(load<f32>(qd, 12)),
          v128.load(r), v128.load(r + rs), v128.load(r + 2 * rs), v128.load(r + 3 * rs));
      }
    }
    v128.store(at(row, j0), keysGather(acc, qi, k0, kvRow, min(4, kLen - j0), d, D));
  }
}

/** The key indices j, j+1, j+2, j+3 of a block's lanes. */
// @ts-ignore: decorator
@inline function laneKeys(j: i32): v128 {
  return i32x4.add(v128(0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0), i32x4.splat(j));
}

/**
 * Scores of keys j..j+4 of a row: scaled, [soft-capped,] [biased,] masked to `fill`, stored; returns the running
 * maximum. `edge` blocks test each lane against the visible range [first, visible) and kLen; blocks inside it skip
 * those tests (all true there), so every lane gets the same bits either way.
 */
// @ts-ignore: decorator
@inline function scoreBlock(edge: bool, mx: v128, row: usize, biasRow: usize, maskRow: usize, j: i32, kLen: i32, first: i32, visible: i32, scale: f32, cap: f32, fill: f32): v128 {
  let sv = f32x4.mul(v128.load(at(row, j)), f32x4.splat(scale));
  if (cap) sv = f32x4.mul(vtanh(f32x4.mul(sv, f32x4.splat(1 / cap))), f32x4.splat(cap));
  if (biasRow) sv = f32x4.add(sv, v128.load(at(biasRow, j)));
  if (edge) {
    const idx = laneKeys(j);
    let keep = v128.and(i32x4.lt_s(idx, i32x4.splat(min(visible, kLen))), i32x4.ge_s(idx, i32x4.splat(first)));
    if (maskRow) keep = v128.and(keep, i32x4.ne(v128.load(at(maskRow, j)), i32x4.splat(0)));
    sv = v128.bitselect(sv, f32x4.splat(fill), keep);
    v128.store(at(row, j), sv);
    return f32x4.pmax(mx, v128.bitselect(sv, f32x4.splat(-Infinity), i32x4.lt_s(idx, i32x4.splat(kLen))));
  }
  if (maskRow) sv = v128.bitselect(sv, f32x4.splat(fill), i32x4.ne(v128.load(at(maskRow, j)), i32x4.splat(0)));
  v128.store(at(row, j), sv);
  return f32x4.pmax(mx, sv);
}

/**
 * Scores row → probabilities in place: scale, bias, mask (a masked score becomes `fill`), softmax over the kLen
 * keys; lanes ≥ kLen are ignored (the mask and bias rows are read up to 12 bytes past their end: still inside
 * their 64-byte-aligned blocks).
 */
function softmaxRow(row: usize, biasRow: usize, maskRow: usize, kLen: i32, first: i32, visible: i32, scale: f32, cap: f32, fill: f32): void {
  const K4 = (kLen + 3) & ~3, L4 = kLen & ~3;
  // blocks [inner, outer) hold only keys in [first, min(visible, kLen)): no lane tests there
  const inner = min(K4, (max(first, 0) + 3) & ~3);
  const outer = max(inner, min(visible, kLen) & ~3);
  let mx = f32x4.splat(-Infinity);
  let j = 0;
  for (; j < inner; j += 4) mx = scoreBlock(true, mx, row, biasRow, maskRow, j, kLen, first, visible, scale, cap, fill);
  for (; j < outer; j += 4) mx = scoreBlock(false, mx, row, biasRow, maskRow, j, kLen, first, visible, scale, cap, fill);
  for (; j < K4; j += 4) mx = scoreBlock(true, mx, row, biasRow, maskRow, j, kLen, first, visible, scale, cap, fill);
  const rowMax: f32 = max(max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)), max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)));
  const mv = f32x4.splat(rowMax);
  let sumv = f32x4.splat(0);
  // two blocks an iteration: their exponentials are independent work for the core to overlap, and the running
  // sum (which V8 keeps in memory, spilled) is read and written once per two; it still adds them in key order
  for (j = 0; j + 8 <= L4; j += 8) {
    const e0 = vexp(f32x4.sub(v128.load(at(row, j)), mv)), e1 = vexp(f32x4.sub(v128.load(at(row, j + 4)), mv));
    v128.store(at(row, j), e0);
    v128.store(at(row, j + 4), e1);
    sumv = f32x4.add(f32x4.add(sumv, e0), e1);
  }
  for (; j < L4; j += 4) {
    const e = vexp(f32x4.sub(v128.load(at(row, j)), mv));
    v128.store(at(row, j), e);
    sumv = f32x4.add(sumv, e);
  }
  if (L4 < K4) {
    const past = i32x4.ge_s(laneKeys(L4), i32x4.splat(kLen));
    const e = v128.andnot(vexp(f32x4.sub(v128.load(at(row, L4)), mv)), past);
    v128.store(at(row, L4), e);
    sumv = f32x4.add(sumv, e);
  }
  const inv = f32x4.splat(1 / hsum(sumv));
  for (j = 0; j < K4; j += 4) v128.store(at(row, j), f32x4.mul(v128.load(at(row, j)), inv));
}

/**
 * Kᵀ (D, kPad) from kLen key rows, zero past kLen: 4 keys × 4 values at a time, as four row loads transposed in
 * registers (8 shuffles) and four stores, where moving them one by one costs a load and a store each.
 */
function transposeKeys(kt: usize, kBase: usize, kvRow: i32, D: i32, kLen: i32, kPad: i32): void {
  const D4 = D & ~3, L4 = kLen & ~3, rs = <usize>kvRow << 2, ts = <usize>kPad << 2;
  for (let j = 0; j < L4; j += 4) {
    const r = at(kBase, j * kvRow);
    let d = 0;
    for (; d < D4; d += 4) {
      const r0 = v128.load(at(r, d)), r1 = v128.load(at(r, d) + rs), r2 = v128.load(at(r, d) + 2 * rs), r3 = v128.load(at(r, d) + 3 * rs);
      const o = at(kt, d * kPad + j);
      v128.store(o, column4(0, r0, r1, r2, r3));
      v128.store(o + ts, column4(1, r0, r1, r2, r3));
      v128.store(o + 2 * ts, column4(2, r0, r1, r2, r3));
      v128.store(o + 3 * ts, column4(3, r0, r1, r2, r3));
    }
    for (; d < D; d++) for (let c = 0; c < 4; c++) store<f32>(at(kt, d * kPad + j + c), load<f32>(at(kBase, (j + c) * kvRow + d)));
  }
  for (let j = L4; j < kPad; j++) {
    if (j < kLen) for (let d = 0; d < D; d++) store<f32>(at(kt, d * kPad + j), load<f32>(at(kBase, j * kvRow + d)));
    else for (let d = 0; d < D; d++) store<f32>(at(kt, d * kPad + j), 0);
  }
}

/** Floats of scratch one (batch, head) unit needs: Kᵀ (headDim × padded keys) and two rows of scores. */
// @ts-ignore: decorator
@inline function unitScratch(D: i32, kLen: i32): i32 {
  const kPad = (kLen + 15) & ~15;
  return (D + 2) * kPad;
}

export function attention(
  out: usize, q: usize, k: usize, v: usize, keyMask: usize, positionBias: usize, probs: usize, scratch: usize,
  H: i32, D: i32, qLen: i32, kLen: i32, qRow: i32, kvRow: i32, outRow: i32, qBatch: i32, kvBatch: i32, outBatch: i32,
  hs: i32, biasBatch: i32, scale: f32, causal: i32, fill: f32, unitStart: i32, unitEnd: i32,
  group: i32, window: i32, cap: f32, maskStride: i32, maskOffset: i32,
): void {
  // Every per-key number below is computed the same way whatever kLen is (vectors of 4 keys, lanes past the
  // end forced to zero), so a text gets bit-identical results in any batch, however much padding it has:
  // that is what makes a resumed job's output equal to an uninterrupted one.
  const kPad = (kLen + 15) & ~15;
  for (let u = unitStart; u < unitEnd; u++) {
    const b = u / H;
    const h = u % H;
    // grouped-query attention: consecutive query heads share a key/value head
    const kBase = at(k, b * kvBatch + (h / group) * hs);
    const vBase = at(v, b * kvBatch + (h / group) * hs);
    // Kᵀ (D, kPad) in this unit's scratch, zero-padded: scores then come out four keys per vector, no
    // horizontal sums, and every key is read from its strided row once per unit instead of once per query.
    // A few queries (decoding: one new token against the whole cache) do not repay the transpose; they gather
    // four keys per vector instead, with the same arithmetic (a sequential fused multiply-add over d per lane).
    const transpose = qLen >= 4;
    const kt = at(scratch, u * unitScratch(D, kLen));
    const rows = at(kt, D * kPad);
    if (transpose) transposeKeys(kt, kBase, kvRow, D, kLen, kPad);
    const maskRow = keyMask ? at(keyMask, b * maskStride + maskOffset) : 0;
    for (let i = 0; i < qLen; ) {
      const pair = transpose && i + 1 < qLen;
      const qi = at(q, b * qBatch + i * qRow + h * hs);
      const ra = rows, rb = pair ? at(rows, kPad) : rows;
      const n = pair ? 2 : 1;
      // a causal query scores only the keys it sees: softmaxRow masks the rest whatever the row holds there
      const seen = causal ? min(kLen, max(0, kLen - qLen + i + n)) : kLen;
      if (transpose) scorePair(ra, rb, qi, pair ? at(qi, qRow) : qi, kt, D, kPad, min(kPad, (seen + 15) & ~15));
      else scoresGather(ra, qi, kBase, kvRow, D, kLen);
      for (let r = 0; r < n; r++) {
        const row = r ? rb : ra;
        const biasRow = positionBias ? at(positionBias, b * biasBatch + (h * qLen + i + r) * kLen) : 0;
        const visible = causal ? kLen - qLen + i + r + 1 : kLen;
        softmaxRow(row, biasRow, maskRow, kLen, causal && window > 0 ? visible - window : 0, visible, scale, cap, fill);
        if (probs) {
          const pr = at(probs, ((b * H + h) * qLen + i + r) * kLen);
          for (let j = 0; j < kLen; j++) store<f32>(at(pr, j), load<f32>(at(row, j)));
        }
      }
      const oi = at(out, b * outBatch + i * outRow + h * hs);
      if (pair) weightedSumPair(oi, at(oi, outRow), ra, rb, vBase, kvRow, kLen, D);
      else weightedSumOne(oi, ra, vBase, kvRow, kLen, D);
      i += n;
    }
  }
}

// ---- rotary position embedding in place: pairs (i, i + rotaryDim/2) of each head; see ../src/rope.ts ----

export function rope(x: usize, cos: usize, sin: usize, heads: i32, headDim: i32, rotaryDim: i32, rowStride: i32, rowStart: i32, rowEnd: i32): void {
  const half = rotaryDim >> 1;
  const half4 = half & ~3;
  for (let r = rowStart; r < rowEnd; r++) {
    const cr = at(cos, r * half), sr = at(sin, r * half);
    for (let h = 0; h < heads; h++) {
      const a = at(x, r * rowStride + h * headDim), b = at(a, half);
      for (let i = 0; i < half4; i += 4) {
        const c = v128.load(at(cr, i)), s = v128.load(at(sr, i));
        const x1 = v128.load(at(a, i)), x2 = v128.load(at(b, i));
        v128.store(at(a, i), f32x4.sub(f32x4.mul(x1, c), f32x4.mul(x2, s)));
        v128.store(at(b, i), f32x4.add(f32x4.mul(x2, c), f32x4.mul(x1, s)));
      }
      for (let i = half4; i < half; i++) {
        const c = load<f32>(at(cr, i)), s = load<f32>(at(sr, i));
        const x1 = load<f32>(at(a, i)), x2 = load<f32>(at(b, i));
        store<f32>(at(a, i), x1 * c - x2 * s);
        store<f32>(at(b, i), x2 * c + x1 * s);
      }
    }
  }
}
