import { cpus, loadavg } from 'node:os';

/** The machine line of a study's results table: CPU, cores, load when the table was written, Node. */
export function machineLine(): string {
  return `${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)} at table time, Node ${process.version}`;
}
