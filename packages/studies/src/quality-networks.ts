/**
 * The networks studies score samples with: the file a scoring stage reads (hashed into its cache key) and the
 * Nx task that makes it. Studies name them through these, so a moved artifact is one edit.
 */
export const FMNIST_FEATURE_NET = {
  file: 'experiments/fmnist-featurenet/artifacts/fmnist-featurenet.safetensors',
  needs: { project: 'fmnist-featurenet', target: 'train' },
} as const;

/**
 * A second FID-FMNIST network: the same architecture and recipe as FMNIST_FEATURE_NET, trained separately from
 * another seed (initialisation and data order), so that a gain only one network sees shows as such.
 */
export const FMNIST_FEATURE_NET_S1 = {
  file: 'experiments/fmnist-featurenet/artifacts-s1/fmnist-featurenet.safetensors',
  needs: { project: 'fmnist-featurenet', target: 'train-s1' },
} as const;

export const SPOKEN_DIGITS_EMBEDDER = {
  file: 'experiments/spoken-digits/artifacts/spoken-digits-embedder.safetensors',
  needs: { project: 'spoken-digits', target: 'train-embedder' },
} as const;
