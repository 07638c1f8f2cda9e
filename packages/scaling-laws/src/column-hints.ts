import { FitError } from './errors.js';
import { groupBudgets, usableBudgets } from './isoflop.js';
import { positiveColumn, type RunTable } from './table.js';

/** Columns whose every value is a positive number: the ones a fit can take as N, D, C or y. */
export function numericColumns(table: RunTable): string[] {
  return table.columns.filter((name) => {
    try {
      positiveColumn(table, name, '');
      return true;
    } catch (err) {
      if (err instanceof FitError) return false;
      throw err;
    }
  });
}

/**
 * The columns that, given as --c-col, group the runs into at least 2 budgets with a fittable
 * isoFLOP profile, so a failed isoflop fit can say which column to use instead.
 */
export function isoflopComputeCandidates(table: RunTable, n: ArrayLike<number>, y: ArrayLike<number>, exclude: readonly string[]): string[] {
  return numericColumns(table).filter((name) => {
    if (exclude.includes(name)) return false;
    const c = positiveColumn(table, name, '--c-col');
    return usableBudgets(groupBudgets(c), n, c, y).length >= 2;
  });
}
