import { Command } from 'commander';
import { ConflictError, InvalidError, NotFoundError } from '../core/errors.js';
import { formatAddress, formatPrefix, parseAddress, parsePrefix } from '../core/net/index.js';
import { ApiError, clientConfigFrom, HangarClient, type QueryPairs } from './client.js';
import { printJson, printRows } from './output.js';

/**
 * Inventory and IPAM commands. Unlike `token` and `audit` they talk to a running `hangar serve` over its
 * NetBox-compatible API (HANGAR_URL, HANGAR_TOKEN): the token decides which tenant's objects they see and
 * whose name the audit log records.
 */

/** The few fields of NetBox objects these commands show. */
interface Brief {
  id: number;
  display: string;
}
interface Choice {
  value: string;
  label: string;
}
interface Device {
  name: string | null;
  display: string;
  status: Choice | null;
  site: Brief | null;
  role: Brief | null;
  tenant: Brief | null;
  primary_ip: (Brief & { address: string }) | null;
  serial: string;
}
interface Prefix {
  id: number;
  prefix: string;
  status: Choice | null;
  site: Brief | null;
  tenant: Brief | null;
  description: string;
}
interface IpRange {
  id: number;
  start_address: string;
  end_address: string;
  display: string;
}
interface IpAddress {
  address: string;
  status: Choice | null;
  dns_name: string;
  tenant: Brief | null;
  assigned_object: (Brief & { name: string; device: Brief | null }) | null;
}
interface Whois {
  address: string;
  prefix: Prefix | null;
  ip_ranges: IpRange[];
  ip_address: IpAddress | null;
}

/** At most what the server returns in one available-ips answer, so a dry run sees as far as an allocation. */
const MAX_COUNT = 1000;

function client(): HangarClient {
  return new HangarClient(clientConfigFrom(process.env));
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function positiveInteger(text: string, option: string, max?: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > (max ?? Number.MAX_SAFE_INTEGER)) {
    throw new InvalidError(`--${option}: '${text}' is not ${max === undefined ? 'a positive integer' : `an integer from 1 to ${max}`}`, option);
  }
  return n;
}

/** `--filter key=value` as a query pair; the server rejects names it does not know. */
function filterPair(text: string): [string, string] {
  const at = text.indexOf('=');
  const name = at < 0 ? '' : text.slice(0, at);
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new InvalidError(`--filter: '${text}' is not key=value (for example name__isw=web)`, 'filter');
  if (name === 'limit' || name === 'offset') throw new InvalidError(`--filter: ${name} is not a filter; use --limit`, 'filter');
  return [name, text.slice(at + 1)];
}

interface DeviceListOptions {
  site?: string;
  role?: string;
  tenant?: string;
  tag?: string[];
  status?: string;
  q?: string;
  mac?: string;
  serial?: string;
  filter?: string[];
  limit?: string;
  json?: boolean;
}

async function listDevices(options: DeviceListOptions): Promise<void> {
  const limit = options.limit === undefined ? Infinity : positiveInteger(options.limit, 'limit');
  const named: Array<[string, string | undefined]> = [
    ['site', options.site],
    ['role', options.role],
    ['tenant', options.tenant],
    ['status', options.status],
    ['q', options.q],
    ['mac_address', options.mac],
    ['serial', options.serial],
  ];
  const query: QueryPairs = [
    ...named.filter((pair): pair is [string, string] => pair[1] !== undefined),
    ...(options.tag ?? []).map((tag) => ['tag', tag] as const),
    ...(options.filter ?? []).map(filterPair),
  ];
  const devices = await client().list<Device>('/api/dcim/devices/', query, limit);
  printRows(
    devices,
    [
      ['NAME', (d) => d.display],
      ['STATUS', (d) => d.status?.value],
      ['SITE', (d) => d.site?.display],
      ['ROLE', (d) => d.role?.display],
      ['TENANT', (d) => d.tenant?.display],
      ['PRIMARY IP', (d) => d.primary_ip?.address],
      ['SERIAL', (d) => d.serial || null],
    ],
    options.json ?? false,
  );
}

/** Where `ip next` allocates from: a prefix's or an IP range's available-ips endpoint. */
interface Pool {
  label: string;
  path: string;
}

/** Finds the prefix (`10.0.0.0/24`) or IP range (`10.0.0.100-10.0.0.199`) the argument names. */
async function findPool(api: HangarClient, text: string): Promise<Pool> {
  const dash = text.indexOf('-');
  if (dash < 0) {
    const prefix = formatPrefix(parsePrefix(text.trim(), 'prefix'));
    const {
      results: [found],
    } = await api.get<{ results: Prefix[] }>('/api/ipam/prefixes/', [['prefix', prefix]]);
    if (!found) throw new NotFoundError(`no prefix ${prefix}`);
    return { label: `prefix ${prefix}`, path: `/api/ipam/prefixes/${found.id}/available-ips/` };
  }
  const start = formatAddress(parseAddress(text.slice(0, dash).trim(), 'range start'));
  const end = formatAddress(parseAddress(text.slice(dash + 1).trim(), 'range end'));
  const bare = (withMask: string) => formatAddress(parseAddress(withMask.split('/')[0] ?? withMask));
  const ranges = await api.list<IpRange>('/api/ipam/ip-ranges/', [['contains', start]]);
  const found = ranges.find((range) => bare(range.start_address) === start && bare(range.end_address) === end);
  if (!found) throw new NotFoundError(`no IP range ${start}-${end}`);
  return { label: `IP range ${start}-${end}`, path: `/api/ipam/ip-ranges/${found.id}/available-ips/` };
}

interface IpNextOptions {
  count: string;
  dnsName?: string;
  description?: string;
  status?: string;
  dryRun?: boolean;
  json?: boolean;
}

async function nextAddresses(target: string, options: IpNextOptions): Promise<void> {
  const count = positiveInteger(options.count, 'count', MAX_COUNT);
  const api = client();
  const pool = await findPool(api, target);
  const short = () => new ConflictError(count === 1 ? `${pool.label} is full` : `${pool.label} has fewer than ${count} free addresses; nothing was allocated`);
  if (options.dryRun) {
    const free = await api.get<Array<{ address: string }>>(pool.path, [['limit', String(count)]]);
    if (free.length < count) throw short();
    if (options.json) printJson(free);
    else process.stdout.write(free.map((f) => `${f.address}\n`).join(''));
    return;
  }
  const fields = { dns_name: options.dnsName, description: options.description, status: options.status };
  const item = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  let created: IpAddress[];
  try {
    created = await api.post<IpAddress[]>(pool.path, Array.from({ length: count }, () => item));
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) throw short();
    throw error;
  }
  if (options.json) printJson(created);
  else process.stdout.write(created.map((ip) => `${ip.address}\n`).join(''));
}

function describeWhois(found: Whois): string {
  const details = (...parts: Array<string | null | undefined>) => {
    const shown = parts.filter((part): part is string => Boolean(part));
    return shown.length > 0 ? ` (${shown.join(', ')})` : '';
  };
  const { prefix, ip_address: ip } = found;
  const lines: Array<[string, string]> = [
    ['address', found.address],
    [
      'prefix',
      prefix
        ? `${prefix.prefix}${details(`tenant ${prefix.tenant?.display ?? '-'}`, prefix.site && `site ${prefix.site.display}`, prefix.status?.value, prefix.description)}`
        : 'not in any prefix',
    ],
    ['ip ranges', found.ip_ranges.map((range) => range.display).join(', ') || '-'],
    [
      'ip address',
      ip
        ? `${ip.address}${details(ip.status?.value, ip.tenant && `tenant ${ip.tenant.display}`, ip.dns_name && `dns ${ip.dns_name}`)}` +
          (ip.assigned_object ? ` on device ${ip.assigned_object.device?.display ?? '-'} interface ${ip.assigned_object.name}` : ', not assigned')
        : 'not allocated',
    ],
  ];
  return lines.map(([label, text]) => `${label.padEnd(11)} ${text}\n`).join('');
}

async function whois(address: string, options: { json?: boolean }): Promise<void> {
  const found = await client().get<Whois>('/api/ipam/whois/', [['address', address]]);
  if (options.json) printJson(found);
  else process.stdout.write(describeWhois(found));
}

export function registerInventoryCommands(program: Command): void {
  const viaApi = 'Talks to `hangar serve` at HANGAR_URL (default http://127.0.0.1:8080) with the API token in HANGAR_TOKEN.';

  const devices = program.command('devices').description('devices in the inventory (through the API)');
  devices
    .command('list')
    .description(`list devices, following pages; filters are NetBox's. ${viaApi}`)
    .option('--site <slug>', 'at this site')
    .option('--role <slug>', 'with this role')
    .option('--tenant <slug>', 'of this tenant')
    .option('--tag <slug>', 'carrying this tag; repeat for devices carrying all of them', collect)
    .option('--status <status>', 'offline, active, planned, staged, failed, inventory or decommissioning')
    .option('--q <text>', 'free-text search (name, serial, asset tag, description)')
    .option('--mac <mac>', 'with an interface of this MAC address (any notation)')
    .option('--serial <serial>', 'with this serial number')
    .option('--filter <key=value>', 'any NetBox filter, e.g. name__isw=web or site_id=3; repeatable', collect)
    .option('--limit <n>', 'at most this many devices (default: all)')
    .option('--json', 'print the API objects as JSON')
    .action((options: DeviceListOptions) => listDevices(options));

  const ip = program.command('ip').description('IP address management (through the API)');
  ip.command('next')
    .description(`allocate the next free address(es) of a prefix or IP range and print them one per line. ${viaApi}`)
    .argument('<prefix-or-range>', 'a prefix (10.0.0.0/24) or an IP range (10.0.0.100-10.0.0.199)')
    .option('--count <n>', `how many addresses, all or none (at most ${MAX_COUNT})`, '1')
    .option('--dns-name <name>', 'DNS name of the new address(es)')
    .option('--description <text>', 'description of the new address(es)')
    .option('--status <status>', 'active (default), reserved, deprecated, dhcp or slaac')
    .option('--dry-run', 'print what would be allocated; allocate nothing')
    .option('--json', 'print the API objects as JSON')
    .action((target: string, options: IpNextOptions) => nextAddresses(target, options));

  ip.command('whois')
    .description(`whose is this address: the narrowest prefix (with its tenant), IP ranges, and the IP address with its device and interface. ${viaApi}`)
    .argument('<address>', 'an IPv4 or IPv6 address')
    .option('--json', 'print the API answer as JSON')
    .action((address: string, options: { json?: boolean }) => whois(address, options));
}
