import * as tf from '@tensorflow/tfjs-core';

/** Serializable generator state: checkpoints store it so a resumed run draws the same numbers. */
export interface RngState {
  s: [number, number, number, number];
  /** Second Box-Muller normal kept for the next call, or null. */
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Seeded xoshiro128** generator. Every random draw in difflab (initialisation, noise,
 * timesteps, label dropout, shuffling) goes through one of these, so a run is fully
 * determined by its seed and resumable from its saved state.
 */
export class Rng {
  private s: Uint32Array;
  private spare: number | null = null;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0) {
      throw new RangeError(`Rng seed must be a non-negative integer, got ${seed}`);
    }
    const sm = splitmix32(seed);
    this.s = new Uint32Array([sm(), sm(), sm(), sm()]);
  }

  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.s = new Uint32Array(state.s);
    r.spare = state.spare;
    return r;
  }

  getState(): RngState {
    return { s: [this.s[0]!, this.s[1]!, this.s[2]!, this.s[3]!], spare: this.spare };
  }

  /** A child generator with an independent stream, e.g. one per data loader or sampler. */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }

  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Rng.int needs a positive integer bound, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    return a;
  }

  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /**
   * n draws of mean + std·normal(), bit-identical to calling normal() n times (the same Box-Muller pairs,
   * spare included), with the generator state in locals: the per-step noise of a training batch is tens
   * of thousands of draws, and the method calls and typed-array state cost about half of it.
   */
  normalArray(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    let i = 0;
    if (n > 0 && this.spare !== null) {
      out[i++] = mean + std * this.spare;
      this.spare = null;
    }
    const st = this.s;
    // xoshiro128** state as int32 locals (the same bits as the Uint32Array; results are taken >>> 0).
    let s0 = st[0]! | 0, s1 = st[1]! | 0, s2 = st[2]! | 0, s3 = st[3]! | 0;
    const twoPi = 2 * Math.PI;
    while (i < n) {
      // uniform() until non-zero, then v = uniform(); each uniform is two nextUint32 draws (hi, lo).
      let u = 0, v = 0;
      for (let draw = 0; draw < 2; draw++) {
        let x = 0;
        do {
          let r = Math.imul(rotlI(Math.imul(s1, 5), 7), 9) >>> 0;
          let t = s1 << 9;
          s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotlI(s3, 11);
          const hi = r >>> 5;
          r = Math.imul(rotlI(Math.imul(s1, 5), 7), 9) >>> 0;
          t = s1 << 9;
          s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotlI(s3, 11);
          x = (hi * 67108864 + (r >>> 6)) / 9007199254740992;
        } while (draw === 0 && x === 0);
        if (draw === 0) u = x;
        else v = x;
      }
      const r = Math.sqrt(-2 * Math.log(u));
      out[i++] = mean + std * (r * Math.cos(twoPi * v));
      const second = r * Math.sin(twoPi * v);
      if (i < n) out[i++] = mean + std * second;
      else this.spare = second;
    }
    st[0] = s0; st[1] = s1; st[2] = s2; st[3] = s3;
    return out;
  }

  uniformArray(n: number, low = 0, high = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = low + (high - low) * this.uniform();
    return out;
  }

  normalTensor(shape: number[], mean = 0, std = 1): tf.Tensor {
    return tf.tensor(this.normalArray(sizeOf(shape), mean, std), shape, 'float32');
  }

  uniformTensor(shape: number[], low = 0, high = 1): tf.Tensor {
    return tf.tensor(this.uniformArray(sizeOf(shape), low, high), shape, 'float32');
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** rotl on int32 bits (the result's bits equal rotl's; callers take >>> 0 where the value is read). */
function rotlI(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
