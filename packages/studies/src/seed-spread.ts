// How study tables summarise a quantity over seeds.

export const mean = (v: readonly number[]): number => v.reduce((s, x) => s + x, 0) / v.length;

/** Sample standard deviation (n − 1); 0 for one value. */
export const sampleSd = (v: readonly number[]): number => (v.length < 2 ? 0 : Math.sqrt(v.reduce((s, x) => s + (x - mean(v)) ** 2, 0) / (v.length - 1)));

/** "mean ± sd" over seeds; one seed shows its value alone (there is no spread to report). */
export const meanPlusMinus = (v: readonly number[], digits: number): string => (v.length < 2 ? mean(v).toFixed(digits) : `${mean(v).toFixed(digits)} ± ${sampleSd(v).toFixed(digits)}`);
