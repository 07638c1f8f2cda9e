import { Rng, tf } from '@difflab/core-tensor';
import { epsilonPart, esdLoss } from '@difflab/losses';
import { createDiT, sample, type DenoiseFn, type DiT, type DiTConfig, type Sampler } from '@difflab/models';
import { ConfigError, loadSourceRun, makeSampler, type Denoiser, type FineTuneBase, type TrainConfig } from '@difflab/runs';
import type { Objective, ObjectiveValue } from '../objective.js';

export interface EsdSettings {
  /** The erased class c. */
  concept: number;
  /** Negative-guidance scale η ≥ 0. */
  eta: number;
  /** The null label ∅ (a DiT's numClasses). */
  nullClass: number;
  /** Draws x_t from the frozen model; its config's guidanceScale is that sampling's classifier-free guidance. */
  sampler: Sampler;
}

/** One draw of ESD's training input: x_t at the start of sampler step `index`, whose network timestep is `timestep`. */
export interface EsdDraw {
  xt: tf.Tensor4D;
  index: number;
  timestep: number;
}

/** ESD's objective also holds the frozen model ε* it regresses toward (exposed so that tests can check it stays put). */
export interface EsdObjective extends Objective {
  readonly frozen: DiT;
}

/** Default sampler steps: the reference's DDIM 50; rectified flow gets there with fewer Euler steps. */
export const ESD_SAMPLER_STEPS = { ddpm: 50, flow: 25 } as const;

/**
 * x_t without data, as ESD draws it: the frozen model (with guidance as `sampler` says) run from pure noise with
 * label c for a random number of steps. Draws from `rng`, in this order: the stop index k ~ U{0..N−1}, x_T ~ N(0, I),
 * then whatever the sampler's steps draw (nothing for DDIM at η = 0 or Euler). k = 0 is x_T itself.
 */
export function drawEsdState(frozen: DenoiseFn, sampler: Sampler, opts: { concept: number; nullClass: number; shape: [number, number, number, number]; rng: Rng }): EsdDraw {
  const index = opts.rng.int(sampler.timesteps.length);
  const firstSteps: Sampler = {
    timesteps: sampler.timesteps.slice(0, index),
    evaluations: index,
    ...(sampler.config ? { config: sampler.config } : {}),
    step: (evaluate, i, x, rng) => sampler.step(evaluate, i, x, rng),
  };
  const xt = sample(frozen, firstSteps, { shape: opts.shape, labels: new Int32Array(opts.shape[0]).fill(opts.concept), rng: opts.rng, nullClass: opts.nullClass });
  return { xt, index, timestep: sampler.timesteps[index]! };
}

/**
 * Runs `f` off the gradient tape. tfjs records every op inside tf.variableGrads and keeps what each op's gradient
 * would need until the backward pass, so sampling the frozen model there (up to N guided forwards) would hold
 * every activation of every step; ops inside a custom gradient's forward are not recorded.
 */
function offTape<T extends tf.Tensor>(f: () => T): T {
  return tf.customGrad(() => ({ value: f(), gradFunc: () => [] }))() as T;
}

/**
 * ESD (Gandikota et al. 2023): ‖ε_θ(x_t, c, t) − [ε*(x_t, c, t) − η·(ε*(x_t, c, t) − ε*(x_t, ∅, t))]‖², with ε* the
 * frozen model and x_t drawn by drawEsdState from it, one stop index per step shared by the batch (the batch's
 * images are not read, only its size). ε_θ sees label c as given: no CFG label dropout. The model's output is used
 * as it is (ε̂, v̂ or a flow velocity): the target is affine in the output, so the same construction holds for each.
 * The objective owns `frozen`.
 */
export function esdObjective(frozen: DiT, s: EsdSettings): EsdObjective {
  const frozenFn: DenoiseFn = (x, t, y) => frozen.forward(x, t, y);
  return {
    name: 'esd',
    params: {
      'objective.concept': s.concept,
      'objective.eta': s.eta,
      'objective.sampler': s.sampler.config?.kind ?? 'custom',
      'objective.samplerSteps': s.sampler.timesteps.length,
      'objective.guidance': s.sampler.config?.guidanceScale ?? 1,
    },
    frozen,
    loss({ model, x, rng }): ObjectiveValue {
      const [b, h, w, c] = x.shape;
      let timestep = 0;
      const xt = offTape(() => {
        const draw = drawEsdState(frozenFn, s.sampler, { concept: s.concept, nullClass: s.nullClass, shape: [b, h, w, c], rng });
        timestep = draw.timestep;
        return draw.xt;
      });
      const t = tf.fill([b], timestep, 'float32') as tf.Tensor1D;
      const label = (v: number) => tf.fill([b], v, 'int32') as tf.Tensor1D;
      // Two forwards of batch b rather than one of 2b: each then equals ε_θ's own forward bit for bit when θ = θ*.
      const cond = offTape(() => epsilonPart(frozen.forward(xt, t, label(s.concept)), xt));
      const uncond = offTape(() => epsilonPart(frozen.forward(xt, t, label(s.nullClass)), xt));
      const out = model.forward(xt, t, label(s.concept));
      return { loss: esdLoss(out, cond, uncond, s.eta), terms: { esd_t: timestep } };
    },
    dispose: () => frozen.dispose(),
  };
}

/** The base's weights again, as a DiT of its own: the fine-tune's `params` start from the same file but train. */
async function loadFrozenBase(base: FineTuneBase, config: DiTConfig): Promise<DiT> {
  const source = await loadSourceRun(base.runDir, base.weights, 'init.from');
  try {
    if (source.weightsSha256 !== base.sha256) {
      throw new ConfigError(`init.from: ${source.weightsFile} changed while this run started (SHA-256 ${base.sha256.slice(0, 12)}… then, ${source.weightsSha256.slice(0, 12)}… now); start it again once that run is done`);
    }
    const dit = createDiT(config, new Rng(0));
    for (const [k, v] of Object.entries(dit.params)) v.assign(source.params[k]!);
    return dit;
  } finally {
    tf.dispose(Object.values(source.params));
  }
}

/**
 * The esd section (checked by the config schema: a DiT 'full' fine-tune of init.from, concept a real class,
 * η ≥ 0). x_t comes from DDIM (η = 0) for the ddpm process or Euler for flow, esd.samplerSteps steps, guided at
 * esd.guidance (default sample.cfgScale: x_t then follow what the run and its evaluation sample for class c);
 * sample.clipDenoised applies as in the run's own sampling.
 */
export async function esdFromConfig(cfg: TrainConfig, model: Denoiser): Promise<EsdObjective> {
  const esd = cfg.esd;
  if (!esd) throw new ConfigError("train.objective: 'esd' needs an esd section (esd.concept, esd.train; see docs/adapt-erase.md)");
  if (model.architecture !== 'dit' || !model.fineTune || model.numClasses === null) {
    throw new ConfigError("esd: erases a class from the DiT of a base run; set init.from to that run and finetune: { method: 'full' }");
  }
  const flow = cfg.diffusion.process === 'flow';
  const { sampler: _kind, eta: _eta, ...sampleSection } = cfg.sample;
  const sampler = makeSampler(
    { ...sampleSection, sampler: flow ? 'euler' : 'ddim', steps: esd.samplerSteps ?? ESD_SAMPLER_STEPS[cfg.diffusion.process], cfgScale: esd.guidance ?? cfg.sample.cfgScale },
    cfg.diffusion,
    model.numClasses,
  );
  const frozen = await loadFrozenBase(model.fineTune.base, model.config as DiTConfig);
  return esdObjective(frozen, { concept: esd.concept, eta: esd.eta, nullClass: model.numClasses, sampler });
}
