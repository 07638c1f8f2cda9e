/**
 * The networks studies score samples with: the file a scoring stage reads (hashed into its cache key) and the
 * Nx task that makes it. Studies name them through these, so a moved artifact is one edit.
 */
export const FMNIST_FEATURE_NET = {
  file: 'experiments/fmnist-featurenet/artifacts/fmnist-featurenet.safetensors',
  needs: { project: 'fmnist-featurenet', target: 'train' },
} as const;

export const SPOKEN_DIGITS_EMBEDDER = {
  file: 'experiments/spoken-digits/artifacts/spoken-digits-embedder.safetensors',
  needs: { project: 'spoken-digits', target: 'train-embedder' },
} as const;
