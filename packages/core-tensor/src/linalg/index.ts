export { LinalgError } from './errors.js';
export { linalgEngine, setLinalgEngine, LINALG_ENGINES, type LinalgEngine, type LinalgEngineChoice } from './engine.js';
export { matmulTransB, transpose, trace } from './matrix.js';
export { eigh, eigvalsh, type Eigh } from './eigh.js';
export { sqrtmPsd, psdSqrtFactor, traceSqrtProduct, traceSqrtProductFactored, type PsdSqrtFactor } from './sqrtm.js';
