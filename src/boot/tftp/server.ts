/**
 * The read-only TFTP server (RFC 1350 with blksize, tsize, timeout and windowsize). One dgram socket on the
 * well-known port takes requests; each transfer gets its own socket on an ephemeral port (its RFC 1350 TID), a
 * ReadSession that decides what to send, and a file from TftpRoots.
 *
 * Transfer sockets bind to the server's configured address. Node's dgram does not tell which local address a
 * datagram was sent to, so a server bound to 0.0.0.0 answers from whatever address the kernel's routing picks for
 * the client; on a multi-homed boot host, run one server per address instead.
 */
import dgram from 'node:dgram';
import {
  MalformedTftpPacketError,
  TftpErrorCode,
  TftpOpcode,
  decodeTftpPacket,
  encodeTftpPacket,
  type TftpMode,
  type TftpPacket,
  type TftpRequest,
} from './codec.js';
import { TftpRoots, type LookupRefusal, type ServedFile, type TftpCacheLimits } from './roots.js';
import {
  ReadSession,
  negotiateReadOptions,
  type NegotiatedOptions,
  type ReadAction,
  type ReadServerLimits,
} from './session.js';

export interface TftpServerLimits extends ReadServerLimits {
  /** Transfers at once; a request beyond it is answered ERROR "server busy" rather than queued. */
  readonly maxTransfers: number;
}

/** maxBlksize 1468 fits a 1500-byte MTU: 1500 - 20 (IPv4) - 8 (UDP) - 4 (TFTP). */
export const DEFAULT_TFTP_LIMITS: TftpServerLimits = {
  maxBlksize: 1468,
  maxWindowsize: 16,
  defaultTimeoutSeconds: 1,
  maxRetries: 5,
  maxTransfers: 256,
};

export type TftpTransferOutcome = 'sent' | 'not-found' | 'refused' | 'timeout' | 'error' | 'busy';

/** One request, reported once when it ends; Hangar turns these into boot events. */
export interface TftpTransferEvent {
  readonly client: { readonly address: string; readonly port: number };
  /** The file name as the client sent it. */
  readonly file: string;
  readonly mode: TftpMode;
  readonly outcome: TftpTransferOutcome;
  /** The real path of the file sent (or being sent), null when none was found. */
  readonly servedFrom: string | null;
  /** File bytes the client acknowledged (for netascii, converted bytes). */
  readonly bytes: number;
  readonly durationMs: number;
  /** What was negotiated; null when the request ended before a file was opened. */
  readonly options: NegotiatedOptions | null;
  /** Why it did not end 'sent', in a few words; null when it did. */
  readonly reason: string | null;
}

/** What went wrong, counted by kind: refusals, protocol faults from peers and our own failures. */
const PROBLEMS = [
  /** A datagram that does not decode. */
  'malformed',
  /** A packet that decodes but has no place where it arrived (a DATA to port 69, an RRQ to a transfer port). */
  'unexpected-packet',
  /** A packet to a transfer port from another address or port than the client's; answered ERROR 5. */
  'wrong-tid',
  /** An RRQ repeated while its transfer runs: the transfer's own retransmission answers it. */
  'duplicate-request',
  'write-request',
  'not-found',
  'refused',
  'busy',
  'timeout',
  /** The client ended the transfer with an ERROR. */
  'client-error',
  'read-failed',
  'send-failed',
  'socket-error',
  /** Transfers ended by stop(). */
  'stopped',
] as const;

export type TftpProblem = (typeof PROBLEMS)[number];

export interface TftpCounters {
  /** Requests taken (RRQ and WRQ); each ends as completed or failed. Duplicates and malformed ones are not counted. */
  requests: number;
  transfersCompleted: number;
  /** Requests that did not end 'sent', including refusals. */
  transfersFailed: number;
  /** DATA payload bytes handed to the kernel, retransmissions included. */
  bytesSent: number;
  /** OACKs and windows sent again after a timeout. */
  retransmissions: number;
  errors: Record<TftpProblem, number>;
}

export interface TftpServerOptions {
  /** Directories searched in order, e.g. [bootDir, '/usr/lib/ipxe']; the first that has a name serves it. */
  readonly roots: readonly string[];
  /** Default 69; 0 picks an ephemeral port (tests). */
  readonly port?: number;
  /** IPv4 address to listen and answer on. Default 0.0.0.0. */
  readonly address?: string;
  readonly limits?: Partial<TftpServerLimits>;
  readonly cache?: Partial<TftpCacheLimits>;
  /** Files outside the roots that a symlink inside one may lead to, e.g. ['/boot/ipxe.efi'] for Debian's ipxe. */
  readonly allowedOutsideFiles?: readonly string[];
  /** Called once per request when it ends. Must not throw; if it does, the error is logged. */
  readonly onTransfer?: (event: TftpTransferEvent) => void;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Milliseconds from a monotonic clock, for durations. Default performance.now. */
  readonly now?: () => number;
}

interface Peer {
  readonly address: string;
  readonly port: number;
}

/** How a request that did not end 'sent' is answered and counted. */
interface Failure {
  readonly outcome: Exclude<TftpTransferOutcome, 'sent'>;
  readonly problem: TftpProblem;
  readonly reason: string;
  /** The ERROR packet for the client; none when the client is gone or ended it itself. */
  readonly reply?: { readonly code: number; readonly message: string };
}

const REFUSALS: Record<LookupRefusal, Failure> = {
  empty: refusal('empty file name'),
  'nul-byte': refusal('NUL in file name'),
  'control-character': refusal('control character in file name'),
  'parent-segment': refusal('".." in file name'),
  'drive-letter': refusal('drive letter in file name'),
  'outside-root': refusal('real path outside its root'),
  'not-regular-file': refusal('not a regular file', 'not a regular file'),
  'permission-denied': refusal('permission denied'),
  'netascii-too-large': {
    ...refusal('netascii file too large'),
    reply: { code: TftpErrorCode.notDefined, message: 'file too large for netascii; use octet mode' },
  },
};

function refusal(reason: string, message = 'access violation'): Failure {
  return { outcome: 'refused', problem: 'refused', reason, reply: { code: TftpErrorCode.accessViolation, message } };
}

const NOT_FOUND: Failure = {
  outcome: 'not-found',
  problem: 'not-found',
  reason: 'file not found',
  reply: { code: TftpErrorCode.fileNotFound, message: 'file not found' },
};

/** Our own failure (I/O, socket): the client gets a plain ERROR 0, the event the details. */
function internalFailure(problem: TftpProblem, cause: unknown): Failure {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return { outcome: 'error', problem, reason, reply: { code: TftpErrorCode.notDefined, message: 'server error' } };
}

/** The message may quote a peer's bytes (a decoder complaint), so a NUL in it is dropped rather than thrown on. */
function errorPacket(code: number, message: string): Uint8Array {
  return encodeTftpPacket({ kind: 'error', code, message: message.replaceAll('\0', '') });
}

/** The opcode of a datagram, without decoding the rest. */
function opcodeOf(bytes: Uint8Array): number {
  return bytes.length < 2 ? -1 : ((bytes[0] ?? 0) << 8) | (bytes[1] ?? 0);
}

function bindSocket(socket: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => reject(error);
    socket.once('error', fail);
    socket.bind({ port, address, exclusive: true }, () => {
      socket.off('error', fail);
      resolve();
    });
  });
}

type SendData = Extract<ReadAction, { kind: 'send-data' }>;

/** The send-data actions from actions[first] on that follow each other in the file. */
function contiguousBlocks(actions: readonly ReadAction[], first: number): SendData[] {
  const run: SendData[] = [];
  for (const action of actions.slice(first)) {
    const previous = run.at(-1);
    if (action.kind !== 'send-data' || (previous && action.offset !== previous.offset + previous.length)) break;
    run.push(action);
  }
  return run;
}

/** What a transfer needs from its server. */
interface TransferContext {
  readonly limits: TftpServerLimits;
  readonly counters: TftpCounters;
  readonly roots: TftpRoots;
  readonly address: string;
  readonly now: () => number;
  /** Sends from the well-known port, for answers given before a transfer socket exists. */
  replyFromListener(packet: Uint8Array, to: Peer): void;
  finished(transfer: Transfer, event: TftpTransferEvent): void;
}

/** One read request, from lookup to the last ACK. Its socket is the server's TID for this client. */
class Transfer {
  private socket: dgram.Socket | null = null;
  private session: ReadSession | null = null;
  private file: ServedFile | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Actions run one batch at a time, in order: each may wait for a file read. */
  private work: Promise<void> = Promise.resolve();
  private ended = false;
  /** Settles when the socket and file are closed. */
  closed: Promise<void> = Promise.resolve();
  private readonly startedAt: number;

  constructor(
    private readonly context: TransferContext,
    readonly request: TftpRequest,
    readonly client: Peer,
  ) {
    this.startedAt = context.now();
  }

  async run(): Promise<void> {
    try {
      const lookup = await this.context.roots.lookup(this.request.filename, this.request.mode);
      if (lookup.kind !== 'found') {
        this.fail(lookup.kind === 'not-found' ? NOT_FOUND : REFUSALS[lookup.reason]);
        return;
      }
      this.file = lookup.file;
      if (this.ended) {
        // stop() came while the file was being opened.
        await lookup.file.close();
        return;
      }
      const socket = dgram.createSocket('udp4');
      this.socket = socket;
      socket.on('message', (message, from) => this.receive(message, from));
      socket.on('error', (error) => this.fail(internalFailure('socket-error', `socket: ${error.message}`)));
      await bindSocket(socket, 0, this.context.address);
      if (this.ended) return;
      this.session = new ReadSession({ options: this.request.options, fileSize: lookup.file.size }, this.context.limits);
      this.perform(this.session.start());
    } catch (error) {
      this.fail(internalFailure('read-failed', error));
    }
  }

  /** Ends the transfer because the server stops; the client is told. */
  abort(): Promise<void> {
    this.fail({
      outcome: 'error',
      problem: 'stopped',
      reason: 'server stopped',
      reply: { code: TftpErrorCode.notDefined, message: 'server shutting down' },
    });
    return this.closed;
  }

  private receive(message: Buffer, from: dgram.RemoteInfo): void {
    const socket = this.socket;
    const session = this.session;
    if (this.ended || !socket) return;
    if (from.address !== this.client.address || from.port !== this.client.port) {
      this.context.counters.errors['wrong-tid']++;
      this.send(errorPacket(TftpErrorCode.unknownTransferId, 'unknown transfer ID'), from);
      return;
    }
    let packet: TftpPacket;
    try {
      packet = decodeTftpPacket(message);
    } catch {
      // A damaged ACK must not end a transfer that a retransmission can still finish.
      this.context.counters.errors.malformed++;
      return;
    }
    if (packet.kind === 'error') {
      this.fail({ outcome: 'error', problem: 'client-error', reason: `client error ${packet.code}: ${packet.message}` });
      return;
    }
    if (packet.kind !== 'ack' || !session) {
      this.context.counters.errors['unexpected-packet']++;
      return;
    }
    this.perform(session.onAck(packet.block));
  }

  /** Queues a batch of session actions; the retransmission timer restarts once they are sent. */
  private perform(actions: readonly ReadAction[]): void {
    if (actions.length === 0 || this.ended) return;
    this.clearTimer();
    this.work = this.work
      .then(() => this.execute(actions))
      .catch((error: unknown) => this.fail(internalFailure('read-failed', error)));
  }

  private async execute(actions: readonly ReadAction[]): Promise<void> {
    let index = 0;
    while (index < actions.length && !this.ended) {
      const action = actions[index];
      if (!action) break;
      switch (action.kind) {
        case 'send-oack':
          this.send(encodeTftpPacket({ kind: 'oack', options: action.options }), this.client);
          index++;
          break;
        case 'send-data': {
          const run = contiguousBlocks(actions, index);
          await this.sendBlocks(run);
          index += run.length;
          break;
        }
        case 'done':
          this.end('sent', null);
          return;
        case 'fail':
          this.fail({ outcome: 'timeout', problem: 'timeout', reason: action.message });
          return;
      }
    }
    if (!this.ended) this.armTimer();
  }

  /** Sends blocks that are contiguous in the file, read with one call. */
  private async sendBlocks(run: readonly SendData[]): Promise<void> {
    const offset = run[0]?.offset ?? 0;
    const length = run.reduce((sum, block) => sum + block.length, 0);
    const bytes = this.file ? await this.file.read(offset, length) : new Uint8Array();
    if (this.ended) return;
    if (bytes.length !== length) throw new Error('file shrank during the transfer');
    let at = 0;
    for (const { block, length: blockLength } of run) {
      this.send(encodeTftpPacket({ kind: 'data', block, data: bytes.subarray(at, at + blockLength) }), this.client);
      this.context.counters.bytesSent += blockLength;
      at += blockLength;
    }
  }

  /** Hands a datagram to the kernel; onSent runs once it has left (closing the socket earlier would cancel it). */
  private send(packet: Uint8Array, to: Peer, onSent: (error: Error | null) => void = this.countSendFailure): void {
    try {
      if (this.socket) this.socket.send(packet, to.port, to.address, onSent);
      else onSent(null);
    } catch (error) {
      onSent(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private readonly countSendFailure = (error: Error | null): void => {
    if (error) this.context.counters.errors['send-failed']++;
  };

  private armTimer(): void {
    const session = this.session;
    if (!session) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const actions = session.onTimeout();
      if (actions.some((action) => action.kind === 'send-oack' || action.kind === 'send-data')) {
        this.context.counters.retransmissions++;
      }
      this.perform(actions);
    }, session.negotiated.timeoutSeconds * 1000);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Ends the transfer with an ERROR to the client when the failure has one, from the TID once there is one. */
  private fail(failure: Failure): void {
    if (this.ended) return;
    this.context.counters.errors[failure.problem]++;
    let lastSend = Promise.resolve();
    if (failure.reply) {
      const packet = errorPacket(failure.reply.code, failure.reply.message);
      if (!this.socket) this.context.replyFromListener(packet, this.client);
      else {
        lastSend = new Promise((resolve) =>
          this.send(packet, this.client, (error) => {
            this.countSendFailure(error);
            resolve();
          }),
        );
      }
    }
    this.end(failure.outcome, failure.reason, lastSend);
  }

  private end(outcome: TftpTransferOutcome, reason: string | null, lastSend = Promise.resolve()): void {
    if (this.ended) return;
    this.ended = true;
    this.clearTimer();
    const socket = this.socket;
    const file = this.file;
    // Close once the batch in flight stops touching the file and the ERROR to the client has left.
    this.closed = Promise.all([this.work, lastSend]).then(async () => {
      socket?.close();
      await file?.close().catch(() => {});
    });
    this.context.finished(this, {
      client: this.client,
      file: this.request.filename,
      mode: this.request.mode,
      outcome,
      servedFrom: this.file?.realPath ?? null,
      bytes: this.session?.acknowledgedBytes ?? 0,
      durationMs: this.context.now() - this.startedAt,
      options: this.session?.negotiated ?? null,
      reason,
    });
  }
}

function newCounters(): TftpCounters {
  const errors = Object.fromEntries(PROBLEMS.map((problem) => [problem, 0])) as Record<TftpProblem, number>;
  return { requests: 0, transfersCompleted: 0, transfersFailed: 0, bytesSent: 0, retransmissions: 0, errors };
}

function checkMaxTransfers(value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`maxTransfers must be a positive integer, got ${value}`);
}

export class TftpServer {
  readonly counters: TftpCounters = newCounters();
  readonly port: number;
  private readonly transfers = new Map<string, Transfer>();
  private readonly context: TransferContext;
  private stopping: Promise<void> | null = null;

  private constructor(
    private readonly listener: dgram.Socket,
    private readonly roots: TftpRoots,
    private readonly options: TftpServerOptions,
    limits: TftpServerLimits,
  ) {
    this.port = listener.address().port;
    const now = options.now ?? (() => performance.now());
    this.context = {
      limits,
      counters: this.counters,
      roots,
      address: options.address ?? '0.0.0.0',
      now,
      replyFromListener: (packet, to) => this.replyFromListener(packet, to),
      finished: (transfer, event) => this.finished(transfer, event),
    };
  }

  static async start(options: TftpServerOptions): Promise<TftpServer> {
    const limits: TftpServerLimits = { ...DEFAULT_TFTP_LIMITS, ...options.limits };
    checkMaxTransfers(limits.maxTransfers);
    // Negotiating nothing checks the limits against the RFC ranges (RangeError), before any socket is opened.
    negotiateReadOptions([], 0, limits);
    const roots = await TftpRoots.open(options);
    const listener = dgram.createSocket('udp4');
    await bindSocket(listener, options.port ?? 69, options.address ?? '0.0.0.0');
    const server = new TftpServer(listener, roots, options, limits);
    listener.on('message', (message, from) => server.receiveRequest(message, from));
    listener.on('error', (error) => {
      server.counters.errors['socket-error']++;
      server.log('tftp socket error', { error: error.message });
    });
    return server;
  }

  get activeTransfers(): number {
    return this.transfers.size;
  }

  get cacheHits(): number {
    return this.roots.cacheHits;
  }

  get cacheLoads(): number {
    return this.roots.cacheLoads;
  }

  /** Closes the listening socket, ends every transfer with an ERROR to its client, and waits for their files to close. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // Transfers first: one still opening its file is told through the listener.
      await Promise.all([...this.transfers.values()].map((transfer) => transfer.abort()));
      await new Promise<void>((resolve) => this.listener.close(() => resolve()));
    })();
    return this.stopping;
  }

  private receiveRequest(message: Buffer, from: dgram.RemoteInfo): void {
    if (this.stopping) return;
    const client: Peer = { address: from.address, port: from.port };
    let packet: TftpPacket;
    try {
      packet = decodeTftpPacket(message);
    } catch (error) {
      this.counters.errors.malformed++;
      // Only a request deserves an answer; anything else sent to port 69 is noise.
      const opcode = opcodeOf(message);
      if (error instanceof MalformedTftpPacketError && (opcode === TftpOpcode.rrq || opcode === TftpOpcode.wrq)) {
        this.replyFromListener(errorPacket(TftpErrorCode.illegalOperation, `illegal operation: ${error.message}`), client);
      }
      return;
    }
    if (packet.kind !== 'rrq' && packet.kind !== 'wrq') {
      this.counters.errors['unexpected-packet']++;
      return;
    }
    const key = `${client.address}:${client.port}`;
    if (this.transfers.has(key)) {
      this.counters.errors['duplicate-request']++;
      return;
    }
    this.counters.requests++;
    if (packet.kind === 'wrq') {
      this.reject(packet, client, {
        outcome: 'refused',
        problem: 'write-request',
        reason: 'write request',
        reply: { code: TftpErrorCode.accessViolation, message: 'read-only server' },
      });
      return;
    }
    if (this.transfers.size >= this.context.limits.maxTransfers) {
      this.reject(packet, client, {
        outcome: 'busy',
        problem: 'busy',
        reason: `${this.transfers.size} transfers running`,
        reply: { code: TftpErrorCode.notDefined, message: 'server busy' },
      });
      return;
    }
    const transfer = new Transfer(this.context, packet, client);
    this.transfers.set(key, transfer);
    void transfer.run();
  }

  /** Answers a request that never becomes a transfer. */
  private reject(request: TftpRequest, client: Peer, failure: Failure): void {
    this.counters.errors[failure.problem]++;
    if (failure.reply) this.replyFromListener(errorPacket(failure.reply.code, failure.reply.message), client);
    this.report({
      client,
      file: request.filename,
      mode: request.mode,
      outcome: failure.outcome,
      servedFrom: null,
      bytes: 0,
      durationMs: 0,
      options: null,
      reason: failure.reason,
    });
  }

  private replyFromListener(packet: Uint8Array, to: Peer): void {
    try {
      this.listener.send(packet, to.port, to.address, (error) => {
        if (error) this.counters.errors['send-failed']++;
      });
    } catch {
      // The listener is closed once stop() begins.
      this.counters.errors['send-failed']++;
    }
  }

  private finished(transfer: Transfer, event: TftpTransferEvent): void {
    const key = `${transfer.client.address}:${transfer.client.port}`;
    if (this.transfers.get(key) === transfer) this.transfers.delete(key);
    this.report(event);
  }

  private report(event: TftpTransferEvent): void {
    if (event.outcome === 'sent') this.counters.transfersCompleted++;
    else this.counters.transfersFailed++;
    try {
      this.options.onTransfer?.(event);
    } catch (error) {
      this.log('tftp onTransfer handler failed', { error: String(error) });
    }
  }

  private log(message: string, fields?: Record<string, unknown>): void {
    this.options.log?.(message, fields);
  }
}
