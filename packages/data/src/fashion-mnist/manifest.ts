import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ManifestFile {
  name: string;
  split: 'train' | 'test';
  kind: 'images' | 'labels';
  count: number;
  rawBytes: number;
  /** SHA-256 of the decompressed IDX bytes: what difflab verifies (see datasets/README.md). */
  rawSha256: string;
  debianGzSha256: string;
}

export interface FashionMnistManifest {
  name: string;
  imageShape: [number, number];
  classNames: string[];
  source: { debianPackage: string; installedDir: string };
  files: ManifestFile[];
}

// The manifest lives in datasets/ (the repo's record of checksums); reading it here keeps one copy.
const manifestPath = fileURLToPath(new URL('../../../../datasets/fashion-mnist.json', import.meta.url));

export const fashionMnistManifest: FashionMnistManifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
