import { describe, expect, it } from 'vitest';
import { openblasCoretypeNotice } from '../src/native/blas-coretype.js';

const AVX512 = ['fpu', 'sse2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512dq', 'avx512bw', 'avx512vl', 'avx512_bf16'];
const AVX2 = ['fpu', 'sse2', 'avx', 'avx2', 'fma'];

describe('openblasCoretypeNotice', () => {
  it('names an OPENBLAS_CORETYPE that pins AVX2 kernels on an AVX-512 CPU, and the fix', () => {
    expect(openblasCoretypeNotice({ OPENBLAS_CORETYPE: 'Haswell' }, AVX512)).toBe(
      'OPENBLAS_CORETYPE=Haswell pins non-AVX-512 GEMM kernels on this AVX-512 CPU; unset it to let OpenBLAS choose (faster GEMMs)',
    );
    expect(openblasCoretypeNotice({ OPENBLAS_CORETYPE: 'zen' }, AVX512)).toContain('OPENBLAS_CORETYPE=zen pins');
  });

  it('is silent when nothing is pinned, the pin is an AVX-512 core type, or the CPU has no AVX-512', () => {
    expect(openblasCoretypeNotice({}, AVX512)).toBeNull();
    expect(openblasCoretypeNotice({ OPENBLAS_CORETYPE: '' }, AVX512)).toBeNull();
    expect(openblasCoretypeNotice({ OPENBLAS_CORETYPE: 'Cooperlake' }, AVX512)).toBeNull();
    expect(openblasCoretypeNotice({ OPENBLAS_CORETYPE: 'SKYLAKEX' }, AVX512)).toBeNull();
    expect(openblasCoretypeNotice({ OPENBLAS_CORETYPE: 'Haswell' }, AVX2)).toBeNull();
  });
});
