import type { DataId, DataType, TensorInfo, backend_util } from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { NativeAddon } from './addon.js';

/** Largest number of bytes the buffer pool keeps for reuse. */
const POOL_BYTES = 512 * 2 ** 20;
/**
 * Arrays of at least this many floats are pooled. Below 64 bytes V8 keeps a typed array on its heap
 * (cheap); above, every new array is a zero-filled off-heap backing store the GC must track, ~1-2 µs
 * even for a few KB, which was most of a small kernel's cost (a DiT step runs hundreds of them).
 */
const POOL_MIN_LENGTH = 16;

/**
 * The tfjs cpu backend (data in JS typed arrays, which the addon reads and writes in place) plus a
 * pool of output buffers. A fresh Float32Array costs a zero fill and page faults (2 ms for a 12 MB
 * activation, more than the multiply that fills it), so freed kernel outputs are reused. Only
 * arrays this backend allocated are pooled, and never once they may be seen elsewhere: after a
 * read (dataSync returns the array itself) or when a cpu kernel made a view of them (a contiguous
 * slice is a subarray).
 */
export class NativeBackend extends MathBackendCPU {
  private readonly owned = new WeakSet<ArrayBufferLike>();
  private readonly shared = new WeakSet<ArrayBufferLike>();
  private readonly pool = new Map<number, Float32Array[]>();
  private pooledBytes = 0;
  /** Live tensor data per ArrayBuffer: views (reshapes, contiguous slices) share their buffer's bytes. */
  private readonly bufferRefs = new Map<ArrayBufferLike, number>();
  private liveBytes = 0;
  private peakBytes = 0;

  constructor(private readonly addon: NativeAddon) {
    super();
    // The cpu backend's "install tfjs-node" banner does not apply to this backend.
    (this as unknown as { firstUse: boolean }).firstUse = false;
    // Process-wide, so only once the backend is in use (native/src/heap.cc says why).
    addon.keepFreedPages();
  }

  /** An output buffer of `length` floats; its contents are garbage, so kernels must write every element. */
  alloc(length: number): Float32Array {
    if (length >= POOL_MIN_LENGTH) {
      const reused = this.pool.get(length)?.pop();
      if (reused) {
        this.pooledBytes -= reused.byteLength;
        return reused;
      }
    }
    const fresh = new Float32Array(length);
    this.owned.add(fresh.buffer);
    return fresh;
  }

  /** A float32 tensor's array on this backend, or null when its data lives elsewhere or is not a Float32Array. */
  float32Values(dataId: DataId): Float32Array | null {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    return values instanceof Float32Array ? values : null;
  }

  /**
   * The tensor data's array when a kernel may overwrite it in place without anyone seeing: this
   * backend allocated it, it was never handed out (read by dataSync, or viewed by another tensor), one
   * tensor holds it, and it is a whole array. Otherwise null: write a fresh alloc() and rebind.
   */
  writableInPlace(dataId: DataId): Float32Array | null {
    const d = this.data.has(dataId) ? this.data.get(dataId) : undefined;
    const values = d?.values;
    if (!d || d.refCount !== 1 || !(values instanceof Float32Array)) return null;
    if (!this.owned.has(values.buffer) || this.shared.has(values.buffer)) return null;
    return values.byteOffset === 0 && values.byteLength === values.buffer.byteLength ? values : null;
  }

  /**
   * Call with a cpu kernel's outputs (and its inputs) when the kernel might have returned views of its
   * inputs. An output under one of the inputs' own data ids (Reshape, Identity, ExpandDims share the data
   * and count references) is not a view: the buffer is freed, and pooled, only once every holder is gone.
   * Marking those shared kept every reshaped activation out of the pool (a fresh array each step).
   */
  noteViews(outputs: TensorInfo | TensorInfo[], inputs?: Record<string, TensorInfo | undefined> | TensorInfo[]): void {
    const inputIds = inputs ? Object.values(inputs).map((t) => t?.dataId) : [];
    for (const t of Array.isArray(outputs) ? outputs : [outputs]) {
      if (inputIds.includes(t.dataId)) continue;
      const values = this.data.get(t.dataId)?.values as { buffer?: ArrayBuffer } | undefined;
      if (values?.buffer && this.owned.has(values.buffer)) this.shared.add(values.buffer);
    }
  }

  /**
   * Bytes held by tensor data (each buffer once, however many views share it) plus the buffer pool:
   * now, and the most since the last resetPeakMemory(). tfjs's own tf.memory().numBytes and
   * tf.profile's peakBytes count every tensor, so reshapes, clones and slices count again.
   */
  memoryFootprint(): { bytes: number; peakBytes: number } {
    return { bytes: this.liveBytes + this.pooledBytes, peakBytes: this.peakBytes };
  }

  resetPeakMemory(): void {
    this.peakBytes = this.liveBytes + this.pooledBytes;
  }

  override write(values: backend_util.BackendValues, shape: number[], dtype: DataType): DataId {
    this.trackBuffer(values, 1);
    return super.write(values, shape, dtype);
  }

  override move(dataId: DataId, values: backend_util.BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    this.trackBuffer(values, 1);
    super.move(dataId, values, shape, dtype, refCount);
  }

  private trackBuffer(values: unknown, delta: 1 | -1): void {
    if (!ArrayBuffer.isView(values)) return;
    const buffer = values.buffer;
    const refs = (this.bufferRefs.get(buffer) ?? 0) + delta;
    if (refs <= 0) {
      this.bufferRefs.delete(buffer);
      this.liveBytes -= buffer.byteLength;
    } else {
      if (refs === 1 && delta === 1) this.liveBytes += buffer.byteLength;
      this.bufferRefs.set(buffer, refs);
    }
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes + this.pooledBytes);
  }

  override readSync(dataId: DataId): ReturnType<MathBackendCPU['readSync']> {
    const values = super.readSync(dataId) as { buffer?: ArrayBuffer };
    if (values.buffer) this.shared.add(values.buffer);
    return values as ReturnType<MathBackendCPU['readSync']>;
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const values = this.data.get(dataId)?.values;
    const released = super.disposeData(dataId, force);
    if (released) this.trackBuffer(values, -1);
    if (released && values instanceof Float32Array && this.owned.has(values.buffer) && !this.shared.has(values.buffer)) {
      this.recycle(values);
    }
    return released;
  }

  /** See releaseNativeMemory() in register.ts. */
  releaseMemory(): void {
    this.emptyPool();
    collectGarbage();
    this.addon.releaseFreedPages();
  }

  private emptyPool(): void {
    this.pool.clear();
    this.pooledBytes = 0;
  }

  override dispose(): void {
    this.emptyPool();
    this.bufferRefs.clear();
    this.liveBytes = 0;
    super.dispose();
  }

  private recycle(values: Float32Array): void {
    // Never pool a view: only the whole array this backend allocated (and not the small ones alloc never looks up).
    if (values.length < POOL_MIN_LENGTH || values.byteOffset !== 0 || values.byteLength !== values.buffer.byteLength) return;
    if (this.pooledBytes + values.byteLength > POOL_BYTES) return;
    let list = this.pool.get(values.length);
    if (!list) this.pool.set(values.length, (list = []));
    list.push(values);
    this.pooledBytes += values.byteLength;
  }
}

let gc: (() => void) | null = null;

/** A full V8 collection: the arrays of disposed tensors are freed only when V8 collects them. */
function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  // V8 frees array buffers on a background sweeper; the next collection waits for it to finish.
  gc();
  gc();
}
