import { createInterface } from 'node:readline/promises';
import { Command, Option } from 'commander';
import { gitOrigin, repositoryFiles } from '../fleet/files.js';
import type { Plan, PlannedChange } from '../fleet/plan.js';
import { renderMarkdown, renderText, summaryLine } from '../fleet/render.js';
import { clientConfigFrom, HangarClient } from './client.js';
import { printJson } from './output.js';

/**
 * Fleet as code: `plan`, `apply` and `drift` read the repository here and send it to `hangar serve`, which checks it
 * (errors name file, line and column) and plans against its store. Exit codes: 0 nothing to do, 2 changes, 1 error.
 */

type ApplyResult = Plan & { applied: boolean };

/** Runs a fleet command; any failure exits 1, because 2 means "there are changes". */
function fleetAction<A extends unknown[]>(work: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      process.exitCode = await work(...args);
    } catch (error) {
      process.stderr.write(`hangar: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  };
}

async function repository(dir: string) {
  const [files, origin] = await Promise.all([repositoryFiles(dir), gitOrigin(dir)]);
  return { files, origin };
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim().toLowerCase() === 'yes';
  } finally {
    rl.close();
  }
}

export function registerFleetCommands(program: Command): void {
  program
    .command('plan')
    .description('show what apply would create, update and delete (exit 0: nothing, 2: changes, 1: error)')
    .requiredOption('--repo <dir>', 'the fleet directory')
    .option('--json', 'the plan as JSON')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'markdown', 'json']).default('text'))
    .action(
      fleetAction(async (options: { repo: string; json?: boolean; format: string }) => {
        const { files } = await repository(options.repo);
        const plan = await new HangarClient(clientConfigFrom(process.env)).post<Plan>('/api/fleet/plan/', { files });
        const format = options.json ? 'json' : options.format;
        if (format === 'json') printJson(plan);
        else if (format === 'markdown') process.stdout.write(renderMarkdown(plan));
        else process.stdout.write(`${plan.changes.length > 0 ? `${renderText(plan.changes)}\n\n` : ''}${summaryLine(plan)}\n`);
        return plan.changes.length === 0 ? 0 : 2;
      }),
    );

  program
    .command('apply')
    .description('apply the plan in one transaction; deletes need --allow-delete')
    .requiredOption('--repo <dir>', 'the fleet directory')
    .option('--allow-delete', 'delete managed objects that left the repository')
    .option('--yes', 'apply without asking')
    .option('--plan-hash <hash>', 'apply only if the plan is still this one (the hash a reviewed plan printed)')
    .option('--json', 'the applied plan as JSON')
    .action(
      fleetAction(async (options: { repo: string; allowDelete?: boolean; yes?: boolean; planHash?: string; json?: boolean }) => {
        const { files, origin } = await repository(options.repo);
        const client = new HangarClient(clientConfigFrom(process.env));
        const plan = await client.post<Plan>('/api/fleet/plan/', { files });
        if (plan.changes.length === 0) {
          if (options.json) printJson({ ...plan, applied: false });
          else process.stdout.write(`${summaryLine(plan)}\n`);
          return 0;
        }
        if (!options.json) process.stdout.write(`${renderText(plan.changes)}\n\n${summaryLine(plan)}\n`);
        if (!options.yes) {
          if (!process.stdin.isTTY) throw new Error('not applying without --yes: standard input is not a terminal to confirm on');
          if (!(await confirm('Apply this plan? Only "yes" applies: '))) throw new Error('apply cancelled; nothing was changed');
        }
        const result = await client.postLong<ApplyResult>('/api/fleet/apply/', {
          files,
          allow_delete: options.allowDelete ?? false,
          plan_hash: options.planHash ?? plan.hash,
          ...origin,
        });
        if (options.json) printJson(result);
        else process.stdout.write(`Applied${origin.commit ? ` ${origin.commit}` : ''}: ${result.summary.create} created, ${result.summary.update} updated, ${result.summary.delete} deleted.\n`);
        return 0;
      }),
    );

  program
    .command('drift')
    .description('managed objects changed outside the repository since the last apply (exit 0: none, 2: drift, 1: error)')
    .option('--repo <dir>', 'the fleet directory (checked, for symmetry with plan)')
    .option('--json', 'JSON output')
    .action(
      fleetAction(async (options: { repo?: string; json?: boolean }) => {
        if (options.repo) await repositoryFiles(options.repo);
        const drift = await new HangarClient(clientConfigFrom(process.env)).get<{ count: number; results: PlannedChange[] }>('/api/fleet/drift/');
        if (options.json) printJson(drift);
        else process.stdout.write(drift.count === 0 ? 'No drift: managed objects are as the last apply left them.\n' : `${renderText(drift.results)}\n\n${drift.count} object(s) drifted.\n`);
        return drift.count === 0 ? 0 : 2;
      }),
    );
}
