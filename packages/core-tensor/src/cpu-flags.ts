import { existsSync, readFileSync } from 'node:fs';

/** The CPU's feature flags as /proc/cpuinfo lists them (avx2, avx512f, avx512_bf16, amx_bf16, …); [] where there is no /proc/cpuinfo. */
export function cpuFlags(): string[] {
  if (!existsSync('/proc/cpuinfo')) return [];
  return (/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
}
