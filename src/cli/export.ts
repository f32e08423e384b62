/** `hangar export ...`: the site's configuration in other tools' formats, read straight from the store. */

import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import { keaDhcp4Fragment } from '../boot/dhcp/kea-export.js';
import { loadSiteConfig } from '../boot/dhcp/site-config.js';
import type { Services } from '../main.js';

/** Opens the store for one command and closes it after; hangar.ts passes its own. */
export type WithServices = <T>(command: Command, work: (services: Services) => Promise<T>) => Promise<T>;

export function registerExportCommands(program: Command, withServices: WithServices): void {
  const exporter = program.command('export').description("the site's configuration in other tools' formats");

  exporter
    .command('kea')
    .description('boot subnets and reservations as a Kea DHCPv4 config fragment (JSON; proxy subnets are left out)')
    .option('--output <file>', 'write to this file instead of standard output')
    .action(async (options: { output?: string }, command: Command) => {
      await withServices(command, async (services) => {
        const site = await loadSiteConfig(services.store.db as unknown as Kysely<unknown>);
        for (const problem of site.problems) process.stderr.write(`warning: ${problem}\n`);
        const text = `${JSON.stringify(keaDhcp4Fragment(site), null, 2)}\n`;
        if (options.output === undefined) process.stdout.write(text);
        else writeFileSync(options.output, text);
      });
    });
}
