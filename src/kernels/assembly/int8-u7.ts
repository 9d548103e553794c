/**
 * @module
 * The relaxed-SIMD builds' int8 layer: 6-bit activations times int8 weights, 16 products per i8×i7 relaxed dot,
 * blocked like a GEMM (4 weight rows × 2 activation rows per step, so each loaded vector feeds 2 or 4 dot
 * products, and every pointer steps on its own so that loads need no address arithmetic). Only compiled into
 * the relaxed builds (kernels.ts calls it behind `ASC_FEATURE_RELAXED_SIMD`); not the plain build's int16 path.
 */

import { SHARE_COLS, SHARE_ROWS, takeIndex, takeShare } from './shares';

// With byte activations a lane gains at most 4·63·128 per 16-column block: 4096 blocks stay far below 2^31.
const U7_CHUNK: i32 = 4096;
/**
 * Largest quantized activation: 6 bits (2^6 − 1), not the 7 the i7 operand allows, so that two blocks' i16 pair
 * sums can be added before widening (see `pairDot`). 7 bits measured no more accurate on the default model
 * (99.06-99.07% either way) and 10-15% slower.
 */
const U7_TOP: i32 = 63;

/**
 * Bytes of scratch `linearU7Columns` needs for m rows of k: the quantized rows (k padded to 16), each row's list
 * of nonzero 16-column blocks and its scale, zero point and count, the same lists for each pair of rows (the
 * union of the two), a 32-byte slot for results, and alignment.
 */
export function u7ScratchBytes(m: i32, k: i32): i32 {
  const blocks = (k + 15) >> 4;
  return m * (blocks << 4) + m * (blocks * 4 + 16) + (m >> 1) * (blocks * 4 + 4) + 64;
}

/**
 * Columns [j0, j1) of y[m×n] = (x · qᵀ) ⊙ scale + bias with q int8 [n×k], optionally through LeakyReLU.
 * Each row of x is quantized once to 6-bit unsigned with scale s and zero point z (x ≈ s·(x_q − z),
 * x_q in [0, 63]); y_j = scale_j·s·(Σ q_jk·x_q,k − z·Σ_k q_jk) + bias_j, the correction z·Σ_k q_jk taken in
 * exact integers before the one conversion to float. The row sums Σ_k q_jk come from `rowSums` (f32, exact) or,
 * when it is 0, are summed here for each block of 4 weight rows. 16-column blocks of x that are all zero (for a
 * pair of rows: in both) are skipped through a list: an image's blank margins. The 16-byte reads past a weight
 * row's end are multiplied by zero padding (the allocator keeps slack).
 */
export function linearU7Columns(
  m: i32,
  n: i32,
  k: i32,
  x: usize,
  q: usize,
  scale: usize,
  bias: usize,
  rowSums: usize,
  y: usize,
  scratch: usize,
  j0: i32,
  j1: i32,
  leaky: bool,
  slope: f32,
  counter: usize = 0,
): void {
  const kp = (k + 15) & ~15;
  const blocks = kp >> 4;
  const pairs = m >> 1;
  const xq = scratch;
  // Per row i: the byte offsets of its 16-column blocks that are not all zero (i32) at lists + 4·blocks·i, and
  // at meta + 16i the f32 scale, i32 zero point and i32 count of those blocks; per pair of rows the same list
  // of the blocks nonzero in either, and its count.
  const lists = (xq + <usize>m * kp + 15) & ~15;
  const meta = lists + ((<usize>m * blocks) << 2);
  const pairLists = meta + ((<usize>m) << 4);
  const pairCounts = pairLists + ((<usize>pairs * blocks) << 2);
  // dot4x2's two results (it cannot return two vectors): in the task's scratch, so one slot per thread.
  const slot = (pairCounts + ((<usize>pairs) << 2) + 15) & ~15;
  let zeroPoints = false;
  for (let i = 0; i < m; i++) {
    const mi = meta + ((<usize>i) << 4);
    quantizeRowU7(
      x + ((<usize>i * k) << 2),
      k,
      kp,
      xq + <usize>i * kp,
      mi,
      lists + ((<usize>i * blocks) << 2),
    );
    if (load<i32>(mi, 4) != 0) zeroPoints = true;
  }
  for (let r = 0; r < pairs; r++) {
    const count = listPair(xq + <usize>(2 * r) * kp, kp, pairLists + ((<usize>r * blocks) << 2));
    store<i32>(pairCounts + ((<usize>r) << 2), count);
  }
  const dense = blocks;
  const slopes = f32x4.splat(leaky ? slope : 1);
  // With a counter, the activations quantized above serve every share this thread takes of [j0, j1).
  let share = counter ? takeShare(counter, j0) : j0;
  let shareEnd = counter ? min(j1, share + SHARE_COLS) : j1;
  for (;;) {
    for (let j = share; j < shareEnd; j += 4) {
      // A last block of fewer than 4 columns repeats its last weight row; only its valid columns are stored.
      const cols = min(4, shareEnd - j);
      const q0 = q + <usize>j * k;
      const q1 = cols > 1 ? q0 + k : q0;
      const q2 = cols > 2 ? q1 + k : q1;
      const q3 = cols > 3 ? q2 + k : q2;
      const sc = loadColumns(scale, j, cols);
      const bi = loadColumns(bias, j, cols);
      let sums = i32x4.splat(0);
      if (zeroPoints) {
        if (rowSums) sums = i32x4.relaxed_trunc_f32x4_s(loadColumns(rowSums, j, cols));
        else {
          sums = i32x4.replace_lane(i32x4.splat(rowSum(q0, k)), 1, rowSum(q1, k));
          sums = i32x4.replace_lane(i32x4.replace_lane(sums, 2, rowSum(q2, k)), 3, rowSum(q3, k));
        }
      }
      for (let r = 0; r < pairs; r++) {
        const i = 2 * r;
        const ma = meta + ((<usize>i) << 4);
        const mb = ma + 16;
        const xa = xq + <usize>i * kp;
        const count = load<i32>(pairCounts + ((<usize>r) << 2));
        const list = pairLists + ((<usize>r * blocks) << 2);
        const za = i32x4.mul(sums, i32x4.splat(load<i32>(ma, 4)));
        const zb = i32x4.mul(sums, i32x4.splat(load<i32>(mb, 4)));
        const out = y + ((<usize>i * n + j) << 2);
        const both = dot4x2(count, count == dense, list, xa, xa + <usize>kp, q0, q1, q2, q3, za, zb, slot);
        store4(out, cols, finish(load<v128>(both), load<f32>(ma), sc, bi, leaky, slopes));
        store4(
          out + ((<usize>n) << 2),
          cols,
          finish(load<v128>(both, 16), load<f32>(mb), sc, bi, leaky, slopes),
        );
      }
      if (m & 1) {
        const i = m - 1;
        const mi = meta + ((<usize>i) << 4);
        const count = load<i32>(mi, 8);
        const z = i32x4.mul(sums, i32x4.splat(load<i32>(mi, 4)));
        const list = lists + ((<usize>i * blocks) << 2);
        const xi = xq + <usize>i * kp;
        const s =
          count == dense && blocks <= U7_CHUNK
            ? dense4x1(kp, xi, q0, q1, q2, q3, z)
            : dot4x1(count, count == dense, list, xi, q0, q1, q2, q3, z);
        store4(y + ((<usize>i * n + j) << 2), cols, finish(s, load<f32>(mi), sc, bi, leaky, slopes));
      }
    }
    if (!counter) break;
    share = takeShare(counter, j0);
    if (share >= j1) break;
    shareEnd = min(j1, share + SHARE_COLS);
  }
}

// y = s·d ⊙ scale + bias, through LeakyReLU when `leaky` (slopes then holds the slope in every lane).
function finish(d: v128, s: f32, sc: v128, bi: v128, leaky: bool, slopes: v128): v128 {
  const r = f32x4.add(f32x4.mul(f32x4.mul(d, f32x4.splat(s)), sc), bi);
  if (!leaky) return r;
  return v128.bitselect(r, f32x4.mul(r, slopes), f32x4.gt(r, f32x4.splat(0)));
}

// The 4 floats at columns [j, j + cols) of `at` (cols ≤ 4), the last one repeated past cols.
function loadColumns(at: usize, j: i32, cols: i32): v128 {
  const p = at + ((<usize>j) << 2);
  if (cols == 4) return v128.load(p);
  let v = f32x4.splat(load<f32>(p));
  v = f32x4.replace_lane(v, 1, load<f32>(p + ((<usize>min(1, cols - 1)) << 2)));
  v = f32x4.replace_lane(v, 2, load<f32>(p + ((<usize>min(2, cols - 1)) << 2)));
  return f32x4.replace_lane(v, 3, load<f32>(p + ((<usize>min(3, cols - 1)) << 2)));
}

// Stores the first `cols` lanes of v at out.
function store4(out: usize, cols: i32, v: v128): void {
  if (cols == 4) {
    v128.store(out, v);
    return;
  }
  store<f32>(out, f32x4.extract_lane(v, 0));
  if (cols > 1) store<f32>(out, f32x4.extract_lane(v, 1), 4);
  if (cols > 2) store<f32>(out, f32x4.extract_lane(v, 2), 8);
}

// The 4 lane sums of a0..a3 as one vector [Σa0, Σa1, Σa2, Σa3].
function reduce4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const t0 = i32x4.add(v128.shuffle<i32>(a0, a1, 0, 4, 1, 5), v128.shuffle<i32>(a0, a1, 2, 6, 3, 7));
  const t1 = i32x4.add(v128.shuffle<i32>(a2, a3, 0, 4, 1, 5), v128.shuffle<i32>(a2, a3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), v128.shuffle<i32>(t0, t1, 2, 3, 6, 7));
}

/**
 * The i32 pair sums of two blocks' products w·x + w2·x2, widened once: pmaddubsw twice, one i16 add, one
 * pmaddwd (with a splat of ones: V8 keeps it in a register or reads it from the stack, where
 * `extadd_pairwise` reloads a constant's address each time). Spelled with `relaxed_dot_i8x16_i7x16_s` (not the fused `…_add_s`) because Node 20's V8 (11.3) gets
 * the fused form wrong: it returns twice the dot product and drops acc. Safe because activations stop at
 * U7_TOP = 63: a pair sum is at most 2·63·128 = 16128, two of them 32256 < 2^15.
 */
function pairDot(w: v128, x: v128, w2: v128, x2: v128): v128 {
  const pairs = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(w, x), i16x8.relaxed_dot_i8x16_i7x16_s(w2, x2));
  return i32x4.dot_i16x8_s(pairs, i16x8.splat(1));
}

// One block's products w·x widened to i32 pair sums.
function blockDot(w: v128, x: v128): v128 {
  return i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(w, x), i16x8.splat(1));
}

/**
 * Σ_k q_r,k·x_k for 4 weight rows and 2 quantized activation rows xa, xb over their `count` shared nonzero
 * blocks (all of them, contiguous, when `dense`; else the byte offsets in `list`), minus the zero-point
 * corrections za, zb (exact, in i32), as two f32x4 at `out` (row a, then row b).
 */
function dot4x2(
  count: i32,
  dense: bool,
  list: usize,
  xa: usize,
  xb: usize,
  q0: usize,
  q1: usize,
  q2: usize,
  q3: usize,
  za: v128,
  zb: v128,
  out: usize,
): usize {
  let ta = f32x4.splat(0);
  let tb = f32x4.splat(0);
  let c0 = 0;
  do {
    const end = min(count, c0 + U7_CHUNK);
    let a0 = i32x4.splat(0);
    let a1 = i32x4.splat(0);
    let a2 = i32x4.splat(0);
    let a3 = i32x4.splat(0);
    let b0 = i32x4.splat(0);
    let b1 = i32x4.splat(0);
    let b2 = i32x4.splat(0);
    let b3 = i32x4.splat(0);
    let c = c0;
    if (dense) {
      const start = (<usize>c0) << 4;
      let pa = xa + start;
      let pb = xb + start;
      let w0 = q0 + start;
      let w1 = q1 + start;
      let w2 = q2 + start;
      let w3 = q3 + start;
      for (; c + 1 < end; c += 2) {
        const x0 = v128.load(pa);
        const x1 = v128.load(pa, 16);
        const y0 = v128.load(pb);
        const y1 = v128.load(pb, 16);
        let u = v128.load(w0);
        let v = v128.load(w0, 16);
        a0 = i32x4.add(a0, pairDot(u, x0, v, x1));
        b0 = i32x4.add(b0, pairDot(u, y0, v, y1));
        u = v128.load(w1);
        v = v128.load(w1, 16);
        a1 = i32x4.add(a1, pairDot(u, x0, v, x1));
        b1 = i32x4.add(b1, pairDot(u, y0, v, y1));
        u = v128.load(w2);
        v = v128.load(w2, 16);
        a2 = i32x4.add(a2, pairDot(u, x0, v, x1));
        b2 = i32x4.add(b2, pairDot(u, y0, v, y1));
        u = v128.load(w3);
        v = v128.load(w3, 16);
        a3 = i32x4.add(a3, pairDot(u, x0, v, x1));
        b3 = i32x4.add(b3, pairDot(u, y0, v, y1));
        pa += 32;
        pb += 32;
        w0 += 32;
        w1 += 32;
        w2 += 32;
        w3 += 32;
      }
      if (c < end) {
        const x0 = v128.load(pa);
        const y0 = v128.load(pb);
        let u = v128.load(w0);
        a0 = i32x4.add(a0, blockDot(u, x0));
        b0 = i32x4.add(b0, blockDot(u, y0));
        u = v128.load(w1);
        a1 = i32x4.add(a1, blockDot(u, x0));
        b1 = i32x4.add(b1, blockDot(u, y0));
        u = v128.load(w2);
        a2 = i32x4.add(a2, blockDot(u, x0));
        b2 = i32x4.add(b2, blockDot(u, y0));
        u = v128.load(w3);
        a3 = i32x4.add(a3, blockDot(u, x0));
        b3 = i32x4.add(b3, blockDot(u, y0));
      }
    } else {
      let at = list + ((<usize>c0) << 2);
      for (; c + 1 < end; c += 2) {
        const p = <usize>load<i32>(at);
        const r = <usize>load<i32>(at, 4);
        const x0 = v128.load(xa + p);
        const x1 = v128.load(xa + r);
        const y0 = v128.load(xb + p);
        const y1 = v128.load(xb + r);
        let u = v128.load(q0 + p);
        let v = v128.load(q0 + r);
        a0 = i32x4.add(a0, pairDot(u, x0, v, x1));
        b0 = i32x4.add(b0, pairDot(u, y0, v, y1));
        u = v128.load(q1 + p);
        v = v128.load(q1 + r);
        a1 = i32x4.add(a1, pairDot(u, x0, v, x1));
        b1 = i32x4.add(b1, pairDot(u, y0, v, y1));
        u = v128.load(q2 + p);
        v = v128.load(q2 + r);
        a2 = i32x4.add(a2, pairDot(u, x0, v, x1));
        b2 = i32x4.add(b2, pairDot(u, y0, v, y1));
        u = v128.load(q3 + p);
        v = v128.load(q3 + r);
        a3 = i32x4.add(a3, pairDot(u, x0, v, x1));
        b3 = i32x4.add(b3, pairDot(u, y0, v, y1));
        at += 8;
      }
      if (c < end) {
        const p = <usize>load<i32>(at);
        const x0 = v128.load(xa + p);
        const y0 = v128.load(xb + p);
        let u = v128.load(q0 + p);
        a0 = i32x4.add(a0, blockDot(u, x0));
        b0 = i32x4.add(b0, blockDot(u, y0));
        u = v128.load(q1 + p);
        a1 = i32x4.add(a1, blockDot(u, x0));
        b1 = i32x4.add(b1, blockDot(u, y0));
        u = v128.load(q2 + p);
        a2 = i32x4.add(a2, blockDot(u, x0));
        b2 = i32x4.add(b2, blockDot(u, y0));
        u = v128.load(q3 + p);
        a3 = i32x4.add(a3, blockDot(u, x0));
        b3 = i32x4.add(b3, blockDot(u, y0));
      }
    }
    let sa = reduce4(a0, a1, a2, a3);
    let sb = reduce4(b0, b1, b2, b3);
    if (c0 == 0) {
      sa = i32x4.sub(sa, za);
      sb = i32x4.sub(sb, zb);
    }
    ta = f32x4.add(ta, f32x4.convert_i32x4_s(sa));
    tb = f32x4.add(tb, f32x4.convert_i32x4_s(sb));
    c0 += U7_CHUNK;
  } while (c0 < count);
  v128.store(out, ta);
  v128.store(out, tb, 16);
  return out;
}

/** dot4x2 for one activation row: the 4 results as f32x4. */
function dot4x1(
  count: i32,
  dense: bool,
  list: usize,
  xa: usize,
  q0: usize,
  q1: usize,
  q2: usize,
  q3: usize,
  za: v128,
): v128 {
  let ta = f32x4.splat(0);
  let c0 = 0;
  do {
    const end = min(count, c0 + U7_CHUNK);
    let a0 = i32x4.splat(0);
    let a1 = i32x4.splat(0);
    let a2 = i32x4.splat(0);
    let a3 = i32x4.splat(0);
    let c = c0;
    if (dense) {
      const start = (<usize>c0) << 4;
      let pa = xa + start;
      let w0 = q0 + start;
      let w1 = q1 + start;
      let w2 = q2 + start;
      let w3 = q3 + start;
      for (; c + 1 < end; c += 2) {
        const x0 = v128.load(pa);
        const x1 = v128.load(pa, 16);
        a0 = i32x4.add(a0, pairDot(v128.load(w0), x0, v128.load(w0, 16), x1));
        a1 = i32x4.add(a1, pairDot(v128.load(w1), x0, v128.load(w1, 16), x1));
        a2 = i32x4.add(a2, pairDot(v128.load(w2), x0, v128.load(w2, 16), x1));
        a3 = i32x4.add(a3, pairDot(v128.load(w3), x0, v128.load(w3, 16), x1));
        pa += 32;
        w0 += 32;
        w1 += 32;
        w2 += 32;
        w3 += 32;
      }
      if (c < end) {
        const x0 = v128.load(pa);
        a0 = i32x4.add(a0, blockDot(v128.load(w0), x0));
        a1 = i32x4.add(a1, blockDot(v128.load(w1), x0));
        a2 = i32x4.add(a2, blockDot(v128.load(w2), x0));
        a3 = i32x4.add(a3, blockDot(v128.load(w3), x0));
      }
    } else {
      let at = list + ((<usize>c0) << 2);
      for (; c + 1 < end; c += 2) {
        const p = <usize>load<i32>(at);
        const r = <usize>load<i32>(at, 4);
        const x0 = v128.load(xa + p);
        const x1 = v128.load(xa + r);
        a0 = i32x4.add(a0, pairDot(v128.load(q0 + p), x0, v128.load(q0 + r), x1));
        a1 = i32x4.add(a1, pairDot(v128.load(q1 + p), x0, v128.load(q1 + r), x1));
        a2 = i32x4.add(a2, pairDot(v128.load(q2 + p), x0, v128.load(q2 + r), x1));
        a3 = i32x4.add(a3, pairDot(v128.load(q3 + p), x0, v128.load(q3 + r), x1));
        at += 8;
      }
      if (c < end) {
        const p = <usize>load<i32>(at);
        const x0 = v128.load(xa + p);
        a0 = i32x4.add(a0, blockDot(v128.load(q0 + p), x0));
        a1 = i32x4.add(a1, blockDot(v128.load(q1 + p), x0));
        a2 = i32x4.add(a2, blockDot(v128.load(q2 + p), x0));
        a3 = i32x4.add(a3, blockDot(v128.load(q3 + p), x0));
      }
    }
    let sa = reduce4(a0, a1, a2, a3);
    if (c0 == 0) sa = i32x4.sub(sa, za);
    ta = f32x4.add(ta, f32x4.convert_i32x4_s(sa));
    c0 += U7_CHUNK;
  } while (c0 < count);
  return ta;
}

/**
 * dot4x1 over all kp columns of a dense row (at most U7_CHUNK blocks): one image's hidden layers. One plain
 * loop, without dot4x1's list and chunks, which V8 compiled with an accumulator spilled: 1.08x on 1024→512.
 */
function dense4x1(kp: i32, xa: usize, q0: usize, q1: usize, q2: usize, q3: usize, za: v128): v128 {
  let a0 = i32x4.splat(0);
  let a1 = i32x4.splat(0);
  let a2 = i32x4.splat(0);
  let a3 = i32x4.splat(0);
  let pa = xa;
  const end = xa + ((<usize>kp) & ~31);
  let w0 = q0;
  let w1 = q1;
  let w2 = q2;
  let w3 = q3;
  while (pa < end) {
    const x0 = v128.load(pa);
    const x1 = v128.load(pa, 16);
    a0 = i32x4.add(a0, pairDot(v128.load(w0), x0, v128.load(w0, 16), x1));
    a1 = i32x4.add(a1, pairDot(v128.load(w1), x0, v128.load(w1, 16), x1));
    a2 = i32x4.add(a2, pairDot(v128.load(w2), x0, v128.load(w2, 16), x1));
    a3 = i32x4.add(a3, pairDot(v128.load(w3), x0, v128.load(w3, 16), x1));
    pa += 32;
    w0 += 32;
    w1 += 32;
    w2 += 32;
    w3 += 32;
  }
  if (kp & 16) {
    const x0 = v128.load(pa);
    a0 = i32x4.add(a0, blockDot(v128.load(w0), x0));
    a1 = i32x4.add(a1, blockDot(v128.load(w1), x0));
    a2 = i32x4.add(a2, blockDot(v128.load(w2), x0));
    a3 = i32x4.add(a3, blockDot(v128.load(w3), x0));
  }
  return f32x4.convert_i32x4_s(i32x4.sub(reduce4(a0, a1, a2, a3), za));
}

// Σ of one int8 weight row of k values (exact: |Σ| ≤ 128·k).
function rowSum(row: usize, k: i32): i32 {
  let acc = i32x4.splat(0);
  const k16 = k & ~15;
  let p = 0;
  for (; p < k16; p += 16)
    acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v128.load(row + p))));
  let s = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1);
  s += i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
  for (; p < k; p++) s += <i32>load<i8>(row + p);
  return s;
}

/**
 * The byte offsets of the 16-column blocks nonzero in either of two quantized rows (the second kp bytes after
 * the first) into `list`; returns how many, or all blocks (meaning: dense, read no list) when most are.
 */
function listPair(xa: usize, kp: i32, list: usize): i32 {
  const xb = xa + <usize>kp;
  let count = 0;
  for (let p = 0; p < kp; p += 16) {
    store<i32>(list + ((<usize>count) << 2), p);
    count += i32(v128.any_true(v128.or(v128.load(xa + <usize>p), v128.load(xb + <usize>p))));
  }
  return count * 4 > (kp >> 4) * 3 ? kp >> 4 : count;
}

/**
 * Asymmetric 6-bit quantization of one row: the range [min(0, min x), max(0, max x)] maps onto [0, U7_TOP = 63]
 * with step s and integer zero point z, x_q = clamp(round(x/s) + z, 0, 63), zero padded to kp (padding adds
 * nothing to a dot product). Each |x − s·(x_q − z)| ≤ s/2. Stores s as f32 at meta and z as i32 at meta + 4, and
 * at meta + 8 the count of 16-column blocks not all zero, whose byte offsets go to `list`. An all-zero row gets
 * s = 0, a row holding NaN or ±Infinity s = NaN (the whole row of y becomes NaN, as float math would).
 */
function quantizeRowU7(x: usize, k: i32, kp: i32, dst: usize, meta: usize, list: usize): void {
  let vmin = f32x4.splat(0);
  let vmax = f32x4.splat(0);
  // pmin/pmax are one instruction each where min/max take several (their NaN and ±0 rules); NaN is looked for
  // apart, and ±0 give the same range.
  let nan = i32x4.splat(0);
  const k4 = k & ~3;
  let p = 0;
  for (; p < k4; p += 4) {
    const v = v128.load(x + ((<usize>p) << 2));
    vmin = f32x4.pmin(vmin, v);
    vmax = f32x4.pmax(vmax, v);
    nan = v128.or(nan, f32x4.ne(v, v));
  }
  let lo = min(
    min(f32x4.extract_lane(vmin, 0), f32x4.extract_lane(vmin, 1)),
    min(f32x4.extract_lane(vmin, 2), f32x4.extract_lane(vmin, 3)),
  );
  let hi = max(
    max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)),
    max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)),
  );
  for (; p < k; p++) {
    const v = load<f32>(x + ((<usize>p) << 2));
    lo = min(lo, v);
    hi = max(hi, v);
  }
  // The scalar min/max of the tail propagate NaN; ±Infinity makes the range infinite.
  const finite = isFinite(hi - lo) && !v128.any_true(nan);
  memory.fill(dst, 0, <usize>kp);
  if (!finite || hi == lo) {
    store<f32>(meta, finite ? 0 : NaN);
    store<i32>(meta, 0, 4);
    store<i32>(meta, 0, 8);
    return;
  }
  const step: f32 = (hi - lo) / <f32>U7_TOP;
  const inv: f32 = <f32>U7_TOP / (hi - lo);
  const z: f32 = min<f32>(<f32>U7_TOP, nearest(-lo * inv));
  store<f32>(meta, step);
  store<i32>(meta, <i32>z, 4);
  const iv = f32x4.splat(inv);
  const zv = f32x4.splat(z);
  const top = i8x16.splat(<i8>U7_TOP);
  const k16 = k & ~15;
  p = 0;
  for (; p < k16; p += 16) {
    const src = x + ((<usize>p) << 2);
    const a = i32x4.relaxed_trunc_f32x4_s(f32x4.nearest(f32x4.relaxed_madd(v128.load(src), iv, zv)));
    const b = i32x4.relaxed_trunc_f32x4_s(f32x4.nearest(f32x4.relaxed_madd(v128.load(src, 16), iv, zv)));
    const c = i32x4.relaxed_trunc_f32x4_s(f32x4.nearest(f32x4.relaxed_madd(v128.load(src, 32), iv, zv)));
    const d = i32x4.relaxed_trunc_f32x4_s(f32x4.nearest(f32x4.relaxed_madd(v128.load(src, 48), iv, zv)));
    const packed = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d));
    v128.store(dst + <usize>p, i8x16.min_u(packed, top));
  }
  for (; p < k; p++) {
    const v = <i32>nearest(load<f32>(x + ((<usize>p) << 2)) * inv + z);
    store<u8>(dst + <usize>p, <u8>min(U7_TOP, max(0, v)));
  }
  // Blocks of zeros add nothing to a dot product: with z = 0 (pixels) the blank margins of an image are skipped.
  let count = 0;
  for (p = 0; p < kp; p += 16) {
    store<i32>(list + ((<usize>count) << 2), p);
    count += i32(v128.any_true(v128.load(dst + <usize>p)));
  }
  // Mostly nonzero: reading the list costs more than the few blocks it skips; count = all blocks means dense.
  store<i32>(meta, count * 4 > (kp >> 4) * 3 ? kp >> 4 : count, 8);
}

/**
 * Bytes of scratch `linearU7PairRows` needs for rows of k inputs and `width` outputs: one quantized row with its
 * meta and block list, the list of its nonzero input pairs, and the row's i32 accumulators.
 */
export function u7PairRowsScratchBytes(k: i32, width: i32): i32 {
  const kp = (k + 15) & ~15;
  return kp + 16 + (kp >> 4) * 4 + ((k + 1) >> 1) * 8 + ((width + 3) & ~3) * 4 + 64;
}

/** Adds the eight i16 lanes of p0 and p1, widened to i32, to the 16 i32 accumulators at a. */
function addWidened(a: usize, p0: v128, p1: v128): void {
  v128.store(a, i32x4.add(v128.load(a), i32x4.extend_low_i16x8_s(p0)));
  v128.store(a, i32x4.add(v128.load(a, 16), i32x4.extend_high_i16x8_s(p0)), 16);
  v128.store(a, i32x4.add(v128.load(a, 32), i32x4.extend_low_i16x8_s(p1)), 32);
  v128.store(a, i32x4.add(v128.load(a, 48), i32x4.extend_high_i16x8_s(p1)), 48);
}
/** addWidened of p0 + q0 and p1 + q1, each pair widened to i32 before it is added. */
function addWidened2(a: usize, p0: v128, p1: v128, q0: v128, q1: v128): void {
  const lo0 = i32x4.add(i32x4.extend_low_i16x8_s(p0), i32x4.extend_low_i16x8_s(q0));
  const hi0 = i32x4.add(i32x4.extend_high_i16x8_s(p0), i32x4.extend_high_i16x8_s(q0));
  const lo1 = i32x4.add(i32x4.extend_low_i16x8_s(p1), i32x4.extend_low_i16x8_s(q1));
  const hi1 = i32x4.add(i32x4.extend_high_i16x8_s(p1), i32x4.extend_high_i16x8_s(q1));
  v128.store(a, i32x4.add(v128.load(a), lo0));
  v128.store(a, i32x4.add(v128.load(a, 16), hi0), 16);
  v128.store(a, i32x4.add(v128.load(a, 32), lo1), 32);
  v128.store(a, i32x4.add(v128.load(a, 48), hi1), 48);
}
/**
 * `linearU7Columns` with the weights laid out in input pairs (`int8PairRows`): qt holds, for each pair of inputs
 * (2p, 2p+1), the n outputs' two weights side by side, so one pmaddubsw multiplies 8 outputs by both inputs of
 * the pair. Row by row, only the pairs with a nonzero quantized input are read (an MNIST digit: about a quarter
 * of them), each as one linear stream, two pairs per sweep over the row's i32 accumulators. Needs `rowSums`
 * when a row's zero point is not 0 (inputs below 0). The sums are the same integers as linearU7Columns'; so
 * are the results, bit for bit.
 */
export function linearU7PairRows(
  m: i32,
  n: i32,
  k: i32,
  x: usize,
  qt: usize,
  scale: usize,
  bias: usize,
  rowSums: usize,
  y: usize,
  scratch: usize,
  j0: i32,
  j1: i32,
  leaky: bool,
  slope: f32,
  counter: usize = 0,
): void {
  const kp = (k + 15) & ~15;
  const pairsK = (k + 1) >> 1;
  const width = j1 - j0;
  const xq = scratch;
  const meta = (xq + <usize>kp + 15) & ~15;
  const blockList = meta + 16;
  const list = (blockList + ((<usize>(kp >> 4)) << 2) + 15) & ~15;
  const acc = (list + ((<usize>pairsK) << 3) + 15) & ~15;
  const stride = (<usize>n) << 1;
  const base = qt + ((<usize>j0) << 1);
  const slopes = f32x4.splat(leaky ? slope : 1);
  const w16 = width & ~15;
  // With a counter, threads take SHARE_ROWS rows at a time, all of [j0, j1) each (a row is quantized once).
  let first = counter ? takeIndex(counter) * SHARE_ROWS : 0;
  let last = counter ? min(m, first + SHARE_ROWS) : m;
  for (;;) {
    for (let i = first; i < last; i++) {
      quantizeRowU7(x + ((<usize>i * k) << 2), k, kp, xq, meta, blockList);
      // The nonzero pairs: their pair-row's address and the two activations as one u16 (x_2p | x_2p+1 << 8).
      let count = 0;
      for (let p = 0; p < pairsK; p++) {
        const v = <i32>load<u16>(xq + ((<usize>p) << 1));
        const at = list + ((<usize>count) << 3);
        store<u32>(at, <u32>(base + <usize>p * stride));
        store<i32>(at, v, 4);
        count += i32(v != 0);
      }
      memory.fill(acc, 0, (<usize>width) << 2);
      let t = 0;
      // Four pairs per sweep: two i16 sums of two pairs each, widened and added before one round trip of the
      // accumulators (half the loads and stores of two sweeps of two).
      for (; t + 3 < count; t += 4) {
        const at = list + ((<usize>t) << 3);
        let r0 = <usize>load<u32>(at);
        const v0 = load<i32>(at, 4);
        let r1 = <usize>load<u32>(at, 8);
        const v1 = load<i32>(at, 12);
        let r2 = <usize>load<u32>(at, 16);
        const v2 = load<i32>(at, 20);
        let r3 = <usize>load<u32>(at, 24);
        const v3 = load<i32>(at, 28);
        const s0 = i16x8.splat(<i16>v0);
        const s1 = i16x8.splat(<i16>v1);
        const s2 = i16x8.splat(<i16>v2);
        const s3 = i16x8.splat(<i16>v3);
        let a = acc;
        const end = acc + ((<usize>w16) << 2);
        while (a < end) {
          const p0 = i16x8.add(
            i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r0), s0),
            i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r1), s1),
          );
          const p1 = i16x8.add(
            i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r0, 16), s0),
            i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r1, 16), s1),
          );
          const q0 = i16x8.add(
            i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r2), s2),
            i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r3), s3),
          );
          const q1 = i16x8.add(
            i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r2, 16), s2),
            i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r3, 16), s3),
          );
          addWidened2(a, p0, p1, q0, q1);
          r0 += 32;
          r1 += 32;
          r2 += 32;
          r3 += 32;
          a += 64;
        }
        pairTail(r0, v0, w16, width, acc);
        pairTail(r1, v1, w16, width, acc);
        pairTail(r2, v2, w16, width, acc);
        pairTail(r3, v3, w16, width, acc);
      }
      for (; t + 1 < count; t += 2) {
        const at = list + ((<usize>t) << 3);
        let r0 = <usize>load<u32>(at);
        const v0 = load<i32>(at, 4);
        let r1 = <usize>load<u32>(at, 8);
        const v1 = load<i32>(at, 12);
        const s0 = i16x8.splat(<i16>v0);
        const s1 = i16x8.splat(<i16>v1);
        let a = acc;
        const end = acc + ((<usize>w16) << 2);
        // 16 outputs per step: two pairs' products added in i16 (≤ 2·2·63·128 = 32256), then widened once.
        while (a < end) {
          const p0 = i16x8.add(
            i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r0), s0),
            i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r1), s1),
          );
          const p1 = i16x8.add(
            i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r0, 16), s0),
            i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r1, 16), s1),
          );
          addWidened(a, p0, p1);
          r0 += 32;
          r1 += 32;
          a += 64;
        }
        pairTail(r0, v0, w16, width, acc);
        pairTail(r1, v1, w16, width, acc);
      }
      if (t < count) {
        const at = list + ((<usize>t) << 3);
        let r0 = <usize>load<u32>(at);
        const v0 = load<i32>(at, 4);
        const s0 = i16x8.splat(<i16>v0);
        let a = acc;
        const end = acc + ((<usize>w16) << 2);
        while (a < end) {
          const p0 = i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r0), s0);
          const p1 = i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r0, 16), s0);
          addWidened(a, p0, p1);
          r0 += 32;
          a += 64;
        }
        pairTail(r0, v0, w16, width, acc);
      }
      // y = scale·s·(Σ − z·rowSum) + bias, 4 outputs at a time (a last group of fewer reads up to 3 accumulators
      // past the row's, inside the scratch, and stores only its valid lanes).
      const s = load<f32>(meta);
      const z = i32x4.splat(load<i32>(meta, 4));
      const zero = load<i32>(meta, 4) == 0;
      const out = y + ((<usize>i * n + j0) << 2);
      for (let o = 0; o < width; o += 4) {
        const cols = min(4, width - o);
        const j = j0 + o;
        let d = v128.load(acc + ((<usize>o) << 2));
        if (!zero) d = i32x4.sub(d, i32x4.mul(z, i32x4.relaxed_trunc_f32x4_s(loadColumns(rowSums, j, cols))));
        const r = finish(
          f32x4.convert_i32x4_s(d),
          s,
          loadColumns(scale, j, cols),
          loadColumns(bias, j, cols),
          leaky,
          slopes,
        );
        store4(out + ((<usize>o) << 2), cols, r);
      }
    }
    if (!counter) break;
    first = takeIndex(counter) * SHARE_ROWS;
    if (first >= m) break;
    last = min(m, first + SHARE_ROWS);
  }
}

// acc[o] += the pair's two products for the outputs o in [from, width) (fewer than 16) of the pair-row at r.
function pairTail(r: usize, v: i32, from: i32, width: i32, acc: usize): void {
  const xa = v & 0xff;
  const xb = v >> 8;
  for (let o = from; o < width; o++) {
    const at = r + ((<usize>(o - from)) << 1);
    const a = acc + ((<usize>o) << 2);
    store<i32>(a, load<i32>(a) + <i32>load<i8>(at) * xa + <i32>load<i8>(at, 1) * xb);
  }
}

/**
 * int8 weights q [n×k] re-laid in input pairs for `linearU7PairRows`: out[(p·n + j)·2 + e] = q[j·k + 2p + e]
 * for the ⌈k/2⌉ pairs p, 0 past k. A transpose of [n × ⌈k/2⌉] 16-bit pairs: blocks of 8 outputs × 8 pairs
 * through three rounds of interleaving shuffles (a byte at a time took ~4-6 ms cold in a fresh isolate, for the
 * 1024×784 first layer, in code not yet optimized), 32 outputs at a time so that each pair's 64 bytes are written
 * together; the outputs past a multiple of 8 and the pairs past the last whole block of 8 a byte at a time.
 */
export function packPairRows(n: i32, k: i32, q: usize, out: usize): void {
  packPairRowsRange(n, k, q, out, 0, n);
}

/**
 * `packPairRows` for the outputs [j0, j1) only, whose weight rows are at q (row j0 first): lets the caller
 * bring q in a block of rows at a time (through a scratch region, without a copy of all of q).
 */
export function packPairRowsRange(n: i32, k: i32, q: usize, out: usize, j0: i32, j1: i32): void {
  const pairs = (k + 1) >> 1;
  // Whole blocks: 8 pairs read as one v128 from each row, all within the row (2p + 16 ≤ k).
  const p8 = k >= 16 ? ((k - 16) >> 4) * 8 + 8 : 0;
  const b1 = j0 + ((j1 - j0) & ~7);
  for (let b = j0; b < b1; b += 32) {
    const e = min(b1, b + 32);
    for (let p = 0; p < p8; p += 8) {
      for (let j = b; j < e; j += 8) {
        transposePairs(q + <usize>(j - j0) * k + 2 * p, k, out + ((<usize>p * n + j) << 1), n);
      }
    }
  }
  packPairRange(n, k, q + <usize>(b1 - j0) * k, out, b1, j1, 0, pairs);
  packPairRange(n, k, q, out, j0, b1, p8, pairs);
}

// The 8×8 block of pairs at src (rows k bytes apart) into out (pair rows 2n bytes apart), transposed.
function transposePairs(src: usize, k: i32, out: usize, n: i32): void {
  const r0 = v128.load(src);
  const r1 = v128.load(src + k);
  const r2 = v128.load(src + 2 * k);
  const r3 = v128.load(src + 3 * k);
  const r4 = v128.load(src + 4 * k);
  const r5 = v128.load(src + 5 * k);
  const r6 = v128.load(src + 6 * k);
  const r7 = v128.load(src + 7 * k);
  // Rows interleaved by 16 bits, then 32, then 64: t, u, v; v_i is pair i of the 8 rows.
  const t0 = v128.shuffle<i16>(r0, r1, 0, 8, 1, 9, 2, 10, 3, 11);
  const t1 = v128.shuffle<i16>(r0, r1, 4, 12, 5, 13, 6, 14, 7, 15);
  const t2 = v128.shuffle<i16>(r2, r3, 0, 8, 1, 9, 2, 10, 3, 11);
  const t3 = v128.shuffle<i16>(r2, r3, 4, 12, 5, 13, 6, 14, 7, 15);
  const t4 = v128.shuffle<i16>(r4, r5, 0, 8, 1, 9, 2, 10, 3, 11);
  const t5 = v128.shuffle<i16>(r4, r5, 4, 12, 5, 13, 6, 14, 7, 15);
  const t6 = v128.shuffle<i16>(r6, r7, 0, 8, 1, 9, 2, 10, 3, 11);
  const t7 = v128.shuffle<i16>(r6, r7, 4, 12, 5, 13, 6, 14, 7, 15);
  const u0 = v128.shuffle<i32>(t0, t2, 0, 4, 1, 5);
  const u1 = v128.shuffle<i32>(t0, t2, 2, 6, 3, 7);
  const u2 = v128.shuffle<i32>(t1, t3, 0, 4, 1, 5);
  const u3 = v128.shuffle<i32>(t1, t3, 2, 6, 3, 7);
  const u4 = v128.shuffle<i32>(t4, t6, 0, 4, 1, 5);
  const u5 = v128.shuffle<i32>(t4, t6, 2, 6, 3, 7);
  const u6 = v128.shuffle<i32>(t5, t7, 0, 4, 1, 5);
  const u7 = v128.shuffle<i32>(t5, t7, 2, 6, 3, 7);
  const row = (<usize>n) << 1;
  v128.store(out, v128.shuffle<i64>(u0, u4, 0, 2));
  v128.store(out + row, v128.shuffle<i64>(u0, u4, 1, 3));
  v128.store(out + 2 * row, v128.shuffle<i64>(u1, u5, 0, 2));
  v128.store(out + 3 * row, v128.shuffle<i64>(u1, u5, 1, 3));
  v128.store(out + 4 * row, v128.shuffle<i64>(u2, u6, 0, 2));
  v128.store(out + 5 * row, v128.shuffle<i64>(u2, u6, 1, 3));
  v128.store(out + 6 * row, v128.shuffle<i64>(u3, u7, 0, 2));
  v128.store(out + 7 * row, v128.shuffle<i64>(u3, u7, 1, 3));
}

// packPairRows a byte at a time for the outputs [j0, j1), whose rows are at q (row j0 first), and the pairs
// [p0, p1).
function packPairRange(n: i32, k: i32, q: usize, out: usize, j0: i32, j1: i32, p0: i32, p1: i32): void {
  for (let p = p0; p < p1; p++) {
    const c = 2 * p;
    const odd = c + 1 < k;
    let o = out + ((<usize>p * n + j0) << 1);
    let src = q + c;
    for (let j = j0; j < j1; j++) {
      const lo = <u32>load<u8>(src);
      const hi = odd ? <u32>load<u8>(src, 1) : 0;
      store<u16>(o, <u16>(lo | (hi << 8)));
      o += 2;
      src += k;
    }
  }
}
