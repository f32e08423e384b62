import { parseDuration } from './core/duration.js';
import { InvalidError } from './core/errors.js';

/** The one typed configuration, parsed and checked once from flags and environment. */
export interface Config {
  dataDir: string;
  databaseUrl: string | undefined;
  listen: { host: string; port: number };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Interfaces the DHCP server answers on (`--dhcp`); empty: no DHCP server. */
  dhcpInterfaces: string[];
  /** Where the TFTP server listens (`--tftp`); absent: no TFTP server. */
  tftp?: { address: string; port: number } | undefined;
  /** Image transfers served at once before the boot service answers 503 with Retry-After (`--max-image-transfers`). */
  maxImageTransfers: number;
  /** Follow a git branch and apply each new commit (`--sync-repo`). */
  sync?: SyncConfig | undefined;
}

export interface SyncConfig {
  /** A local path or a URL git can fetch. */
  repository: string;
  branch: string;
  /** The fleet directory inside the repository. */
  directory: string;
  intervalMs: number;
}

export const DEFAULT_DATA_DIR = './hangar-data';
export const DEFAULT_LISTEN = '127.0.0.1:8080';

/** Parses `HOST:PORT`, `[V6]:PORT` or `:PORT`. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new InvalidError(`--listen: '${text}' is not HOST:PORT (for example 127.0.0.1:8080 or [::1]:8080)`, 'listen');
  }
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

const LOG_LEVELS: ReadonlyArray<Config['logLevel']> = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ConfigSources {
  data?: string | undefined;
  listen?: string | undefined;
  sync?: { repository?: string | undefined; branch: string; directory: string; interval: string } | undefined;
  dhcp?: string | undefined;
  /** `--tftp` alone is true; with a value, ADDRESS or ADDRESS:PORT. */
  tftp?: string | boolean | undefined;
  maxImageTransfers?: string | undefined;
  env: NodeJS.ProcessEnv;
}

export const TFTP_PORT = 69;

/** `--tftp` (all addresses), `--tftp ADDRESS` or `--tftp ADDRESS:PORT`. */
export function parseTftp(value: string | boolean | undefined): Config['tftp'] {
  if (value === undefined || value === false || value === '') return undefined;
  if (value === true) return { address: '0.0.0.0', port: TFTP_PORT };
  const match = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(value.trim());
  const port = match?.[2] === undefined ? TFTP_PORT : Number(match[2]);
  if (!match || match[1]!.split('.').some((part) => Number(part) > 255) || port > 65535) {
    throw new InvalidError(`--tftp: '${value}' is not an IPv4 ADDRESS or ADDRESS:PORT (for example 10.0.0.1 or 0.0.0.0:69)`, 'tftp');
  }
  return { address: match[1]!, port };
}

/** Enough to fill a 10 Gb/s link with large files while a rack boots; beyond it, machines queue. */
export const DEFAULT_MAX_IMAGE_TRANSFERS = 64;

function parseMaxImageTransfers(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_MAX_IMAGE_TRANSFERS;
  const count = Number(value);
  if (!/^\d+$/.test(value.trim()) || count < 1 || count > 100_000) {
    throw new InvalidError(`--max-image-transfers: '${value}' is not a whole number from 1 to 100000`, 'max-image-transfers');
  }
  return count;
}

export function loadConfig({ data, listen, sync, dhcp, tftp, maxImageTransfers, env }: ConfigSources): Config {
  const logLevel = (env.HANGAR_LOG_LEVEL ?? 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new InvalidError(`HANGAR_LOG_LEVEL: '${logLevel}' is not one of ${LOG_LEVELS.join(', ')}`, 'HANGAR_LOG_LEVEL');
  }
  return {
    dataDir: data ?? env.HANGAR_DATA ?? DEFAULT_DATA_DIR,
    databaseUrl: env.HANGAR_DATABASE_URL || undefined,
    listen: parseListen(listen ?? env.HANGAR_LISTEN ?? DEFAULT_LISTEN),
    logLevel,
    dhcpInterfaces: (dhcp ?? env.HANGAR_DHCP ?? '').split(',').map((name) => name.trim()).filter((name) => name !== ''),
    tftp: parseTftp(tftp ?? env.HANGAR_TFTP),
    maxImageTransfers: parseMaxImageTransfers(maxImageTransfers ?? env.HANGAR_MAX_IMAGE_TRANSFERS),
    sync: sync?.repository
      ? { repository: sync.repository, branch: sync.branch, directory: sync.directory, intervalMs: parseDuration(sync.interval, '--sync-interval') }
      : undefined,
  };
}
