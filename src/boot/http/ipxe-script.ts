/**
 * The per-machine iPXE script: either `exit` (the firmware moves on to the next boot device, the local disk) or
 * a kernel, initrd and optional live-boot squashfs fetched from image mirrors in the machine's own order.
 *
 * Retries happen at two levels. An image server over its admission limit answers 503 with Retry-After, and
 * iPXE's HTTP client retries that same request by itself after the given delay, so a boot storm queues on each
 * machine's first-choice mirror. What iPXE does not retry (refused connection, 404, 5xx without Retry-After, a
 * mirror that sends nothing for `stallTimeoutSeconds`) fails the command, and the script moves to the next
 * mirror; after the last one it sleeps (growing per round, jittered per machine) and starts the list again,
 * for a bounded number of rounds.
 *
 * iPXE's parser (src/core/exec.c, src/image/script.c) has no quoting: a line is split on whitespace, `||`,
 * `&&` and `;` tokens end a command, a token starting with `#` starts a comment, `${...}` is expanded everywhere
 * and a line ending in `\` continues on the next. Kernel arguments go in verbatim, so anything that would be
 * read differently is refused with an `IpxeScriptError` naming the field; file paths are percent-encoded.
 */
import { createHash } from 'node:crypto';
import { InvalidError } from '../../core/errors.js';
import { formatMac, parseMac } from '../../core/net/index.js';

/** A value that cannot be put into an iPXE script as it is. `field` names the input field at fault. */
export class IpxeScriptError extends InvalidError {}

export interface IpxeRetryPolicy {
  /** Passes over the whole mirror list before the script gives up with `exit 1`. */
  readonly rounds: number;
  /** Base pause after the first failed round; it doubles each round up to `maxDelaySeconds`. */
  readonly firstDelaySeconds: number;
  readonly maxDelaySeconds: number;
  /**
   * `--timeout` of each download: a mirror that delivers no data for this long, including one that keeps
   * answering 503, is abandoned for the next one.
   */
  readonly stallTimeoutSeconds: number;
}

/** Worst case before giving up: 6 rounds and 5 pauses of about 10 + 20 + 40 + 40 + 40 seconds. */
export const DEFAULT_IPXE_RETRY: IpxeRetryPolicy = { rounds: 6, firstDelaySeconds: 5, maxDelaySeconds: 20, stallTimeoutSeconds: 120 };

export interface LocalBootScriptInput {
  readonly mac: string;
  readonly boot: 'local';
}

export interface ImageBootScriptInput {
  readonly mac: string;
  readonly boot: 'image';
  /** Paths relative to each mirror's base URL, as the image version stores them. */
  readonly kernel: string;
  readonly initrd: string;
  /** A live-boot root filesystem, passed as `fetch=<mirror>/<file>` from the mirror that served the kernel. */
  readonly rootfs?: { readonly file: string };
  /** The profile's kernel command line. */
  readonly kernelArgs: string;
  /** Per-boot arguments appended after the profile's (enrollment puts its boot token here). */
  readonly extraKernelArgs: readonly string[];
  /** Base URLs in the order this machine tries them (see `orderMirrors`). */
  readonly mirrors: readonly string[];
  readonly retry?: Partial<IpxeRetryPolicy>;
}

export type IpxeScriptInput = LocalBootScriptInput | ImageBootScriptInput;

/** x86 and arm64 COMMAND_LINE_SIZE, terminating NUL included: Linux silently cuts anything longer. */
const KERNEL_COMMAND_LINE_MAX = 2047;
/** The name iPXE gives the initrd image; `initrd=` on the command line lets the EFI stub find it. */
const INITRD_NAME = 'initrd';
/** What live-boot's `fetch=` accepts: it picks the handler from the URL's last extension. */
const LIVE_BOOT_EXTENSIONS = ['squashfs', 'iso', 'tgz', 'tar'];
const CONTROL = /[\u0000-\u001f\u007f]/;
/** RFC 3986 characters less `?`, `#` and braces: nothing iPXE splits, expands or continues a line on. */
const MIRROR_CHARACTERS = /^[A-Za-z0-9\-._~:/[\]@!$&'()*+,;=%]+$/;

/**
 * Throws unless `args` reach the kernel exactly as written when placed on an iPXE `kernel` line. Exported so
 * a profile can be checked when it is saved, not only when a machine boots.
 */
export function checkKernelArgs(args: string, field: string): void {
  const control = CONTROL.exec(args);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).padStart(2, '0');
    throw new IpxeScriptError(`${field}: control character \\x${code} would break the iPXE script line`, field);
  }
  if (args.includes('${')) {
    throw new IpxeScriptError(`${field}: "\${" would be expanded by iPXE as a setting, and iPXE has no escape for it`, field);
  }
  for (const token of args.split(' ')) {
    if (token === '||' || token === '&&' || token === ';') {
      throw new IpxeScriptError(`${field}: "${token}" on its own ends an iPXE command`, field);
    }
    if (token.startsWith('#')) {
      throw new IpxeScriptError(`${field}: "${token}" starts an iPXE comment and would drop the rest of the line`, field);
    }
  }
}

function checkRetry(retry: Partial<IpxeRetryPolicy> | undefined): IpxeRetryPolicy {
  const policy = { ...DEFAULT_IPXE_RETRY, ...retry };
  const bounds: Record<keyof IpxeRetryPolicy, [number, number]> = {
    rounds: [1, 50],
    firstDelaySeconds: [1, 3600],
    maxDelaySeconds: [1, 3600],
    stallTimeoutSeconds: [1, 86_400],
  };
  for (const [name, [min, max]] of Object.entries(bounds) as [keyof IpxeRetryPolicy, [number, number]][]) {
    const value = policy[name];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new IpxeScriptError(`retry.${name}: expected an integer from ${min} to ${max}, got ${value}`, `retry.${name}`);
    }
  }
  if (policy.maxDelaySeconds < policy.firstDelaySeconds) {
    throw new IpxeScriptError('retry.maxDelaySeconds: must not be below retry.firstDelaySeconds', 'retry.maxDelaySeconds');
  }
  return policy;
}

/** The mirror's base URL without a trailing slash; only plain http(s) bases that iPXE reads as written. */
function checkMirror(mirror: string, field: string): string {
  let url: URL;
  try {
    url = new URL(mirror);
  } catch {
    throw new IpxeScriptError(`${field}: ${JSON.stringify(mirror)} is not a URL`, field);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new IpxeScriptError(`${field}: ${JSON.stringify(mirror)} must be an http or https URL`, field);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new IpxeScriptError(`${field}: ${JSON.stringify(mirror)} must be a base URL without credentials, query or fragment`, field);
  }
  // WHATWG parsing forgives tabs, newlines and backslashes; iPXE gets the text as written, so check that.
  if (!MIRROR_CHARACTERS.test(mirror)) {
    throw new IpxeScriptError(`${field}: ${JSON.stringify(mirror)} may hold only URL characters (no spaces, braces or backslashes)`, field);
  }
  return mirror.replace(/\/+$/, '');
}

/** A relative path as a URL path: each segment percent-encoded, so no character in a file name reaches iPXE raw. */
function encodePath(path: string, field: string): string {
  const segments = path.split('/');
  if (path === '' || segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new IpxeScriptError(
      `${field}: ${JSON.stringify(path)} must be a relative path of non-empty segments, without "." or ".." and without a leading "/"`,
      field,
    );
  }
  return segments.map((segment) => encodeURIComponent(segment)).join('/');
}

/**
 * The pause after each failed round but the last, in whole seconds: the round's base delay (doubling from
 * `firstDelaySeconds`, capped at `maxDelaySeconds`) plus up to twice that again, drawn per machine and round
 * from SHA-256 of the MAC so that machines which failed together do not retry together.
 */
export function retryPauses(mac: string, retry?: Partial<IpxeRetryPolicy>): number[] {
  const policy = checkRetry(retry);
  const key = formatMac(parseMac(mac, 'mac'), 'lower');
  return Array.from({ length: policy.rounds - 1 }, (_, index) => {
    const base = Math.min(policy.maxDelaySeconds, policy.firstDelaySeconds * 2 ** index);
    const digest = createHash('sha256').update(`ipxe-retry/${key}/${index + 1}`).digest();
    const fraction = digest.readUInt32BE(0) / 2 ** 32;
    return base + Math.floor(fraction * 2 * base);
  });
}

function renderLocalBoot(mac: string): string {
  return ['#!ipxe', `# Hangar: ${mac} boots from its local disk`, 'exit', ''].join('\n');
}

function renderImageBoot(mac: string, input: ImageBootScriptInput): string {
  const policy = checkRetry(input.retry);
  const pauses = retryPauses(mac, policy);
  if (input.mirrors.length === 0) throw new IpxeScriptError('mirrors: at least one image mirror is needed', 'mirrors');
  const mirrors = input.mirrors.map((mirror, index) => checkMirror(mirror, `mirrors.${index}`));
  mirrors.forEach((mirror, index) => {
    if (mirrors.indexOf(mirror) !== index) throw new IpxeScriptError(`mirrors.${index}: ${mirror} is listed twice`, `mirrors.${index}`);
  });
  const kernel = encodePath(input.kernel, 'kernel');
  const initrd = encodePath(input.initrd, 'initrd');
  const rootfs = input.rootfs === undefined ? undefined : encodePath(input.rootfs.file, 'rootfs.file');
  if (rootfs !== undefined) {
    const extension = rootfs.slice(rootfs.lastIndexOf('.') + 1);
    if (!rootfs.includes('.') || !LIVE_BOOT_EXTENSIONS.includes(extension)) {
      throw new IpxeScriptError(`rootfs.file: live-boot fetches only .${LIVE_BOOT_EXTENSIONS.join(', .')} files`, 'rootfs.file');
    }
  }
  checkKernelArgs(input.kernelArgs, 'kernelArgs');
  input.extraKernelArgs.forEach((arg, index) => {
    const field = `extraKernelArgs.${index}`;
    checkKernelArgs(arg, field);
    if (arg === '' || arg.includes(' ')) throw new IpxeScriptError(`${field}: one non-empty argument without spaces expected`, field);
  });
  const profileArgs = input.kernelArgs.split(' ').filter((token) => token !== '');
  if (rootfs !== undefined && profileArgs.some((token) => token.startsWith('fetch='))) {
    throw new IpxeScriptError('kernelArgs: the image has a rootfs, whose fetch= the script sets itself', 'kernelArgs');
  }

  // `${base}` is set per attempt, so fetch= always names the mirror that served this kernel.
  const commandLine = [`initrd=${INITRD_NAME}`, ...profileArgs, ...(rootfs ? [`fetch=\${base}/${rootfs}`] : []), ...input.extraKernelArgs];
  const longestBase = Math.max(...mirrors.map((mirror) => mirror.length));
  const bootedLength = commandLine.join(' ').replaceAll('${base}', 'x'.repeat(longestBase)).length;
  if (bootedLength > KERNEL_COMMAND_LINE_MAX) {
    throw new IpxeScriptError(
      `kernelArgs: the kernel command line would be ${bootedLength} characters; Linux keeps only ${KERNEL_COMMAND_LINE_MAX}`,
      'kernelArgs',
    );
  }

  const timeout = `--timeout ${policy.stallTimeoutSeconds * 1000}`;
  const lines = ['#!ipxe', `# Hangar: ${mac} boots from ${mirrors.length} mirror(s), at most ${policy.rounds} round(s)`];
  for (let round = 1; round <= policy.rounds; round++) {
    mirrors.forEach((mirror, index) => {
      const next =
        index + 1 < mirrors.length ? `round${round}_mirror${index + 2}` : round < policy.rounds ? `round${round}_wait` : 'failed';
      lines.push(
        `:round${round}_mirror${index + 1}`,
        'imgfree',
        `set base ${mirror}`,
        `kernel ${timeout} \${base}/${kernel} ${commandLine.join(' ')} || goto ${next}`,
        `initrd ${timeout} --name ${INITRD_NAME} \${base}/${initrd} || goto ${next}`,
        `boot || goto ${next}`,
      );
    });
    const pause = pauses[round - 1];
    if (pause !== undefined) {
      lines.push(`:round${round}_wait`, `echo Hangar: no image mirror answered in round ${round}, retrying in ${pause} s`, `sleep ${pause}`);
    }
  }
  lines.push(':failed', 'imgfree', `echo Hangar: no image mirror answered in ${policy.rounds} round(s)`, 'exit 1', '');
  return lines.join('\n');
}

/** The iPXE script for one machine; throws `IpxeScriptError` for any value iPXE would read differently. */
export function renderIpxeScript(input: IpxeScriptInput): string {
  const mac = formatMac(parseMac(input.mac, 'mac'), 'lower');
  return input.boot === 'local' ? renderLocalBoot(mac) : renderImageBoot(mac, input);
}
