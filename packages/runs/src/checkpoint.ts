import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  type OptimizerState,
  type RngState,
  type SafetensorsContents,
  type SafetensorsEntry,
  decodeSafetensors,
  encodeSafetensors,
  entriesToTensors,
  entryValues,
  tensorsToEntries,
  writeFileAtomic,
  tf,
} from '@difflab/core-tensor';
import type { BatchIteratorState } from '@difflab/data';
import { DIGEST_FILE, formatDigests, parseDigests, sha256Hex } from './checkpoint-digest.js';

/** Everything besides tensors that a bit-exact resume needs. */
export interface TrainerState {
  step: number;
  trainRng: RngState;
  data: BatchIteratorState;
  /** Hash of the resolved config: resuming with a different config is refused. */
  configHash: string;
}

export interface Checkpoint {
  state: TrainerState;
  params: Record<string, tf.Tensor>;
  ema: Record<string, tf.Tensor>;
  emaDecay: number;
  optimizer: OptimizerState;
  /**
   * An objective's own trained weights (e.g. REPA's projector), in objective.safetensors; absent when the
   * objective has none. Resuming needs them; sampling never reads them.
   */
  objective?: Record<string, tf.Tensor>;
  /**
   * Extra safetensors metadata of model.safetensors and ema.safetensors (e.g. a fine-tune's base run and its
   * SHA-256, checked on resume and when the run is loaded). loadCheckpoint returns model.safetensors' own.
   */
  metadata?: Record<string, string>;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** A checkpoint file that fails its digest, does not parse, or holds a non-finite value. */
export class CorruptCheckpointError extends CheckpointError {
  override name = 'CorruptCheckpointError';
  constructor(
    readonly file: string,
    problem: string,
    /** What to do instead; by default the newest other intact checkpoint and how to resume from it. */
    advice: string = offerOtherCheckpoint(dirname(file)),
  ) {
    super(`checkpoint corrupt: ${file}: ${problem}. ${advice}`.trimEnd());
  }
}

export interface LoadCheckpointOptions {
  /** Where the one-line notice about a checkpoint without digests goes (default stderr). */
  warn?: (line: string) => void;
}

export const CHECKPOINT_FILES = ['model.safetensors', 'ema.safetensors', 'optimizer.safetensors', 'state.json'] as const;
/** Written only when the objective trains weights of its own (Checkpoint.objective); digested like the others. */
export const OBJECTIVE_FILE = 'objective.safetensors';
const STEP_DIR = /^step-\d+$/;

const stepDir = (step: number) => `step-${String(step).padStart(7, '0')}`;

/**
 * Writes checkpoints/<step>/ through a temporary directory renamed into place, then the
 * `latest` pointer, so an interrupted save never replaces a good checkpoint with a partial one.
 * The directory's SHA256SUMS lists the digest of every file, taken from the bytes written.
 */
export async function saveCheckpoint(runDir: string, ckpt: Checkpoint, keep: number): Promise<string> {
  const root = join(runDir, 'checkpoints');
  const final = join(root, stepDir(ckpt.state.step));
  const tmp = join(root, `.tmp-${stepDir(ckpt.state.step)}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const meta = { ...ckpt.metadata, format: 'difflab-checkpoint', step: String(ckpt.state.step) };
  const digests: Record<string, string> = {};
  const write = async (name: string, bytes: Uint8Array | string) => {
    digests[name] = sha256Hex(bytes);
    await writeFileAtomic(join(tmp, name), bytes);
  };
  const safetensors = (name: string, tensors: Record<string, tf.Tensor>, metadata: Record<string, string>) =>
    write(name, encodeSafetensors(tensorsToEntries(tensors), metadata, join(tmp, name)));
  await safetensors('model.safetensors', ckpt.params, meta);
  await safetensors('ema.safetensors', ckpt.ema, { ...meta, decay: String(ckpt.emaDecay) });
  const plainMeta = { format: meta.format, step: meta.step };
  await safetensors('optimizer.safetensors', ckpt.optimizer.tensors, { ...plainMeta, optimizerStep: String(ckpt.optimizer.step) });
  if (ckpt.objective && Object.keys(ckpt.objective).length > 0) await safetensors(OBJECTIVE_FILE, ckpt.objective, plainMeta);
  await write('state.json', JSON.stringify(ckpt.state, null, 2));
  await writeFileAtomic(join(tmp, DIGEST_FILE), formatDigests(digests));
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  await writeFileAtomic(join(root, 'latest'), `${stepDir(ckpt.state.step)}\n`);
  pruneCheckpoints(root, keep);
  return final;
}

function pruneCheckpoints(root: string, keep: number): void {
  const dirs = readdirSync(root).filter((d) => STEP_DIR.test(d)).sort();
  for (const d of dirs.slice(0, Math.max(0, dirs.length - keep))) rmSync(join(root, d), { recursive: true, force: true });
}

/** Removes half-written checkpoint directories of processes that died mid-save; call only while holding the run lock. */
export function removeAbandonedCheckpointTemps(runDir: string): void {
  const root = join(runDir, 'checkpoints');
  if (!existsSync(root)) return;
  for (const d of readdirSync(root)) if (d.startsWith('.tmp-step-')) rmSync(join(root, d), { recursive: true, force: true });
}

/** The directory `latest` points to, or null when the run has no checkpoint yet. */
export function latestCheckpointDir(runDir: string): string | null {
  const pointer = join(runDir, 'checkpoints', 'latest');
  if (!existsSync(pointer)) return null;
  const name = readFileSync(pointer, 'utf8').trim();
  if (!STEP_DIR.test(name)) {
    throw new CheckpointError(`checkpoint corrupt: ${pointer} should name a step directory (e.g. step-0000500), but holds ${JSON.stringify(name.slice(0, 40))}. ${offerOtherCheckpoint(null, join(runDir, 'checkpoints'))}`);
  }
  const dir = join(runDir, 'checkpoints', name);
  if (!existsSync(join(dir, 'state.json'))) {
    throw new CheckpointError(`${pointer} points to ${dir}, which has no state.json; the run directory is damaged. ${offerOtherCheckpoint(dir)}`);
  }
  return dir;
}

/**
 * One checkpoint directory, read through its SHA256SUMS: every file is checked against its digest
 * before it is parsed, and float tensors are checked for NaN/±Inf (training never saves one).
 */
export class CheckpointFiles {
  private constructor(
    readonly dir: string,
    private readonly digests: Record<string, string> | null,
    /** Set while judging the other checkpoints for an error message: their errors carry no advice of their own. */
    private readonly probing: boolean,
  ) {}

  /** A checkpoint written before digests existed loads with a one-line notice. */
  static open(dir: string, opts: LoadCheckpointOptions = {}, probing = false): CheckpointFiles {
    const digestPath = join(dir, DIGEST_FILE);
    if (!existsSync(digestPath)) {
      const warn = opts.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
      if (!probing) warn(`difflab: ${dir} has no ${DIGEST_FILE} (written before checkpoints carried digests); loading it without an integrity check`);
      return new CheckpointFiles(dir, null, probing);
    }
    const parsed = parseDigests(readFileSync(digestPath, 'utf8'));
    if ('badLine' in parsed) throw corrupt(digestPath, `line ${parsed.badLine} is not '<sha256 hex>  <file name>'`, probing);
    return new CheckpointFiles(dir, parsed, probing);
  }

  private fail(file: string, problem: string): CorruptCheckpointError {
    return corrupt(file, problem, this.probing);
  }

  /** Whether the checkpoint has this file: listed in SHA256SUMS (a listed file that is gone is corrupt), else present. */
  has(name: string): boolean {
    return this.digests ? name in this.digests : existsSync(join(this.dir, name));
  }

  /** Every file SHA256SUMS lists (the fixed four without digests). */
  listed(): string[] {
    return this.digests ? Object.keys(this.digests) : [...CHECKPOINT_FILES];
  }

  /** The file's bytes, after its digest matched. */
  bytes(name: string): Uint8Array {
    const file = join(this.dir, name);
    if (!existsSync(file)) throw this.fail(file, 'the file is missing');
    const bytes = new Uint8Array(readFileSync(file));
    if (this.digests) {
      const expected = this.digests[name];
      if (expected === undefined) throw this.fail(file, `the file is not listed in ${DIGEST_FILE}`);
      const actual = sha256Hex(bytes);
      if (actual !== expected) throw this.fail(file, `its SHA-256 is ${actual.slice(0, 12)}…, but ${DIGEST_FILE} says ${expected.slice(0, 12)}… (the file changed after it was written)`);
    }
    return bytes;
  }

  /** The file's SHA-256 (hex): as SHA256SUMS lists it (every read checks the bytes against it), or computed from the bytes where there are no digests. */
  digest(name: string): string {
    return this.digests?.[name] ?? sha256Hex(this.bytes(name));
  }

  /** The full trainer state a resume needs. */
  state(): TrainerState {
    return this.parseState(true) as TrainerState;
  }

  /** The checkpoint's step alone: all that reading weights needs (a weights-only checkpoint has no trainer state). */
  step(): number {
    return this.parseState(false).step!;
  }

  private parseState(full: boolean): Partial<TrainerState> {
    const file = join(this.dir, 'state.json');
    const text = Buffer.from(this.bytes('state.json')).toString('utf8');
    let state: Partial<TrainerState>;
    try {
      state = JSON.parse(text) as Partial<TrainerState>;
    } catch (e) {
      throw this.fail(file, `not valid JSON (${(e as Error).message}; ${text.length} bytes)`);
    }
    if (typeof state !== 'object' || state === null || !Number.isSafeInteger(state.step) || state.step! < 0 || (full && (typeof state.configHash !== 'string' || !state.trainRng || !state.data))) {
      throw this.fail(file, full ? 'expected an object with step (a non-negative integer), trainRng, data and configHash' : 'expected an object with step (a non-negative integer)');
    }
    return state;
  }

  /** Decoded, verified tensors of one safetensors file; every float value is finite. */
  tensors(name: string): SafetensorsContents {
    const file = join(this.dir, name);
    let contents: SafetensorsContents;
    try {
      contents = decodeSafetensors(this.bytes(name), file);
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      throw this.fail(file, (e as Error).message.replace(`${file}: `, ''));
    }
    for (const [tensor, entry] of Object.entries(contents.tensors)) {
      const bad = firstNonFinite(entry);
      if (bad) throw this.fail(file, `tensor '${tensor}' holds ${bad.value} at index ${bad.index}; training never saves a non-finite value, so this file cannot be resumed from`);
    }
    return contents;
  }
}

function corrupt(file: string, problem: string, probing: boolean): CorruptCheckpointError {
  return probing ? new CorruptCheckpointError(file, problem, '') : new CorruptCheckpointError(file, problem);
}

function firstNonFinite(entry: SafetensorsEntry): { index: number; value: number } | undefined {
  if (!['F64', 'F32', 'F16', 'BF16'].includes(entry.dtype)) return undefined;
  const values = entryValues(entry) as Float32Array | Float64Array;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return { index: i, value: values[i]! };
  return undefined;
}

/** Loads a checkpoint, verified (see CheckpointFiles); the caller owns (and disposes) the returned tensors. */
export async function loadCheckpoint(dir: string, opts: LoadCheckpointOptions = {}): Promise<Checkpoint> {
  const files = CheckpointFiles.open(dir, opts);
  const state = files.state();
  const model = files.tensors('model.safetensors');
  const ema = files.tensors('ema.safetensors');
  const opt = files.tensors('optimizer.safetensors');
  const emaDecay = Number(ema.metadata.decay);
  if (!Number.isFinite(emaDecay)) throw new CorruptCheckpointError(join(dir, 'ema.safetensors'), `metadata 'decay' is ${JSON.stringify(ema.metadata.decay)}, not a number`);
  const optimizerStep = Number(opt.metadata.optimizerStep);
  if (!Number.isSafeInteger(optimizerStep)) throw new CorruptCheckpointError(join(dir, 'optimizer.safetensors'), `metadata 'optimizerStep' is ${JSON.stringify(opt.metadata.optimizerStep)}, not an integer`);
  const params = entriesToTensors(model.tensors);
  const emaTensors = entriesToTensors(ema.tensors);
  const objective = files.has(OBJECTIVE_FILE) ? { objective: entriesToTensors(files.tensors(OBJECTIVE_FILE).tensors) } : {};
  return { state, params, ema: emaTensors, emaDecay, optimizer: { step: optimizerStep, tensors: entriesToTensors(opt.tensors) }, ...objective, metadata: model.metadata };
}

/** Whether every file of a checkpoint is present and matches its digest (no digests: unverifiable). */
function checkpointIntegrity(dir: string): 'intact' | 'corrupt' | 'unverified' {
  try {
    const digestPath = join(dir, DIGEST_FILE);
    const files = existsSync(digestPath) ? CheckpointFiles.open(dir, {}, true) : undefined;
    for (const name of files ? [...new Set([...CHECKPOINT_FILES, ...files.listed()])] : CHECKPOINT_FILES) {
      if (files) files.bytes(name);
      else if (!existsSync(join(dir, name))) return 'corrupt';
    }
    JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
    return files ? 'intact' : 'unverified';
  } catch {
    return 'corrupt';
  }
}

/**
 * The sentence that follows a corrupt-checkpoint error: the newest other checkpoint whose files
 * match their digests, and how to resume from it (point `latest` at it, then --resume).
 */
function offerOtherCheckpoint(badDir: string | null, rootDir?: string): string {
  const root = rootDir ?? dirname(badDir!);
  const runDir = dirname(root);
  const others = existsSync(root)
    ? readdirSync(root)
        .filter((d) => STEP_DIR.test(d) && join(root, d) !== badDir)
        .sort()
        .reverse()
    : [];
  const judged = others.map((d) => ({ d, integrity: checkpointIntegrity(join(root, d)) }));
  const usable = judged.find((c) => c.integrity !== 'corrupt');
  const listed = judged.length > 0 ? ` (checkpoints there: ${judged.map((c) => `${c.d} ${c.integrity}`).join(', ')})` : '';
  if (!usable) {
    return `No other intact checkpoint is left in ${root}${listed}; start the run again with another --out (or delete ${runDir}).`;
  }
  const note = usable.integrity === 'unverified' ? ', written before digests so not verified' : '';
  return (
    `The previous intact checkpoint is ${usable.d}${note}${listed}. To resume from it: ` +
    `printf '${usable.d}\\n' > ${join(root, 'latest')} && difflab train ${join(runDir, 'config.json')} --out ${runDir} --resume`
  );
}
