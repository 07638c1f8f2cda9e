import { z } from 'zod';
import { AUDIO_UNET_CONFIGS, DIT_CONFIGS, UNET_CONFIGS } from '@difflab/models';

const DIT_PRESETS = Object.keys(DIT_CONFIGS);
/** Image and spectrogram U-Net presets, resolved alike. */
export const UNET_PRESETS = [...Object.keys(UNET_CONFIGS), ...Object.keys(AUDIO_UNET_CONFIGS)];

const blockRemovalSchema = z
  .object({
    stage: z.enum(['down', 'up']),
    level: z.number().int().nonnegative(),
    index: z.number().int().nonnegative(),
    parts: z.array(z.enum(['resnet', 'attention'])).nonempty().readonly(),
  })
  .strict();

/** @difflab/models' UNetPruningSpec. */
export const pruningSpecSchema = z.object({ removeMid: z.boolean().default(false), remove: z.array(blockRemovalSchema).readonly().default([]) }).strict();

const unknownPreset = (preset: unknown) =>
  `unknown preset '${String(preset)}'; DiT presets: ${DIT_PRESETS.join(', ')}; U-Net presets: ${UNET_PRESETS.join(', ')}`;

const ditFields = {
  /** A named config from @difflab/models (e.g. "DiT-FMNIST-S/4"); other fields override it. */
  preset: z.string().refine((p) => DIT_PRESETS.includes(p), { error: (iss) => (UNET_PRESETS.includes(String(iss.input)) ? `'${String(iss.input)}' is a U-Net preset; set model.architecture to 'unet'` : unknownPreset(iss.input)) }),
  hiddenSize: z.number().int().positive().optional(),
  depth: z.number().int().positive().optional(),
  numHeads: z.number().int().positive().optional(),
  patchSize: z.number().int().positive().optional(),
  mlpRatio: z.number().positive().optional(),
  classDropoutProb: z.number().min(0).max(1).optional(),
  /** Predict the variance too (2C output channels), trained by L_vlb with weight train.vlbWeight. */
  learnSigma: z.boolean().optional(),
  block: z.enum(['adaLN-Zero', 'adaLN', 'cross-attention', 'in-context']).optional(),
  /** MLP of each block: DiT's GELU MLP, or SwiGLU at equal parameters (LightningDiT). Default 'gelu'. */
  mlp: z.enum(['gelu', 'swiglu']).optional(),
  /** Block and final-layer normalisation; default 'layernorm' (DiT). */
  norm: z.enum(['layernorm', 'rmsnorm']).optional(),
  /** 2-D rotary position embedding on queries and keys (LightningDiT); default off. */
  rope: z.boolean().optional(),
};

const unetFields = {
  /** A named U-Net config from @difflab/models (e.g. "UNet-FMNIST"); other fields override it. */
  preset: z.string().refine((p) => UNET_PRESETS.includes(p), { error: (iss) => (DIT_PRESETS.includes(String(iss.input)) ? `'${String(iss.input)}' is a DiT preset; set model.architecture to 'dit'` : unknownPreset(iss.input)) }),
  numHeads: z.number().int().positive().optional(),
  /** The SD-style layout rebuilt with these (sdStyleUNetConfig options). */
  channels: z.array(z.number().int().positive()).nonempty().optional(),
  layersPerLevel: z.number().int().positive().optional(),
  attention: z.array(z.boolean()).nonempty().optional(),
  mid: z.boolean().optional(),
  groups: z.number().int().positive().optional(),
  /** BK-SDM block removal applied to the (overridden) preset; the model is what remains. */
  prune: pruningSpecSchema.optional(),
  /**
   * Parameters (names in the unpruned model) held at zero and not trained — LD-Pruner's
   * operators replaced by the identity rather than removed (their closing projections).
   */
  zero: z.array(z.string()).optional(),
};

/** Unknown keys are named, and a key of the other architecture says so. */
function unknownKeys(own: string, other: string, otherFields: object) {
  return (iss: { code?: string; keys?: string[] }) => {
    if (iss.code !== 'unrecognized_keys') return undefined;
    const keys = iss.keys ?? [];
    const foreign = keys.filter((k) => k in otherFields);
    const unknown = keys.filter((k) => !(k in otherFields));
    return [
      ...(foreign.length ? [`${foreign.join(', ')} apply to ${other} presets only; this is a ${own} model (model.architecture)`] : []),
      ...(unknown.length ? [`unknown field(s) ${unknown.join(', ')}; remove them`] : []),
    ].join('; ');
  };
}

export const ditModelSchema = z.strictObject({ architecture: z.literal('dit'), ...ditFields }, { error: unknownKeys('DiT', 'U-Net', unetFields) });
export const unetModelSchema = z.strictObject({ architecture: z.literal('unet'), ...unetFields }, { error: unknownKeys('U-Net', 'DiT', ditFields) });

/**
 * Config files written before `architecture` existed name only a preset: the preset says which
 * architecture it is. An unknown preset is parsed as a DiT so that the error is about model.preset.
 */
function inferArchitecture(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || 'architecture' in raw) return raw;
  const preset = (raw as { preset?: unknown }).preset;
  return { architecture: typeof preset === 'string' && UNET_PRESETS.includes(preset) ? 'unet' : 'dit', ...raw };
}

/** The training config's model section: a DiT or a U-Net, each with its own fields. */
export const modelConfigSchema = z.preprocess(inferArchitecture, z.discriminatedUnion('architecture', [ditModelSchema, unetModelSchema]));

export type DiTModelConfig = z.output<typeof ditModelSchema>;
export type UNetModelConfig = z.output<typeof unetModelSchema>;
export type ModelConfig = DiTModelConfig | UNetModelConfig;
/** What a config file (or code) may write: `architecture` may be left out, the preset implies it. */
export type ModelConfigInput =
  | (Omit<z.input<typeof ditModelSchema>, 'architecture'> & { architecture?: 'dit' })
  | (Omit<z.input<typeof unetModelSchema>, 'architecture'> & { architecture?: 'unet' });
