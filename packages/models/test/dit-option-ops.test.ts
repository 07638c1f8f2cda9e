// The building blocks of the DiT architecture options (RMSNorm, SwiGLU, 2-D RoPE) against float64
// closed forms written out here, on the native backend (the default engine) and on tfjs's cpu backend.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ROTARY_KERNEL, Rng, registerNativeBackend } from '@difflab/core-tensor';
import { applyRotary, qkvRotaryTables, rmsNorm, rmsNormModulate, rope2dAngles, swigluMlp } from '../src/index.js';

const reg = registerNativeBackend();
if (!reg.ok) throw new Error(`native backend unavailable: ${reg.reason}; run npm run build-native -w @difflab/core-tensor`);

const BACKENDS = ['native', 'cpu'] as const;
const EPS = 1e-6;

function expectNear(actual: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  expect(actual.length, what).toBe(want.length);
  let worst = 0, at = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(actual[i]! - want[i]!) / (tol * (1 + Math.abs(want[i]!)));
    if (!(e <= worst)) [worst, at] = [e, i];
  }
  expect(worst, `${what} element ${at}: ${actual[at]} vs ${want[at]}`).toBeLessThan(1);
}

/** Runs fn on a backend and copies out the result. */
async function on(backend: (typeof BACKENDS)[number], fn: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => fn().dataSync().slice() as Float32Array);
  expect(tf.memory().numTensors, `${backend}: tensors leaked`).toBe(before);
  return out;
}

describe('RMSNorm', () => {
  const [b, n, d] = [2, 3, 5];
  const rng = new Rng(3);
  const x = rng.uniformArray(b * n * d, -2, 2);
  const shift = rng.uniformArray(b * d, -1, 1);
  const scale = rng.uniformArray(b * d, -1, 1);

  /** x_c / sqrt(Σ_c x_c² / d + eps), row by row, in float64. */
  function rmsRef(): Float64Array {
    const y = new Float64Array(x.length);
    for (let r = 0; r < b * n; r++) {
      let ss = 0;
      for (let c = 0; c < d; c++) ss += x[r * d + c]! ** 2;
      const inv = 1 / Math.sqrt(ss / d + EPS);
      for (let c = 0; c < d; c++) y[r * d + c] = x[r * d + c]! * inv;
    }
    return y;
  }

  for (const backend of BACKENDS) {
    it(`${backend}: x / sqrt(mean(x²) + eps) with no centring, and modulate(·, shift, scale)`, async () => {
      const want = rmsRef();
      expectNear(await on(backend, () => rmsNorm(tf.tensor3d(x, [b, n, d]), EPS)), want, 1e-6, 'rmsNorm');
      // Unlike LayerNorm the row mean survives: a constant row c maps to sign(c)·|c|/sqrt(c² + eps) ≈ ±1, not 0.
      const constant = await on(backend, () => rmsNorm(tf.fill([1, 1, 4], -3), EPS));
      constant.forEach((v) => expect(v).toBeCloseTo(-3 / Math.sqrt(9 + EPS), 6));
      const mod = want.map((v, i) => {
        const g = Math.floor(i / (n * d)) * d + (i % d);
        return v * (1 + scale[g]!) + shift[g]!;
      });
      const got = await on(backend, () =>
        rmsNormModulate(tf.tensor3d(x, [b, n, d]), tf.tensor3d(shift, [b, 1, d]), tf.tensor3d(scale, [b, 1, d]), EPS),
      );
      expectNear(got, mod, 1e-6, 'rmsNormModulate');
    });
  }

  it('gradient of Σ w·rmsNorm(x) matches float64 central differences (native)', async () => {
    const w = new Rng(4).normalArray(x.length);
    const loss = (xs: Float64Array) => {
      let s = 0;
      for (let r = 0; r < b * n; r++) {
        let ss = 0;
        for (let c = 0; c < d; c++) ss += xs[r * d + c]! ** 2;
        const inv = 1 / Math.sqrt(ss / d + EPS);
        for (let c = 0; c < d; c++) s += w[r * d + c]! * xs[r * d + c]! * inv;
      }
      return s;
    };
    const x64 = Float64Array.from(x);
    const fd = x64.map((v, i) => {
      const h = 1e-6;
      x64[i] = v + h;
      const up = loss(x64);
      x64[i] = v - h;
      const down = loss(x64);
      x64[i] = v;
      return (up - down) / (2 * h);
    });
    const got = await on('native', () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(rmsNorm(t, EPS), tf.tensor3d(w, [b, n, d]))))(tf.tensor3d(x, [b, n, d])));
    expectNear(got, fd, 1e-4, 'd/dx');
  });
});

describe('SwiGLU', () => {
  const [rows, d, h] = [4, 3, 2];
  const rng = new Rng(5);
  const x = rng.uniformArray(rows * d, -2, 2);
  const w1 = rng.uniformArray(d * h, -1, 1), b1 = rng.uniformArray(h, -1, 1);
  const w2 = rng.uniformArray(d * h, -1, 1), b2 = rng.uniformArray(h, -1, 1);
  const w3 = rng.uniformArray(h * d, -1, 1), b3 = rng.uniformArray(d, -1, 1);

  for (const backend of BACKENDS) {
    it(`${backend}: w3(silu(w1·x) ⊙ w2·x) with [in, out] weights and biases`, async () => {
      const want = new Float64Array(rows * d);
      for (let r = 0; r < rows; r++) {
        const hidden = Array.from({ length: h }, (_, k) => {
          let a = b1[k]!, g = b2[k]!;
          for (let c = 0; c < d; c++) {
            a += x[r * d + c]! * w1[c * h + k]!;
            g += x[r * d + c]! * w2[c * h + k]!;
          }
          return (a / (1 + Math.exp(-a))) * g;
        });
        for (let c = 0; c < d; c++) want[r * d + c] = b3[c]! + hidden.reduce((s, v, k) => s + v * w3[k * d + c]!, 0);
      }
      const got = await on(backend, () =>
        swigluMlp(
          tf.tensor3d(x, [2, rows / 2, d]),
          { weight: tf.tensor2d(w1, [d, h]), bias: tf.tensor1d(b1) },
          { weight: tf.tensor2d(w2, [d, h]), bias: tf.tensor1d(b2) },
          { weight: tf.tensor2d(w3, [h, d]), bias: tf.tensor1d(b3) },
        ),
      );
      expectNear(got, want, 1e-5, 'swiglu');
    });
  }
});

describe('2-D RoPE', () => {
  it('angles: first half of the head turns with the row, second half with the column, ω_p = 10000^(−4p/hd)', () => {
    // hd = 8 → 2 pairs per axis, ω = [1, 10000^(−1/2) = 0.01]. Grid 3: token 5 is row 1, column 2.
    const a = rope2dAngles(8, 3);
    expect(a.length).toBe(9 * 4);
    expect(Array.from(a.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    const t5 = Array.from(a.subarray(5 * 4, 6 * 4));
    [1, 0.01, 2, 0.02].forEach((v, i) => expect(t5[i]).toBeCloseTo(v, 15));
  });

  const [d, heads, grid] = [16, 2, 3];
  const hd = d / heads;
  const n = grid * grid;
  const tables = qkvRotaryTables(d, heads, grid);
  const rotate = (qkv: Float32Array, b: number, extra = 0) => {
    const t = extra ? qkvRotaryTables(d, heads, grid, extra) : tables;
    return () => applyRotary(tf.tensor3d(qkv, [b, n + extra, 3 * d]), tf.tensor2d(t.cos, [t.tokens, t.pairs]), tf.tensor2d(t.sin, [t.tokens, t.pairs]));
  };

  /** EVA-02's formula written from its definition: x·cos + rotate_half(x)·sin on interleaved pairs, float64. */
  function evaRef(qkv: Float32Array, b: number): Float64Array {
    const out = Float64Array.from(qkv);
    for (let bi = 0; bi < b; bi++) {
      for (let t = 0; t < n; t++) {
        const [row, col] = [Math.floor(t / grid), t % grid];
        for (let part = 0; part < 2; part++) {
          for (let h = 0; h < heads; h++) {
            const base = (bi * n + t) * 3 * d + part * d + h * hd;
            for (let c = 0; c < hd; c++) {
              const half = c < hd / 2 ? 0 : 1; // channel c's half: row or column
              const k = Math.floor((c % (hd / 2)) / 2); // its frequency index
              const angle = (half === 0 ? row : col) * Math.pow(10000, -(2 * k) / (hd / 2));
              const partner = c % 2 === 0 ? -qkv[base + c + 1]! : qkv[base + c - 1]!; // rotate_half
              out[base + c] = qkv[base + c]! * Math.cos(angle) + partner * Math.sin(angle);
            }
          }
        }
      }
    }
    return out;
  }

  for (const backend of BACKENDS) {
    it(`${backend}: rotates q and k of every head as EVA-02's formula, leaves v and position 0 untouched, keeps norms`, async () => {
      const b = 2;
      const qkv = new Rng(8).uniformArray(b * n * 3 * d, -2, 2);
      const got = await on(backend, rotate(qkv, b));
      expectNear(got, evaRef(qkv, b), 1e-6, 'rope');
      for (let bi = 0; bi < b; bi++) {
        // Token 0 sits at row 0, column 0: every angle is 0, the rotation is exactly the identity.
        const t0 = (bi * n) * 3 * d;
        expect(Array.from(got.subarray(t0, t0 + 3 * d))).toEqual(Array.from(qkv.subarray(t0, t0 + 3 * d)));
        for (let t = 0; t < n; t++) {
          const base = (bi * n + t) * 3 * d;
          // v is not rotated
          expect(Array.from(got.subarray(base + 2 * d, base + 3 * d))).toEqual(Array.from(qkv.subarray(base + 2 * d, base + 3 * d)));
          // each (q or k, head) vector keeps its length, and so does each rotated pair
          for (let v = 0; v < 2 * heads; v++) {
            const norm = (a: Float32Array) => Math.hypot(...a.subarray(base + v * hd, base + (v + 1) * hd));
            expect(norm(got)).toBeCloseTo(norm(qkv), 5);
          }
          for (let c = 0; c < 2 * d; c += 2) {
            expect(Math.hypot(got[base + c]!, got[base + c + 1]!)).toBeCloseTo(Math.hypot(qkv[base + c]!, qkv[base + c + 1]!), 5);
          }
        }
      }
    });
  }

  it('attention scores depend only on the relative position (2-D shift invariance), native', async () => {
    // Every token carries the same q and k content; after RoPE the score q_m·k_n per head must be a
    // function of (row_m − row_n, col_m − col_n) only.
    const rng = new Rng(11);
    const q = rng.uniformArray(d, -1, 1), k = rng.uniformArray(d, -1, 1);
    const qkv = new Float32Array(n * 3 * d);
    for (let t = 0; t < n; t++) {
      qkv.set(q, t * 3 * d);
      qkv.set(k, t * 3 * d + d);
    }
    const r = await on('native', rotate(qkv, 1));
    const seen = new Map<string, number[]>();
    for (let m = 0; m < n; m++) {
      for (let nn = 0; nn < n; nn++) {
        for (let h = 0; h < heads; h++) {
          let s = 0;
          for (let c = 0; c < hd; c++) s += r[m * 3 * d + h * hd + c]! * r[nn * 3 * d + d + h * hd + c]!;
          const key = `${h}:${Math.floor(m / grid) - Math.floor(nn / grid)},${(m % grid) - (nn % grid)}`;
          seen.set(key, [...(seen.get(key) ?? []), s]);
        }
      }
    }
    let spreadWithin = 0;
    for (const scores of seen.values()) spreadWithin = Math.max(spreadWithin, Math.max(...scores) - Math.min(...scores));
    expect(spreadWithin).toBeLessThan(2e-5);
    // ... and it does depend on the displacement (a test that an identity rotation would fail).
    const perHead0 = [...seen.entries()].filter(([key]) => key.startsWith('0:')).map(([, s]) => s[0]!);
    expect(Math.max(...perHead0) - Math.min(...perHead0)).toBeGreaterThan(0.05);
    // Both axes matter: a row shift and a column shift of the same size change the score differently from none.
    const at = (key: string) => seen.get(key)![0]!;
    expect(Math.abs(at('0:1,0') - at('0:0,0'))).toBeGreaterThan(1e-3);
    expect(Math.abs(at('0:0,1') - at('0:0,0'))).toBeGreaterThan(1e-3);
  });

  it('native (one kernel each way) equals the composed ops on cpu bit for bit: values and the gradient, extra tokens, no leaks', async () => {
    const [b, extra] = [3, 2];
    const t = qkvRotaryTables(d, heads, grid, extra);
    const rng = new Rng(13);
    const qkv = rng.uniformArray(b * (n + extra) * 3 * d, -2, 2), w = rng.uniformArray(qkv.length, -1, 1);
    const shape: [number, number, number] = [b, n + extra, 3 * d];
    const valueAndGrad = async (backend: (typeof BACKENDS)[number]) => {
      const cos = () => tf.tensor2d(t.cos, [t.tokens, t.pairs]), sin = () => tf.tensor2d(t.sin, [t.tokens, t.pairs]);
      let value: Float32Array = new Float32Array(), grad: Float32Array = new Float32Array();
      const prof = await tf.profile(async () => {
        value = await on(backend, () => applyRotary(tf.tensor3d(qkv, shape), cos(), sin()));
        grad = await on(backend, () => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(applyRotary(x, cos(), sin()), tf.tensor3d(w, shape))))(tf.tensor3d(qkv, shape)));
      });
      return { value, grad, kernels: prof.kernels.map((k) => k.name) };
    };
    const cpu = await valueAndGrad('cpu');
    const native = await valueAndGrad('native');
    expect(cpu.kernels).not.toContain(ROTARY_KERNEL);
    // Forward, then forward and backward: the rotation and nothing else of the composed chain.
    expect(native.kernels.filter((k) => k === ROTARY_KERNEL)).toHaveLength(3);
    expect(native.kernels).not.toContain('Unpack');
    // Bit for bit: the kernel rounds each product and then the sum, as the composed ops do (no FMA contraction),
    // so a run does not depend on whether the addon has the kernel.
    expect(Buffer.from(native.value.buffer).equals(Buffer.from(cpu.value.buffer))).toBe(true);
    expect(Buffer.from(native.grad.buffer).equals(Buffer.from(cpu.grad.buffer))).toBe(true);
    // The gradient is the inverse rotation of w, which for v and the extra tokens (angle 0) is w itself.
    for (let bi = 0; bi < b; bi++) {
      for (let tk = 0; tk < n + extra; tk++) {
        const base = (bi * (n + extra) + tk) * 3 * d;
        const from = tk < n ? base + 2 * d : base;
        expect(Array.from(native.grad.subarray(from, base + 3 * d))).toEqual(Array.from(w.subarray(from, base + 3 * d)));
      }
    }
  });

  it("the in-context design's extra tokens are not rotated", async () => {
    const qkv = new Rng(12).uniformArray((n + 2) * 3 * d, -2, 2);
    const got = await on('native', rotate(qkv, 1, 2));
    expect(Array.from(got.subarray(n * 3 * d))).toEqual(Array.from(qkv.subarray(n * 3 * d)));
    expect(Array.from(got.subarray(3 * d * 4, 3 * d * 5))).not.toEqual(Array.from(qkv.subarray(3 * d * 4, 3 * d * 5)));
  });
});
