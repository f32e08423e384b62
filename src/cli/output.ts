import Table from 'cli-table3';
import { HangarError } from '../core/errors.js';

/** Prints rows as a table for people, or as JSON for scripts. */
export function printRows<T extends object>(rows: T[], columns: Array<[header: string, cell: (row: T) => unknown]>, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const table = new Table({ head: columns.map(([header]) => header), style: { head: [], border: [] } });
  for (const row of rows) table.push(columns.map(([, cell]) => formatCell(cell(row))));
  process.stdout.write(`${table.toString()}\n`);
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Exit codes: 1 for a failed command, 2 for wrong usage (commander's own errors exit 1 too, via exitOverride). */
export function fail(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`hangar: ${message}\n`);
  process.exit(error instanceof HangarError && error.status === 400 ? 2 : 1);
}
