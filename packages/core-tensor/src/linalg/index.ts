export { LinalgError } from './errors.js';
export { checkMatrix, symmetricPart, matmul, matmulTransA, transpose, trace } from './matrix.js';
export { eigh, eigvalsh, eighRows, type Eigh } from './eigh.js';
export { sqrtmPsd, psdSqrtFactor, traceSqrtProduct, traceSqrtProductFactored, type PsdSqrtFactor } from './sqrtm.js';
