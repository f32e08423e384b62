/**
 * One read transfer on the server side, as a pure state machine: it negotiates the RRQ's options and then says
 * which blocks to send, given ACKs and timeouts. The caller owns the socket, the file and the timer.
 *
 * Blocks are numbered from 1 without limit inside the session; on the wire the number is taken modulo 65536, so
 * after block 65535 comes block 0 (the rollover tftp-hpa and iPXE expect).
 */
import { MAX_BLOCK_NUMBER, MAX_DATA_LENGTH, type TftpOption } from './codec.js';

/** RFC 1350's block size and lock-step window, used when the client negotiates nothing. */
export const DEFAULT_BLKSIZE = 512;
export const DEFAULT_WINDOWSIZE = 1;
/** RFC 2348: 8..65464 octets. */
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = MAX_DATA_LENGTH;
/** RFC 2349: 1..255 seconds. */
export const MIN_TIMEOUT_SECONDS = 1;
export const MAX_TIMEOUT_SECONDS = 255;
/** RFC 7440: 1..65535 blocks. 65535 also keeps an in-flight window's wire numbers distinct. */
export const MAX_WINDOWSIZE = 0xffff;

export interface ReadServerLimits {
  /** Largest blksize granted, 8..65464; derive it from the path MTU (MTU - 20 IPv4 - 8 UDP - 4 TFTP). */
  readonly maxBlksize: number;
  /** Largest windowsize granted, 1..65535. */
  readonly maxWindowsize: number;
  /** Retransmission timeout when the client does not negotiate one, 1..255 seconds. */
  readonly defaultTimeoutSeconds: number;
  /** Retransmissions of the same OACK or window before the transfer fails. */
  readonly maxRetries: number;
}

export interface NegotiatedOptions {
  readonly blksize: number;
  readonly windowsize: number;
  readonly timeoutSeconds: number;
  /** What the OACK carries, in the client's order, names in lower case; empty means no OACK is sent. */
  readonly acknowledged: readonly TftpOption[];
}

/** A decimal option value: ASCII digits only, as the RFCs write them. Anything else makes the option ignored. */
function parseDecimal(value: string): number | undefined {
  if (!/^[0-9]{1,15}$/.test(value)) return undefined;
  return Number(value);
}

function checkLimit(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be an integer in ${min}..${max}, got ${value}`);
  }
}

function checkLimits(limits: ReadServerLimits): void {
  checkLimit(limits.maxBlksize, MIN_BLKSIZE, MAX_BLKSIZE, 'maxBlksize');
  checkLimit(limits.maxWindowsize, 1, MAX_WINDOWSIZE, 'maxWindowsize');
  checkLimit(limits.defaultTimeoutSeconds, MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS, 'defaultTimeoutSeconds');
  checkLimit(limits.maxRetries, 0, Number.MAX_SAFE_INTEGER, 'maxRetries');
}

/**
 * RFC 2347 negotiation for a read. Unknown options and unusable values are left out of the OACK (never an
 * error). blksize and windowsize may be lowered to our limits (RFC 2348, RFC 7440), never raised; blksize below 8
 * or windowsize 0 is ignored. timeout must be echoed unchanged (RFC 2349), so an out-of-range one is ignored.
 * tsize is answered with the file's size, which for netascii must be the size after conversion.
 */
export function negotiateReadOptions(
  requested: readonly TftpOption[],
  fileSize: number,
  limits: ReadServerLimits,
): NegotiatedOptions {
  checkLimits(limits);
  let blksize = DEFAULT_BLKSIZE;
  let windowsize = DEFAULT_WINDOWSIZE;
  let timeoutSeconds = limits.defaultTimeoutSeconds;
  const acknowledged: TftpOption[] = [];
  const seen = new Set<string>();
  for (const option of requested) {
    const name = option.name.toLowerCase();
    if (seen.has(name)) continue;
    seen.add(name);
    // A read request's tsize only asks for the size; its value is meaningless (atftp sends "enable"), so any is taken.
    if (name === 'tsize') {
      acknowledged.push({ name, value: String(fileSize) });
      continue;
    }
    const value = parseDecimal(option.value);
    if (value === undefined) continue;
    switch (name) {
      case 'blksize':
        if (value < MIN_BLKSIZE) continue;
        blksize = Math.min(value, limits.maxBlksize);
        acknowledged.push({ name, value: String(blksize) });
        break;
      case 'windowsize':
        if (value < 1) continue;
        windowsize = Math.min(value, limits.maxWindowsize);
        acknowledged.push({ name, value: String(windowsize) });
        break;
      case 'timeout':
        if (value < MIN_TIMEOUT_SECONDS || value > MAX_TIMEOUT_SECONDS) continue;
        timeoutSeconds = value;
        acknowledged.push({ name, value: String(value) });
        break;
    }
  }
  return { blksize, windowsize, timeoutSeconds, acknowledged };
}

export type ReadAction =
  | { readonly kind: 'send-oack'; readonly options: readonly TftpOption[] }
  /** block is the wire number (0..65535); offset and length locate its bytes in the file. */
  | { readonly kind: 'send-data'; readonly block: number; readonly offset: number; readonly length: number }
  | { readonly kind: 'done' }
  | { readonly kind: 'fail'; readonly reason: 'retries-exhausted'; readonly message: string };

export type ReadSessionState = 'idle' | 'awaiting-oack-ack' | 'transferring' | 'done' | 'failed';

export interface ReadRequest {
  /** The RRQ's options as decoded. */
  readonly options: readonly TftpOption[];
  /** Bytes to transfer (for netascii, after conversion). */
  readonly fileSize: number;
}

const WIRE_BLOCKS = MAX_BLOCK_NUMBER + 1;

export class ReadSession {
  readonly negotiated: NegotiatedOptions;
  /** Blocks in the transfer, counting the final short (possibly empty) block. */
  readonly totalBlocks: number;
  private readonly fileSize: number;
  private readonly maxRetries: number;
  private currentState: ReadSessionState = 'idle';
  /** First unacknowledged block; the window in flight is windowStart..windowEnd. */
  private windowStart = 1;
  private retries = 0;

  constructor(request: ReadRequest, limits: ReadServerLimits) {
    checkLimit(request.fileSize, 0, Number.MAX_SAFE_INTEGER, 'fileSize');
    this.negotiated = negotiateReadOptions(request.options, request.fileSize, limits);
    this.fileSize = request.fileSize;
    this.maxRetries = limits.maxRetries;
    // A file that fills its last block exactly still needs an empty block to mark the end.
    this.totalBlocks = Math.floor(request.fileSize / this.negotiated.blksize) + 1;
  }

  get state(): ReadSessionState {
    return this.currentState;
  }

  /** Bytes of the file the client has acknowledged so far. */
  get acknowledgedBytes(): number {
    if (this.currentState === 'done') return this.fileSize;
    return Math.min((this.windowStart - 1) * this.negotiated.blksize, this.fileSize);
  }

  /** Actions answering the RRQ: an OACK when any option was accepted, else the first window of DATA. */
  start(): readonly ReadAction[] {
    if (this.currentState !== 'idle') throw new Error(`start() called in state ${this.currentState}`);
    if (this.negotiated.acknowledged.length > 0) {
      this.currentState = 'awaiting-oack-ack';
      return [this.oackAction()];
    }
    this.currentState = 'transferring';
    return this.sendWindow();
  }

  /**
   * An ACK carrying wire block number `block`. Only an ACK for a block of the window in flight moves the
   * transfer; duplicates and stale ACKs are ignored rather than answered (the Sorcerer's Apprentice fix), and
   * only a timeout makes us resend.
   */
  onAck(block: number): readonly ReadAction[] {
    switch (this.currentState) {
      case 'idle':
        throw new Error('onAck() called before start()');
      case 'awaiting-oack-ack':
        if (block !== 0) return [];
        this.currentState = 'transferring';
        this.retries = 0;
        return this.sendWindow();
      case 'transferring': {
        const acked = this.ackedBlock(block);
        if (acked === undefined) return [];
        this.retries = 0;
        if (acked === this.totalBlocks) {
          this.currentState = 'done';
          return [{ kind: 'done' }];
        }
        // A partial ACK means the client missed acked+1 (RFC 7440): the next window starts there either way.
        this.windowStart = acked + 1;
        return this.sendWindow();
      }
      case 'done':
      case 'failed':
        return [];
    }
  }

  /** The retransmission timer fired without progress: resend what is in flight, or give up. */
  onTimeout(): readonly ReadAction[] {
    switch (this.currentState) {
      case 'idle':
        throw new Error('onTimeout() called before start()');
      case 'done':
      case 'failed':
        return [];
      case 'awaiting-oack-ack':
      case 'transferring':
        if (this.retries >= this.maxRetries) {
          this.currentState = 'failed';
          return [{ kind: 'fail', reason: 'retries-exhausted', message: `no ACK after ${this.retries} retries` }];
        }
        this.retries++;
        return this.currentState === 'awaiting-oack-ack' ? [this.oackAction()] : this.sendWindow();
    }
  }

  private oackAction(): ReadAction {
    return { kind: 'send-oack', options: this.negotiated.acknowledged };
  }

  private get windowEnd(): number {
    return Math.min(this.windowStart + this.negotiated.windowsize - 1, this.totalBlocks);
  }

  /** Maps a wire number to the block of the window in flight it acknowledges, if any. */
  private ackedBlock(wire: number): number | undefined {
    if (!Number.isInteger(wire) || wire < 0 || wire > MAX_BLOCK_NUMBER) return undefined;
    const end = this.windowEnd;
    const behind = (((end - wire) % WIRE_BLOCKS) + WIRE_BLOCKS) % WIRE_BLOCKS;
    const acked = end - behind;
    return acked >= this.windowStart ? acked : undefined;
  }

  private sendWindow(): ReadAction[] {
    const { blksize } = this.negotiated;
    const actions: ReadAction[] = [];
    for (let block = this.windowStart; block <= this.windowEnd; block++) {
      const offset = (block - 1) * blksize;
      const length = Math.min(blksize, this.fileSize - offset);
      actions.push({ kind: 'send-data', block: block % WIRE_BLOCKS, offset, length });
    }
    return actions;
  }
}
