// Draws the tracker's metric charts. The page embeds a Vega-Lite spec (chart-spec.ts) with raw
// values; this script smooths them (exponential moving average, debiased as TensorBoard does, so
// the first points are not pulled toward 0), adds the raw lines faintly when smoothing, sets a log
// x axis when asked, sizes the panels to the window, and redraws on resize, on the smoothing slider,
// on the log-x toggle and on live updates.
(() => {
  /** Per (run, metric) line in step order: EMA with weight w, divided by 1 - w^n. */
  function smooth(points, weight) {
    const state = new Map();
    const order = points.map((p, i) => i).sort((a, b) => points[a].step - points[b].step || a - b);
    // `value` is drawn (and named in tooltips); the logged value stays in `raw` for the faint line.
    const out = points.map((p) => ({ ...p, raw: p.value }));
    if (!(weight > 0)) return out;
    for (const i of order) {
      const p = out[i];
      if (p.raw === null) continue;
      const key = p.run + '\u0000' + p.metric;
      const s = state.get(key) ?? { last: 0, n: 0 };
      s.last = s.last * weight + (1 - weight) * p.raw;
      s.n += 1;
      state.set(key, s);
      p.value = s.last / (1 - Math.pow(weight, s.n));
    }
    return out;
  }

  /** Log scale on a quantitative x axis (step, seconds since start) of every layer; x ≤ 0 has no place on it. */
  function useLogX(spec) {
    const x = spec.spec.layer[0].encoding.x;
    if (x.type !== 'quantitative') return false;
    for (const layer of spec.spec.layer) layer.encoding.x = { ...layer.encoding.x, scale: { type: 'log' } };
    spec.spec.transform = [...(spec.spec.transform || []), { filter: `datum[${JSON.stringify(x.field)}] > 0` }];
    return true;
  }

  function specFor(base, points, weight, containerWidth, logX) {
    const spec = structuredClone(base);
    spec.data = { values: smooth(points, weight) };
    const columns = spec.columns || 1;
    // Room for the y axis of each panel and, once, for the legend on the right.
    const legend = 300;
    const perPanel = (containerWidth - legend) / columns - 70;
    spec.spec.width = Math.max(columns > 1 ? 180 : 320, Math.floor(perPanel));
    if (weight > 0) {
      const line = spec.spec.layer[0];
      spec.spec.layer.unshift({
        mark: { type: 'line', strokeWidth: 1 },
        encoding: { ...line.encoding, y: { ...line.encoding.y, field: 'raw' }, opacity: { condition: { param: 'focus', value: 0.3 }, value: 0.05 } },
      });
    }
    spec.logX = logX && useLogX(spec);
    return spec;
  }

  async function draw(chart) {
    const el = chart.el;
    const spec = specFor(chart.base, chart.points, chart.weight(), el.parentElement.clientWidth, chart.logX());
    const logX = spec.logX;
    delete spec.logX;
    try {
      const result = await vegaEmbed(el, spec, { renderer: 'svg', actions: false });
      chart.view?.finalize();
      chart.view = result.view;
      el.setAttribute('data-rendered', 'true');
      el.setAttribute('data-smoothing', String(chart.weight()));
      el.setAttribute('data-log-x', String(logX));
    } catch (e) {
      const err = document.getElementById(el.id + '-error');
      if (err) { err.hidden = false; err.textContent = String(e); }
    }
  }

  for (const el of document.querySelectorAll('[data-metric-chart]')) {
    const base = JSON.parse(document.getElementById(el.dataset.metricChart).textContent);
    const slider = document.getElementById('smoothing');
    const shown = document.getElementById('smoothing-value');
    const logToggle = document.getElementById('log-x');
    const chart = { el, base, points: base.data.values, weight: () => (slider ? Number(slider.value) : 0), logX: () => Boolean(logToggle && logToggle.checked && !logToggle.disabled), view: undefined };
    let timer;
    const redraw = () => { clearTimeout(timer); timer = setTimeout(() => draw(chart), 120); };
    slider?.addEventListener('input', () => {
      if (shown) shown.textContent = Number(slider.value).toFixed(2);
      // The smoothing is part of the view's state: keep it in the URL so the link restores it.
      const url = new URL(location.href);
      if (Number(slider.value) > 0) url.searchParams.set('smooth', slider.value); else url.searchParams.delete('smooth');
      history.replaceState(null, '', url);
      for (const input of document.querySelectorAll('input[name=smooth]')) input.value = slider.value;
      redraw();
    });
    logToggle?.addEventListener('change', () => {
      // Like the smoothing, the log axis is part of the view's state: the URL keeps it.
      const url = new URL(location.href);
      if (logToggle.checked) url.searchParams.set('xscale', 'log'); else url.searchParams.delete('xscale');
      history.replaceState(null, '', url);
      draw(chart);
    });
    window.addEventListener('resize', redraw);
    // Live update: while a shown run is RUNNING, fetch the chart's data again and redraw in place.
    const live = el.dataset.liveUrl;
    if (live) {
      const poll = async () => {
        try {
          const res = await fetch(live, { headers: { Accept: 'application/json' } });
          if (res.ok) {
            const body = await res.json();
            chart.points = body.points;
            el.setAttribute('data-updates', String(Number(el.getAttribute('data-updates') || 0) + 1));
            await draw(chart);
            if (!body.running) return;
          }
        } catch {
          // a failed poll is retried at the next tick
        }
        setTimeout(poll, Number(el.dataset.liveMs || 5000));
      };
      setTimeout(poll, Number(el.dataset.liveMs || 5000));
    }
    draw(chart);
  }
})();
