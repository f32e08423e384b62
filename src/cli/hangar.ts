#!/usr/bin/env node
import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import { loadConfig } from '../config.js';
import { parseDuration } from '../core/duration.js';
import { InvalidError } from '../core/errors.js';
import type { Services } from '../main.js';
import { HANGAR_VERSION } from '../version.js';
import { registerExportCommands } from './export.js';
import { registerFleetCommands } from './fleet.js';
import { registerImageCommands } from './images.js';
import { registerInventoryCommands } from './inventory.js';
import { fail, printJson, printRows } from './output.js';

const program = new Command('hangar')
  .description('Bare-metal fleet controller')
  .version(HANGAR_VERSION)
  .option('--data <dir>', 'data directory of the embedded SQLite store (env HANGAR_DATA; HANGAR_DATABASE_URL selects PostgreSQL)')
  .showHelpAfterError();

const cliActor = () => `cli:${userInfo().username}`;

/** Runs a command against the store directly (no server needed), then closes it. */
async function withServices<T>(command: Command, work: (services: Services) => Promise<T>): Promise<T> {
  const config = loadConfig({ data: command.optsWithGlobals<{ data?: string }>().data, env: process.env });
  // Loaded on demand so `hangar --help` and argument errors answer at once.
  const { openServices } = await import('../main.js');
  const services = await openServices(config);
  try {
    return await work(services);
  } finally {
    await services.store.close();
  }
}

/** `30d`, `12h` from now, or an absolute ISO-8601 time. */
function expiryFrom(text: string, now: Date): string {
  if (/^\d+(?:\.\d+)?(?:ms|s|m|h|d|w)/.test(text)) return new Date(now.getTime() + parseDuration(text, 'expires')).toISOString();
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) throw new InvalidError(`--expires: '${text}' is neither a duration (30d) nor a date-time`, 'expires');
  return at.toISOString();
}

program
  .command('serve')
  .description('run the Hangar server')
  .option('--listen <host:port>', 'address of the HTTP API (env HANGAR_LISTEN; default 127.0.0.1:8080)')
  .option('--dhcp <iface[,iface]>', 'serve DHCP and PXE on these interfaces (env HANGAR_DHCP; needs root or CAP_NET_BIND_SERVICE)')
  .option('--tftp [address[:port]]', 'serve DATA/tftp and the iPXE binaries over TFTP (env HANGAR_TFTP; default all addresses, port 69)')
  .option('--max-image-transfers <n>', 'image transfers at once before answering 503 with Retry-After (env HANGAR_MAX_IMAGE_TRANSFERS; default 64)')
  .option('--sync-repo <path-or-url>', 'follow this git repository and apply each new commit of --sync-branch')
  .option('--sync-branch <branch>', 'the branch --sync-repo follows', 'main')
  .option('--sync-dir <dir>', 'the fleet directory inside the repository', '.')
  .option('--sync-interval <duration>', 'how often to fetch', '30s')
  .action(async (options: { listen?: string; dhcp?: string; tftp?: string | boolean; maxImageTransfers?: string; syncRepo?: string; syncBranch: string; syncDir: string; syncInterval: string }, command: Command) => {
    const config = loadConfig({
      data: command.optsWithGlobals<{ data?: string }>().data,
      listen: options.listen,
      dhcp: options.dhcp,
      tftp: options.tftp,
      maxImageTransfers: options.maxImageTransfers,
      sync: { repository: options.syncRepo, branch: options.syncBranch, directory: options.syncDir, interval: options.syncInterval },
      env: process.env,
    });
    const { serve } = await import('../main.js');
    const server = await serve(config);
    const shutdown = () => {
      server.stop().then(
        () => process.exit(0),
        (error: unknown) => fail(error),
      );
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });

const token = program.command('token').description('API tokens');

token
  .command('create')
  .description('create a token and print it (the secret is shown only once)')
  .addOption(new Option('--scope <scope>', 'what the token may do').choices(['read', 'write', 'admin']).makeOptionMandatory())
  .option('--tenant <slug>', 'restrict the token to one tenant')
  .option('--expires <when>', 'duration from now (30d, 12h) or a date-time')
  .option('--description <text>', 'what the token is for')
  .option('--json', 'print an object with a token field')
  .action(async (options: { scope: string; tenant?: string; expires?: string; description?: string; json?: boolean }, command: Command) => {
    await withServices(command, async (services) => {
      const expires = options.expires ? expiryFrom(options.expires, services.clock.now()) : null;
      const { token: secret, record } = await services.tokens.create(
        { scope: options.scope, tenant: options.tenant ?? null, expires, description: options.description },
        cliActor(),
      );
      if (options.json) printJson({ token: secret, ...record });
      else process.stdout.write(`${secret}\n`);
    });
  });

token
  .command('list')
  .description('list tokens (never their secrets)')
  .option('--json', 'JSON output')
  .action(async (options: { json?: boolean }, command: Command) => {
    await withServices(command, async (services) => {
      printRows(
        await services.tokens.list(),
        [
          ['ID', (t) => t.id],
          ['PREFIX', (t) => t.key_prefix],
          ['SCOPE', (t) => t.scope],
          ['TENANT', (t) => t.tenant],
          ['EXPIRES', (t) => t.expires],
          ['DESCRIPTION', (t) => t.description],
        ],
        options.json ?? false,
      );
    });
  });

token
  .command('revoke')
  .description('revoke a token by id')
  .argument('<id>', 'token id (from token list)')
  .action(async (id: string, _options: unknown, command: Command) => {
    if (!/^\d+$/.test(id)) throw new InvalidError(`token id '${id}' is not a number`, 'id');
    await withServices(command, async (services) => {
      const revoked = await services.tokens.revoke(Number(id), cliActor());
      process.stdout.write(`revoked token ${revoked.id} (${revoked.key_prefix}...)\n`);
    });
  });

const audit = program.command('audit').description('the hash-chained audit log');

audit
  .command('list')
  .description('list audit entries, newest first')
  .option('--limit <n>', 'how many', '50')
  .option('--object-type <type>', 'only entries about this type of object')
  .option('--json', 'JSON output')
  .action(async (options: { limit: string; objectType?: string; json?: boolean }, command: Command) => {
    const limit = Number(options.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new InvalidError(`--limit: '${options.limit}' is not a positive integer`, 'limit');
    await withServices(command, async (services) => {
      const { results } = await services.audit.list({ limit, objectType: options.objectType });
      printRows(
        results,
        [
          ['ID', (e) => e.id],
          ['TIME', (e) => e.time],
          ['ACTOR', (e) => e.actor],
          ['ACTION', (e) => e.action],
          ['OBJECT', (e) => `${e.object_type}:${e.object_id}`],
        ],
        options.json ?? false,
      );
    });
  });

audit
  .command('verify')
  .description('check the hash chain; exits 1 and names the first bad entry if any entry was altered, removed or reordered')
  .option('--json', 'JSON output')
  .action(async (options: { json?: boolean }, command: Command) => {
    const result = await withServices(command, (services) => services.audit.verify());
    if (options.json) printJson(result);
    else if (result.ok) process.stdout.write(`audit log intact: ${result.checked} entries verified\n`);
    else process.stderr.write(`audit log broken at entry ${result.problem?.id}: ${result.problem?.reason}\n`);
    if (!result.ok) process.exitCode = 1;
  });

registerInventoryCommands(program);
registerFleetCommands(program);
registerImageCommands(program);
registerExportCommands(program, withServices);

program.parseAsync(process.argv).catch(fail);
