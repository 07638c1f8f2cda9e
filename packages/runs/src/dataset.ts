import { loadFashionMnist, ShuffledOrder, type BatchIteratorState, type ImageSplit } from '@difflab/data';
import { loadSpokenDigitsMel } from '@difflab/metrics';
import { ConfigError, type TrainConfig } from './config.js';

/** A split as the training loop sees it: images already scaled to [-1, 1] (and padded), NHWC. */
export interface FloatImageSplit {
  /** [n, height, width, channels] row-major, values in [-1, 1]. */
  images: Float32Array;
  /** Class label per example (0 for unlabelled data). */
  labels: Int32Array;
  n: number;
  height: number;
  width: number;
  channels: number;
  /** Row of each example in the whole split (FloatBatch.indices reports these); absent: the examples are the split's first n rows. */
  rows?: Int32Array;
}

export interface TrainingData {
  train: FloatImageSplit;
  test: FloatImageSplit;
  /** Where the data came from, recorded in the run's params. */
  source: string;
}

/**
 * The one place a `data.dataset` value becomes arrays. A new dataset is one more case here returning
 * the same shape; nothing downstream looks at the dataset's name.
 */
export async function datasetFor(data: TrainConfig['data'], log?: (line: string) => void): Promise<TrainingData> {
  const all = await wholeDataset(data, log);
  if (data.trainExamples !== undefined && data.trainExamples > all.train.n) {
    throw new ConfigError(`data.trainExamples: ${data.trainExamples} is more than the ${all.train.n} training images of ${data.dataset}; lower it or remove it`);
  }
  if (data.classes === undefined && data.perClass === undefined) {
    if (data.trainExamples === undefined) return all;
    return { ...all, train: firstExamples(all.train, data.trainExamples), source: `${all.source} (first ${data.trainExamples} training images)` };
  }
  const train = subset(all.train, selectTrainRows(all.train.labels, data));
  const test = data.classes ? subset(all.test, rowsOfClasses(all.test.labels, data.classes)) : all.test;
  const parts = [
    ...(data.trainExamples === undefined ? [] : [`first ${data.trainExamples} training images`]),
    ...(data.classes ? [`classes ${data.classes.join(',')}`] : []),
    ...(data.perClass === undefined ? [] : [`first ${data.perClass} per class`]),
  ];
  return { ...all, train, test, source: `${all.source} (${parts.join(', ')}: ${train.n} training, ${test.n} test images)` };
}

/**
 * The training rows a data section selects, ascending (split order): of the first data.trainExamples rows
 * (default all), those labelled one of data.classes (default any), then of each class its first data.perClass
 * (default all). A selected class with no image, or with fewer than perClass, is a ConfigError naming the field.
 */
export function selectTrainRows(labels: ArrayLike<number>, data: Pick<TrainConfig['data'], 'trainExamples' | 'classes' | 'perClass'>): Int32Array {
  const limit = Math.min(labels.length, data.trainExamples ?? labels.length);
  const wanted = data.classes ? new Set(data.classes) : null;
  const taken = new Map<number, number>();
  const rows: number[] = [];
  for (let i = 0; i < limit; i++) {
    const label = labels[i]!;
    if (wanted && !wanted.has(label)) continue;
    const n = taken.get(label) ?? 0;
    if (data.perClass !== undefined && n >= data.perClass) continue;
    taken.set(label, n + 1);
    rows.push(i);
  }
  const among = data.trainExamples === undefined ? 'in the training split' : `among the first ${data.trainExamples} training images (data.trainExamples)`;
  for (const c of data.classes ?? []) {
    if (!taken.has(c)) throw new ConfigError(`data.classes: class ${c} has no image ${among}; remove it${data.trainExamples === undefined ? '' : ' or raise data.trainExamples'}`);
  }
  if (data.perClass !== undefined) {
    const short = [...taken].filter(([, n]) => n < data.perClass!).sort(([a], [b]) => a - b);
    if (short.length > 0) {
      throw new ConfigError(
        `data.perClass: ${data.perClass} images per class, but ${short.map(([c, n]) => `class ${c} has ${n}`).join(', ')} ${among}; lower data.perClass${data.trainExamples === undefined ? '' : ' or raise data.trainExamples'}`,
      );
    }
  }
  return Int32Array.from(rows);
}

/** Rows of the split labelled one of `classes`, in split order. */
function rowsOfClasses(labels: ArrayLike<number>, classes: readonly number[]): Int32Array {
  const wanted = new Set(classes);
  const rows: number[] = [];
  for (let i = 0; i < labels.length; i++) if (wanted.has(labels[i]!)) rows.push(i);
  return Int32Array.from(rows);
}

/** A copy of the split's `rows` (row indices into `split`), which remembers each example's row in the whole split. */
function subset(split: FloatImageSplit, rows: Int32Array): FloatImageSplit {
  const size = split.height * split.width * split.channels;
  const images = new Float32Array(rows.length * size);
  rows.forEach((r, i) => images.set(split.images.subarray(r * size, (r + 1) * size), i * size));
  const labels = Int32Array.from(rows, (r) => split.labels[r]!);
  return { ...split, images, labels, n: rows.length, rows: split.rows ? Int32Array.from(rows, (r) => split.rows![r]!) : rows };
}

/** The first `n` examples of a split (views, no copy): their indices stay those of the whole split. */
export function firstExamples(split: FloatImageSplit, n: number): FloatImageSplit {
  const size = split.height * split.width * split.channels;
  return { ...split, images: split.images.subarray(0, n * size), labels: split.labels.subarray(0, n), n };
}

async function wholeDataset(data: TrainConfig['data'], log?: (line: string) => void): Promise<TrainingData> {
  if (data.dir !== undefined && data.dataset !== 'spoken-digits-mel') throw new ConfigError(`data.dir: applies to dataset 'spoken-digits-mel' only, not '${data.dataset}'; remove it`);
  switch (data.dataset) {
    case 'fashion-mnist': {
      const fm = loadFashionMnist();
      const padding = data.pad32 ? 2 : 0;
      return {
        train: scaleUint8Split(fm.train, padding),
        test: scaleUint8Split(fm.test, padding),
        source: `${fm.source.kind}:${fm.source.dir}`,
      };
    }
    case 'spoken-digits-mel': {
      const mel = await loadSpokenDigitsMel({ ...(data.dir === undefined ? {} : { dir: data.dir }), ...(log ? { log } : {}) });
      // The normalisation maps samples back to log-mel (imageToMel): recorded with the run.
      const { low, high } = mel.normalization;
      return { train: mel.train, test: mel.test, source: `spoken-digits-mel:${mel.manifest} (log-mel ${low}..${high} → [-1, 1])` };
    }
    default:
      throw new ConfigError(`data.dataset: unknown dataset '${String(data.dataset)}'`);
  }
}

/** 0..255 greyscale → [-1, 1], padded with -1 (black) on every side. Same arithmetic as @difflab/data's makeBatch. */
export function scaleUint8Split(split: ImageSplit, padding: number): FloatImageSplit {
  const { height: h, width: w, count } = split;
  const ph = h + 2 * padding;
  const pw = w + 2 * padding;
  const images = new Float32Array(count * ph * pw).fill(-1);
  for (let i = 0; i < count; i++) {
    for (let r = 0; r < h; r++) {
      const dst = i * ph * pw + (r + padding) * pw + padding;
      const src = i * h * w + r * w;
      for (let c = 0; c < w; c++) images[dst + c] = split.images[src + c]! / 127.5 - 1;
    }
  }
  return { images, labels: Int32Array.from(split.labels), n: count, height: ph, width: pw, channels: 1 };
}

export interface FloatBatch {
  x: Float32Array;
  y: Int32Array;
  shape: [number, number, number, number];
  /** Index of each example in its split (what per-example caches, e.g. REPA's encoder tokens, are keyed by). */
  indices?: Int32Array;
}

function gather(split: FloatImageSplit, indices: ArrayLike<number>): FloatBatch {
  const size = split.height * split.width * split.channels;
  const x = new Float32Array(indices.length * size);
  const y = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b]!;
    x.set(split.images.subarray(i * size, (i + 1) * size), b * size);
    y[b] = split.labels[i]!;
  }
  const rows = split.rows;
  return { x, y, shape: [indices.length, split.height, split.width, split.channels], indices: Int32Array.from(indices, (i) => (rows ? rows[i]! : i)) };
}

/** Endless shuffled full batches, in @difflab/data's ShuffledOrder, so checkpoints and batch sequences carry over. */
export class FloatBatchIterator {
  private readonly order: ShuffledOrder;

  constructor(
    private readonly split: FloatImageSplit,
    batchSize: number,
    opts: { seed?: number; state?: BatchIteratorState },
  ) {
    this.order = new ShuffledOrder(split.n, batchSize, { ...opts, field: 'train.batchSize' });
  }

  getState(): BatchIteratorState {
    return this.order.getState();
  }

  next(): FloatBatch {
    return gather(this.split, this.order.next());
  }
}

/** The split in file order, in batches of at most batchSize (the last may be smaller). */
export function* sequentialFloatBatches(split: FloatImageSplit, batchSize: number): Generator<FloatBatch> {
  for (let at = 0; at < split.n; at += batchSize) {
    yield gather(split, Array.from({ length: Math.min(batchSize, split.n - at) }, (_, i) => at + i));
  }
}
