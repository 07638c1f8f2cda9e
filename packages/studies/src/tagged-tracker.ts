import type { RunHandle, StartRunOptions, Tracker } from '@difflab/tracking';

/**
 * The one place the `study`, `preset` and `stage` tags are set: every run a stage starts through this
 * tracker carries them (they win over a stage's own tags of the same name).
 */
export function taggedTracker(tracker: Tracker, tags: Readonly<Record<string, string>>): Tracker {
  return new Proxy(tracker, {
    get(target, prop, receiver) {
      if (prop === 'startRun') {
        return (opts: StartRunOptions = {}): Promise<RunHandle> => target.startRun({ ...opts, tags: { ...(opts.tags ?? {}), ...tags } });
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
