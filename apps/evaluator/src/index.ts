export { probeRun, type ProbeRunOptions, type ProbeRunResult } from './probe/probe-run.js';
export { parseTimestepSpec, resolveTimestep, type TimestepSpec } from './probe/timestep.js';
export { pooledBlockFeatures, type HiddenStateOptions } from './probe/hidden-states.js';
export { formatProbeTable, type ProbeLayerRow } from './probe/probe-table.js';
