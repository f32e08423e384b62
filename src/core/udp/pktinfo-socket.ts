// A UDP socket that tells which interface each datagram arrived on and which address it was sent to, and can
// choose the interface and source address of a reply. Node's dgram drops IP_PKTINFO, which a DHCP server needs to
// tell broadcasts from unicasts and to answer a 255.255.255.255 broadcast out of the right interface.
// The work is done by the native addon build/Release/hangar_udp.node (native/udp/hangar_udp.c).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dottedQuadToNumber, numberToDottedQuad } from '../net/index.js';

export interface ReceivedDatagram {
  /** The receiver's own copy (a view into one Buffer for the whole batch). */
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
  /** The interface to leave by; needed for 255.255.255.255, which has no route. Absent, null or 0: routing decides. */
  ifindex?: number | null;
  /** The source address; must be one of this host's. */
  source?: string;
}

export interface OutgoingDatagram {
  data: Uint8Array;
  to: SendTarget;
}

export interface PktinfoSocketOptions {
  port: number;
  /** Default 0.0.0.0: a socket bound to one address does not receive broadcasts. */
  address?: string;
  /** Default 8 MiB, so a burst of requests waits in the kernel instead of being dropped. */
  receiveBufferBytes?: number;
  /** Default: the kernel's. */
  sendBufferBytes?: number;
  /** Called with the datagrams read in an event-loop wakeup, up to 1,024 (in several calls past a mebibyte of them). */
  onDatagrams(batch: ReceivedDatagram[]): void;
  /** A failure while receiving; without this handler it is thrown as an uncaught exception, as dgram does. */
  onError?(error: Error): void;
}

export interface PktinfoSocket {
  /** False when the kernel's send buffer was full and the datagram was dropped; throws on other errors. */
  send(data: Uint8Array, to: SendTarget): boolean;
  /**
   * Sends datagrams in order with as few system calls as possible (sendmmsg) and returns how many were sent. One the
   * kernel had no buffer space for is dropped; one that fails otherwise goes to onFailure with its index. Neither
   * stops the rest. Invalid arguments (an address that is not a dotted quad, a port out of range) throw before
   * anything is sent.
   */
  sendBatch(datagrams: readonly OutgoingDatagram[], onFailure?: (error: Error, index: number) => void): number;
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
    address: number,
    receiveBufferBytes: number,
    sendBufferBytes: number,
    payloads: Uint8Array,
    metadata: Uint32Array,
    onDatagrams: (count: number) => void,
    onError: (error: Error) => void,
  ): { handle: NativeHandle; port: number };
  /** Datagrams sent; each one not sent is pushed onto failures as its index and null (dropped) or an Error. */
  sendBatch(handle: NativeHandle, datagrams: readonly Uint8Array[], targets: Uint32Array, count: number, failures: Array<number | Error | null>): number;
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

/** Per received datagram in the addon's metadata: offset in payloads, length, ifindex, source, source port, destination. */
const METADATA_FIELDS = 6;
/** Per datagram to send, in the addon's targets: address, port, ifindex, source. */
const TARGET_FIELDS = 4;
/** The most datagrams one onDatagrams call gets: the addon reads at most this many per wakeup. */
const MAX_PER_CALL = 1024;
/** Payload bytes lent to the addon: a full batch of DHCP-sized datagrams, and at least the largest UDP payload. */
const PAYLOAD_BYTES = 1024 * 1024;

export function openPktinfoSocket(options: PktinfoSocketOptions): PktinfoSocket {
  const native = loadAddon();
  const onError =
    options.onError ??
    ((error: Error) => {
      throw error;
    });
  // Lent to the addon, which writes each call's datagrams there; datagramsOf copies them out.
  const payloads = new Uint8Array(PAYLOAD_BYTES);
  const metadata = new Uint32Array(MAX_PER_CALL * METADATA_FIELDS);
  const { handle, port } = native.open(
    options.port,
    ipv4Number(options.address ?? '0.0.0.0', 'address'),
    options.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER_BYTES,
    options.sendBufferBytes ?? 0,
    payloads,
    metadata,
    (count) => options.onDatagrams(datagramsOf(payloads, metadata, count)),
    onError,
  );
  // Reused by every call: the addon copies what it needs before returning.
  let targets = new Uint32Array(64 * TARGET_FIELDS);
  const datagrams: Uint8Array[] = [];
  const failures: Array<number | Error | null> = [];

  /** Sends datagrams [0, count) and hands each failure to onFailure (null: dropped for lack of buffer space). */
  const sendPacked = (count: number, onFailure: (failure: Error | null, index: number) => void): number => {
    let sent: number;
    try {
      sent = native.sendBatch(handle, datagrams, targets, count, failures);
    } catch (error) {
      failures.length = 0;
      throw error;
    } finally {
      datagrams.length = 0; // sent datagrams are garbage
    }
    if (failures.length === 0) return sent;
    const failed = failures.splice(0); // onFailure may throw or send again
    for (let i = 0; i < failed.length; i += 2) onFailure(failed[i + 1] as Error | null, failed[i] as number);
    return sent;
  };
  const pack = (index: number, data: Uint8Array, to: SendTarget): void => {
    if (!(data instanceof Uint8Array)) throw withCode(new TypeError('data must be a Uint8Array or Buffer'), 'ERR_INVALID_ARG_TYPE');
    const at = index * TARGET_FIELDS;
    targets[at] = ipv4Number(to.address, 'address');
    targets[at + 1] = checkedInteger(to.port, 'port', 65535);
    targets[at + 2] = to.ifindex == null ? 0 : checkedInteger(to.ifindex, 'ifindex', 0x7fffffff);
    targets[at + 3] = to.source === undefined ? 0 : ipv4Number(to.source, 'source');
    datagrams[index] = data;
  };

  return {
    port,
    send(data, to) {
      pack(0, data, to);
      let dropped = false;
      sendPacked(1, (failure) => {
        if (failure) throw failure;
        dropped = true;
      });
      return !dropped;
    },
    sendBatch(batch, onFailure) {
      if (batch.length * TARGET_FIELDS > targets.length) targets = new Uint32Array(batch.length * TARGET_FIELDS);
      try {
        for (let i = 0; i < batch.length; i++) pack(i, batch[i]!.data, batch[i]!.to);
      } catch (error) {
        datagrams.length = 0;
        throw error;
      }
      return sendPacked(batch.length, (failure, index) => {
        if (failure) onFailure?.(failure, index);
      });
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

/** The call's datagrams, copied into one Buffer (from Node's pool when small): one allocation for the batch. */
function datagramsOf(payloads: Uint8Array, metadata: Uint32Array, count: number): ReceivedDatagram[] {
  const last = (count - 1) * METADATA_FIELDS;
  const data = Buffer.allocUnsafe(metadata[last]! + metadata[last + 1]!);
  data.set(payloads.subarray(0, data.length));
  const batch = new Array<ReceivedDatagram>(count);
  for (let i = 0; i < count; i++) {
    const at = i * METADATA_FIELDS;
    const offset = metadata[at]!;
    batch[i] = {
      data: data.subarray(offset, offset + metadata[at + 1]!),
      ifindex: metadata[at + 2]!,
      source: numberToDottedQuad(metadata[at + 3]!),
      sourcePort: metadata[at + 4]!,
      destination: numberToDottedQuad(metadata[at + 5]!),
    };
  }
  return batch;
}

/** A strict dotted quad (no leading zeros or spaces, as inet_pton reads it) as a host-order integer. */
function ipv4Number(text: string, name: string): number {
  const value = dottedQuadToNumber(text);
  if (value < 0) throw withCode(new TypeError(`${name} is not an IPv4 address: ${JSON.stringify(text)}`), 'ERR_INVALID_IP_ADDRESS');
  return value;
}

function checkedInteger(value: number, name: string, max: number): number {
  if (Number.isInteger(value) && value >= 0 && value <= max) return value;
  throw withCode(new RangeError(`${name} must be an integer from 0 to ${max}, got ${value}`), 'ERR_OUT_OF_RANGE');
}

/** Argument errors carry Node's codes, as dgram's do. */
function withCode<E extends Error>(error: E, code: string): E & { code: string } {
  return Object.assign(error, { code });
}

/** The kernel's index of the named interface (if_nametoindex); throws for an unknown name. */
export function interfaceIndex(name: string): number {
  return loadAddon().interfaceIndex(name);
}
