import { fashionMnistClassNames } from '@difflab/data';
import { esc, scriptJson } from './html.js';
import { GRID_SLIDER_SCRIPT, gridAtOrBefore, type SampleGrid } from './sample-grids.js';

/**
 * Row labels of a run's grid: the trainer writes one row per class (model.numClasses rows), so
 * the dataset's class names label the rows; unknown datasets get class indices.
 */
export function gridRowLabels(params: Record<string, string>): string[] {
  const rows = Number(params['model.numClasses']);
  if (!Number.isInteger(rows) || rows < 1 || rows > 100) return [];
  const names = params['data.dataset'] === 'fashion-mnist' ? fashionMnistClassNames : params['data.dataset'] === 'spoken-digits-mel' ? ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'] : [];
  return Array.from({ length: rows }, (_, i) => names[i] ?? `class ${i}`);
}

export interface GridColumn {
  title: string;
  titleHref: string;
  grids: SampleGrid[];
  rowLabels: string[];
}

function figure(col: GridColumn, step: number): string {
  const g = gridAtOrBefore(col.grids, step);
  const labels = col.rowLabels.length
    ? `<ol class="grid-rows" aria-label="one row per class">${col.rowLabels.map((l) => `<li>${esc(l)}</li>`).join('')}</ol>`
    : '';
  const grids = col.grids.map((x) => ({ step: x.step, url: x.url }));
  return `<figure class="grid" data-grids="${esc(JSON.stringify(grids))}">
    <figcaption><a href="${esc(col.titleHref)}">${esc(col.title)}</a> · <span class="grid-step">${g ? `step ${g.step}` : `no grid by step ${step}`}</span></figcaption>
    <div class="grid-body">${labels}<img class="sample-grid" alt="samples of ${esc(col.title)}"${g ? ` src="${esc(g.url)}" data-step="${g.step}"` : ' hidden'}></div>
  </figure>`;
}

/** Sample grids side by side (one figure per run) with one step slider over every logged step. */
export function sampleGridsBlock(cols: GridColumn[], requestedStep: number | null): string {
  const steps = [...new Set(cols.flatMap((c) => c.grids.map((g) => g.step)))].sort((a, b) => a - b);
  if (steps.length === 0) return '<p class="muted" id="no-samples">No sample grids logged (the trainer logs them under samples/step-NNNNNNN.png).</p>';
  // Default: the latest step every run has reached, so the grids compare like with like.
  const common = Math.min(...cols.filter((c) => c.grids.length).map((c) => c.grids.at(-1)!.step));
  const wanted = requestedStep ?? common;
  const index = Math.max(0, steps.findLastIndex((s) => s <= wanted));
  const step = steps[index]!;
  return `<div class="inline" id="sample-controls"><label>step <input type="range" id="sample-step" min="0" max="${steps.length - 1}" step="1" value="${index}" data-steps="${esc(scriptJson(steps))}">
    <output id="sample-step-value">${step}</output></label> <span class="muted">${steps.length} grid step${steps.length === 1 ? '' : 's'} logged</span></div>
    <div class="grids" id="sample-grids">${cols.map((c) => figure(c, step)).join('')}</div>
    <script>${GRID_SLIDER_SCRIPT}</script>`;
}
