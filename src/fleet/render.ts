import type { FieldChange, Plan, PlannedChange } from './plan.js';

/** Plans and drift for people: a terminal listing, and Markdown for a merge-request comment. */

const SYMBOL = { create: '+', update: '~', delete: '-' } as const;

function show(value: FieldChange['old']): string {
  if (value === undefined) return '(unset)';
  return JSON.stringify(value);
}

function title(change: PlannedChange): string {
  const notes = [
    change.adopt ? 'adopt: created outside the repository' : null,
    change.renamedFrom !== undefined ? `renamed from ${change.renamedFrom}` : null,
    change.allocateFrom !== undefined ? `address allocated from ${change.allocateFrom}` : null,
  ].filter(Boolean);
  return `${change.kind} ${change.key}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`;
}

export function summaryLine(plan: Pick<Plan, 'summary'>): string {
  const { create, update, delete: remove } = plan.summary;
  return create + update + remove === 0 ? 'No changes: the store matches the repository.' : `Plan: ${create} to create, ${update} to update, ${remove} to delete.`;
}

export function renderText(changes: readonly PlannedChange[]): string {
  const lines: string[] = [];
  for (const change of changes) {
    lines.push(`${SYMBOL[change.action]} ${title(change)}`);
    for (const field of change.fields) {
      lines.push(change.action === 'create' ? `    ${field.field} = ${show(field.new)}` : `    ${field.field}: ${show(field.old)} -> ${show(field.new)}`);
    }
  }
  return lines.join('\n');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderMarkdown(plan: Plan): string {
  const lines = [`### Hangar plan \`${plan.hash}\``, '', `**${summaryLine(plan)}**`];
  for (const action of ['delete', 'update', 'create'] as const) {
    const changes = plan.changes.filter((change) => change.action === action);
    if (changes.length === 0) continue;
    lines.push('', `#### ${{ create: 'Create', update: 'Update', delete: 'Delete' }[action]} (${changes.length})`, '');
    if (action === 'delete') {
      lines.push(...changes.map((change) => `- :warning: \`${cell(title(change))}\``));
      continue;
    }
    lines.push('<details><summary>fields</summary>', '', '| object | field | old | new |', '|---|---|---|---|');
    for (const change of changes) {
      if (change.fields.length === 0) lines.push(`| \`${cell(title(change))}\` | | | |`);
      for (const field of change.fields) lines.push(`| \`${cell(title(change))}\` | ${field.field} | ${cell(action === 'create' ? '' : show(field.old))} | ${cell(show(field.new))} |`);
    }
    lines.push('', '</details>');
  }
  return `${lines.join('\n')}\n`;
}
