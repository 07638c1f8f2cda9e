import { parseArgs } from 'node:util';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openTracker } from '@difflab/tracking';
import { findStudies, listPresets, loadStudy, runStudy, stageOrder, type Study, type StudyLocation } from '@difflab/studies';
import { didYouMean } from '../did-you-mean.js';

export const summary = 'run a study (named stages per preset): difflab study <name> <stage|all> --preset P';

// Studies are found at run time from experiments/*/study.ts, by path: the CLI does not depend on any study.
const COMMON = `  --preset NAME      the study's preset (its presets/NAME/ or, for the sweep, sweep.json's presets.NAME)
  --unit ID          a fan-out stage (e.g. the sweep's train/evaluate): only this unit (run)
  --fingerprint F    (set by the Nx targets) fail if the settings no longer match the project graph
  --no-track         do not log to the tracker
  all                every stage in dependency order (fan-out stages for every unit first)`;

function describe(study: Study, loc: StudyLocation): string {
  const stages = [...stageOrder(study.fanOut?.stages ?? {}).map((n) => [n, study.fanOut!.stages[n]!, true] as const), ...stageOrder(study.stages).map((n) => [n, study.stages[n]!, false] as const)];
  let presets: string;
  try {
    presets = listPresets(study, loc.dir).map((p) => p.name).join(', ') || '(none)';
  } catch (e) {
    presets = `(cannot list: ${(e as Error).message})`;
  }
  return [
    `${study.name}  (${relative(WORKSPACE_ROOT, loc.file)}): ${study.summary}`,
    ...stages.map(([n, s, each]) => `    ${n.padEnd(10)} ${each ? `[per ${study.fanOut!.noun}] ` : ''}${s.summary}`),
    `    presets: ${presets}`,
    ...Object.entries(study.options ?? {}).map(([k, o]) => `    --${k}${o.type === 'string' ? ' VALUE' : ''}: ${o.description}`),
  ].join('\n');
}

async function studies(root: string): Promise<{ study: Study; loc: StudyLocation }[]> {
  return Promise.all(findStudies(root).map(async (loc) => ({ study: await loadStudy(loc.file), loc })));
}

/** The workspace this CLI belongs to. */
const OWN_WORKSPACE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/**
 * Where studies are found and their files written: the current directory when it holds studies (Nx runs
 * every target from the workspace root; tests use a scratch workspace), else the CLI's own workspace.
 */
export const WORKSPACE_ROOT = findStudies(process.cwd()).length > 0 ? process.cwd() : OWN_WORKSPACE;

/** The study called `name`, found by path; its `src/index.ts` is the module its own CLI aliases (sweep) load. */
export async function findStudy(name: string): Promise<{ study: Study; loc: StudyLocation }> {
  const all = await studies(WORKSPACE_ROOT);
  const found = all.find((s) => s.study.name === name);
  if (!found) throw new Error(`${unknownStudy(name, all)} (studies are experiments/*/study.ts under ${WORKSPACE_ROOT})`);
  return found;
}

/** "unknown study 'unet-prunnig'; did you mean 'unet-pruning'? known: …" */
function unknownStudy(name: string, all: { study: Study }[]): string {
  const names = all.map((s) => s.study.name);
  return `unknown study '${name}'; ${didYouMean(name, names)}known: ${names.join(', ') || '(none)'}`;
}

/**
 * The stage and preset named on the command line, checked before anything runs so that a typo is
 * answered with the name it probably meant (the study runner checks them again, without suggestions).
 */
function checkStageAndPreset(found: { study: Study; loc: StudyLocation }, stage: string, preset: string): void {
  const { study } = found;
  let presets: string[] | undefined;
  try {
    presets = listPresets(study, found.loc.dir).map((p) => p.name);
  } catch {
    // the runner reports why the presets cannot be listed
  }
  if (presets && !presets.includes(preset)) throw new Error(`study '${study.name}' has no preset '${preset}'; ${didYouMean(preset, presets)}presets: ${presets.join(', ') || '(none)'}`);
  const stages = [...Object.keys(study.fanOut?.stages ?? {}), ...Object.keys(study.stages), 'all'];
  if (!stages.includes(stage)) throw new Error(`study '${study.name}' has no stage '${stage}'; ${didYouMean(stage, stages)}stages: ${stages.join(', ')}`);
}

export async function run(args: string[]): Promise<number> {
  const root = WORKSPACE_ROOT;
  const name = args[0] && !args[0].startsWith('-') ? args[0] : undefined;
  const all = await studies(root);
  const found = name === undefined ? undefined : all.find((s) => s.study.name === name);
  const usage = (list: typeof all) =>
    `usage: difflab study <name> <stage|all> --preset NAME [options]   (run from the workspace root)\n\n${COMMON}\n\nStudies (experiments/*/study.ts; Nx projects <study>-<preset>, targets = stages):\n\n${list.map((s) => describe(s.study, s.loc)).join('\n\n')}\n\nSee docs/studies.md.`;
  if (name !== undefined && !found) {
    console.error(`difflab study: ${unknownStudy(name, all)}`);
    return 2;
  }
  const extra = Object.fromEntries(Object.entries(found?.study.options ?? {}).map(([k, o]) => [k, { type: o.type }]));
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      preset: { type: 'string' },
      unit: { type: 'string' },
      fingerprint: { type: 'string' },
      'no-track': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
      ...extra,
    },
  });
  if (values.help || !found) {
    console.log(usage(found ? [found] : all));
    return values.help ? 0 : 2;
  }
  if (positionals.length !== 2) {
    console.error(usage([found]));
    return 2;
  }
  if (!values.preset) throw new Error(`study ${name}: --preset is required; presets: ${listPresets(found.study, found.loc.dir).map((p) => p.name).join(', ')}`);
  checkStageAndPreset(found, positionals[1]!, values.preset);
  const options = Object.fromEntries(Object.keys(extra).map((k) => [k, (values as Record<string, string | boolean | undefined>)[k]]));
  const tracker = values['no-track'] ? undefined : openTracker();
  const t0 = performance.now();
  try {
    const done = await runStudy(found.study, {
      workspaceRoot: root,
      studyDir: found.loc.dir,
      preset: values.preset,
      stage: positionals[1]!,
      ...(values.unit !== undefined ? { unit: values.unit } : {}),
      ...(values.fingerprint !== undefined ? { fingerprint: values.fingerprint } : {}),
      ...(tracker ? { tracker } : {}),
      options,
      log: (line) => console.error(`difflab study ${name}: ${line}`),
    });
    if (done.length > 1) console.error(`difflab study ${name}: ${done.length} stages done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await tracker?.close();
  }
  return 0;
}
