// A UDP socket that tells which interface each datagram arrived on and which address it was sent to, and can
// choose the interface and source address of a reply. Node's dgram drops IP_PKTINFO, which a DHCP server needs to
// tell broadcasts from unicasts and to answer a 255.255.255.255 broadcast out of the right interface.
// The work is done by the native addon build/Release/hangar_udp.node (native/udp/hangar_udp.c).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ReceivedDatagram {
  data: Buffer;
  /** The interface the datagram arrived on. */
  ifindex: number;
  source: string;
  sourcePort: number;
  /** The datagram's destination address: 255.255.255.255 for a broadcast, the server's address for a unicast. */
  destination: string;
}

export interface SendTarget {
  address: string;
  port: number;
  /** The interface to leave by; needed for 255.255.255.255, which has no route. */
  ifindex?: number;
  /** The source address; must be one of this host's. */
  source?: string;
}

export interface PktinfoSocketOptions {
  port: number;
  /** Default 0.0.0.0: a socket bound to one address does not receive broadcasts. */
  address?: string;
  /** Default 8 MiB, so a burst of requests waits in the kernel instead of being dropped. */
  receiveBufferBytes?: number;
  /** Default: the kernel's. */
  sendBufferBytes?: number;
  /** Called once per event-loop wakeup with every datagram read in it (up to 1,024). */
  onDatagrams(batch: ReceivedDatagram[]): void;
  /** A failure while receiving; without this handler it is thrown as an uncaught exception, as dgram does. */
  onError?(error: Error): void;
}

export interface PktinfoSocket {
  /** False when the kernel's send buffer was full and the datagram was dropped; throws on other errors. */
  send(data: Uint8Array, to: SendTarget): boolean;
  close(): void;
  ref(): void;
  unref(): void;
  /** The bound port (the kernel's choice when opened with port 0). */
  readonly port: number;
}

declare const nativeHandle: unique symbol;
type NativeHandle = { readonly [nativeHandle]: true };

interface HangarUdpAddon {
  open(
    port: number,
    address: string,
    receiveBufferBytes: number,
    sendBufferBytes: number,
    onDatagrams: (batch: ReceivedDatagram[]) => void,
    onError: (error: Error) => void,
  ): { handle: NativeHandle; port: number };
  /** Bytes sent, or -1 when dropped for lack of buffer space. */
  send(handle: NativeHandle, data: Uint8Array, address: string, port: number, ifindex: number, source: string | null): number;
  close(handle: NativeHandle): void;
  ref(handle: NativeHandle): void;
  unref(handle: NativeHandle): void;
  interfaceIndex(name: string): number;
}

const DEFAULT_RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;

let addon: HangarUdpAddon | undefined;

const ADDON_PATH = ['build', 'Release', 'hangar_udp.node'];

function isHangarPackage(dir: string): boolean {
  try {
    const manifest: unknown = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    return typeof manifest === 'object' && manifest !== null && (manifest as { name?: unknown }).name === 'hangar';
  } catch {
    return false; // no package.json here, or not readable
  }
}

// Walks up from this module: the same walk works from dist/src/core/udp/ (tsc output) and from dist/hangar.mjs (the
// bundle). tsc copies package.json into its output directory, so the first Hangar package.json may be dist/'s: take
// the first one with the addon beside it.
function addonPath(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  let expected: string | undefined;
  for (let dir = start; ; dir = dirname(dir)) {
    if (isHangarPackage(dir)) {
      expected = join(dir, ...ADDON_PATH);
      if (existsSync(expected)) return expected;
    }
    if (dirname(dir) === dir) break;
  }
  throw new Error(
    `the native UDP addon ${expected ?? ADDON_PATH.join('/')} is missing (looked above ${start}); run \`npm ci\`, which builds it with node-gyp`,
  );
}

/** Loaded on first use, so commands that never open a DHCP or TFTP socket do not need the addon. */
function loadAddon(): HangarUdpAddon {
  if (addon) return addon;
  const path = addonPath();
  try {
    addon = createRequire(import.meta.url)(path) as HangarUdpAddon;
  } catch (cause) {
    throw new Error(`the native UDP addon ${path} could not be loaded; rebuild it with \`npm ci\``, { cause });
  }
  return addon;
}

export function openPktinfoSocket(options: PktinfoSocketOptions): PktinfoSocket {
  const native = loadAddon();
  const onError =
    options.onError ??
    ((error: Error) => {
      throw error;
    });
  const { handle, port } = native.open(
    options.port,
    options.address ?? '0.0.0.0',
    options.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER_BYTES,
    options.sendBufferBytes ?? 0,
    (batch) => options.onDatagrams(batch),
    onError,
  );
  return {
    port,
    send(data, to) {
      return native.send(handle, data, to.address, to.port, to.ifindex ?? 0, to.source ?? null) >= 0;
    },
    close() {
      native.close(handle); // idempotent
    },
    ref() {
      native.ref(handle);
    },
    unref() {
      native.unref(handle);
    },
  };
}

/** The kernel's index of the named interface (if_nametoindex); throws for an unknown name. */
export function interfaceIndex(name: string): number {
  return loadAddon().interfaceIndex(name);
}
