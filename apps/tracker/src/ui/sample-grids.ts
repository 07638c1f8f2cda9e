import type { SqliteStore } from '@difflab/tracking';
import { href } from './html.js';

/** The trainer logs its sample grids as `samples/step-0000500.png` (step zero-padded to 7 digits). */
const GRID_NAME = /^samples\/step-(\d+)\.png$/;

export interface SampleGrid {
  step: number;
  path: string;
  url: string;
}

/** A run's sample grids, by step. */
export async function sampleGrids(store: SqliteStore, runId: string): Promise<SampleGrid[]> {
  let files;
  try {
    files = await store.listArtifacts(runId, 'samples');
  } catch {
    return [];
  }
  return files
    .map((f) => ({ f, m: GRID_NAME.exec(f.path) }))
    .filter(({ f, m }) => m && !f.isDir)
    .map(({ f, m }) => ({ step: Number(m![1]), path: f.path, url: href('/get-artifact', { run_id: runId, path: f.path }) }))
    .sort((a, b) => a.step - b.step);
}

/** The grid at `step`, else the last one before it (a run that sampled less often shows its latest). */
export function gridAtOrBefore(grids: SampleGrid[], step: number): SampleGrid | undefined {
  let found: SampleGrid | undefined;
  for (const g of grids) if (g.step <= step) found = g;
  return found;
}

/**
 * The step slider's script: `data-grids` on each figure lists its run's grids; moving the slider
 * shows, in every figure, the grid at the chosen step (or the last before it), without a reload.
 */
export const GRID_SLIDER_SCRIPT = `
(() => {
  const slider = document.getElementById('sample-step');
  if (!slider) return;
  const steps = JSON.parse(slider.dataset.steps);
  const label = document.getElementById('sample-step-value');
  const show = () => {
    const step = steps[Number(slider.value)];
    label.textContent = String(step);
    for (const fig of document.querySelectorAll('figure.grid[data-grids]')) {
      const grids = JSON.parse(fig.dataset.grids);
      const g = grids.filter((x) => x.step <= step).pop();
      const img = fig.querySelector('img');
      const caption = fig.querySelector('.grid-step');
      if (g) { img.hidden = false; img.src = g.url; img.dataset.step = String(g.step); caption.textContent = 'step ' + g.step; }
      else { img.hidden = true; img.removeAttribute('src'); delete img.dataset.step; caption.textContent = 'no grid by step ' + step; }
    }
    const url = new URL(location.href);
    url.searchParams.set('sample_step', String(step));
    history.replaceState(null, '', url);
  };
  slider.addEventListener('input', show);
})();`;
