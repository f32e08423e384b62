/**
 * The DHCP server's durable path: an append-only journal of lease changes and exchange events, the way ISC dhcpd
 * keeps dhcpd.leases and Kea its memfile. A group commit is one write and one fdatasync, a few microseconds of CPU
 * however many leases it holds; a store transaction per commit cost more than the DHCP exchange itself.
 *
 * The journal is a directory of numbered segments of fixed size, zero-filled when created, one JSON array per line
 * and zeros after the last. Appends overwrite zeros in place, so their fdatasync writes data blocks only: a file
 * that grows needs a filesystem journal commit on every sync, which on a busy disk took a hundred times longer.
 *
 * The lease writer's thread indexes what was appended into the store (dhcp_leases, events) a fraction of a second
 * behind, in transactions that also record how far it got (segment and byte offset), and deletes segments it has
 * finished. After a crash the journal beyond the recorded position is indexed before the server answers.
 */

import { closeSync, fsyncSync, openSync, readdirSync, readSync, fstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventInput } from '../../events/log.js';
import type { LeaseRecord, LeaseState } from './leases.js';

/** A segment holds this much; at 7,000 exchanges a second that is about six seconds of them. */
export const SEGMENT_BYTES = 16 * 1024 * 1024;

/** A lease change, with the time it was made durable (the `updated` of its row). */
export interface JournalLease {
  lease: LeaseRecord;
  updated: string;
}

export interface JournalEntries {
  leases: JournalLease[];
  events: Array<EventInput & { time: string }>;
}

/** A place in the journal: everything before it is indexed. */
export interface JournalPosition {
  segment: number;
  offset: number;
}

type Line =
  | ['lease', string, string | null, string, LeaseState, number, string | null, string | null, string]
  | ['event', string, string, string, string | null, Record<string, unknown>];

const SEGMENT_NAME = /^(\d{10})\.jsonl$/;

export const segmentFile = (dir: string, number: number) => join(dir, `${String(number).padStart(10, '0')}.jsonl`);

/** Encodes a batch as journal lines. */
export function journalLines(leases: readonly LeaseRecord[], events: readonly EventInput[], time: string): string {
  let text = '';
  for (const lease of leases) {
    const line: Line = ['lease', lease.address, lease.mac, lease.subnet, lease.state, lease.expiresAt, lease.hostname, lease.clientId, time];
    text += `${JSON.stringify(line)}\n`;
  }
  for (const event of events) {
    const line: Line = ['event', time, event.type, event.subject, event.actor ?? null, event.data ?? {}];
    text += `${JSON.stringify(line)}\n`;
  }
  return text;
}

/**
 * Decodes journal bytes up to the first zero byte: the unwritten rest of a segment. A last line without its newline
 * is a write a crash interrupted: its fdatasync never returned, so no reply depended on it, and it is left out.
 * Anything else that does not decode means the file is not a journal: that throws, naming the file and line.
 * Returns the entries and the byte length of the complete lines.
 */
export function parseJournal(bytes: Buffer, where: string): { entries: JournalEntries; length: number } {
  const end = bytes.indexOf(0);
  const text = bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
  const entries: JournalEntries = { leases: [], events: [] };
  const complete = text.lastIndexOf('\n') + 1;
  let lineNumber = 0;
  for (const raw of text.slice(0, complete).split('\n')) {
    lineNumber++;
    if (raw.length === 0) continue;
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch {
      throw new Error(`${where}, line ${lineNumber}: not a DHCP journal line`);
    }
    if (line[0] === 'lease') {
      const [, address, mac, subnet, state, expiresAt, hostname, clientId, updated] = line;
      entries.leases.push({ lease: { address, mac, subnet, state, expiresAt, hostname, clientId }, updated });
    } else if (line[0] === 'event') {
      const [, time, type, subject, actor, data] = line;
      entries.events.push({ time, type, subject, actor, data });
    } else {
      throw new Error(`${where}, line ${lineNumber}: not a DHCP journal line`);
    }
  }
  return { entries, length: Buffer.byteLength(text.slice(0, complete)) };
}

/** The numbers of the segments in `dir`, oldest first (creating `dir` if needed). */
export function listSegments(dir: string): number[] {
  mkdirSync(dir, { recursive: true });
  return readdirSync(dir)
    .map((name) => SEGMENT_NAME.exec(name)?.[1])
    .filter((match): match is string => match !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Reads a segment from `from` to `to` (default: its end) and decodes it. */
export function readJournal(dir: string, segment: number, from: number, to?: number): { entries: JournalEntries; length: number } {
  const file = segmentFile(dir, segment);
  const fd = openSync(file, 'r');
  try {
    const end = to ?? fstatSync(fd).size;
    const bytes = Buffer.alloc(Math.max(0, end - from));
    let read = 0;
    while (read < bytes.length) {
      const count = readSync(fd, bytes, read, bytes.length - read, from + read);
      if (count === 0) break;
      read += count;
    }
    return parseJournal(bytes.subarray(0, read), `${file} from byte ${from}`);
  } finally {
    closeSync(fd);
  }
}

/** Deletes a segment the store has indexed. */
export function removeSegment(dir: string, number: number): void {
  unlinkSync(segmentFile(dir, number));
  syncDirectory(dir);
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * A zero-filled segment, durable with its directory entry, ready to be overwritten. While the server answers,
 * the filling is paced, a mebibyte at a time with a pause between: one burst of 16 MiB held every append's
 * fdatasync behind it for a tenth of a second.
 */
async function createSegment(dir: string, number: number, bytes: number, pauseMs: number): Promise<FileHandle> {
  const handle = await open(segmentFile(dir, number), 'wx+');
  try {
    const zeros = Buffer.alloc(Math.min(bytes, ZERO_FILL_CHUNK));
    for (let offset = 0; offset < bytes; offset += zeros.length) {
      await handle.write(zeros, 0, Math.min(zeros.length, bytes - offset), offset);
      await handle.datasync();
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
    syncDirectory(dir);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

const ZERO_FILL_CHUNK = 1024 * 1024;
/** Between the chunks of a segment filled while serving: 16 MiB then take about half a second. */
const ZERO_FILL_PAUSE_MS = 20;

/**
 * The appending side, on the server's thread. The next segment is created in the background while the current one
 * fills, so moving on never waits for zero-filling.
 */
export class LeaseJournal {
  private next: Promise<FileHandle> | null = null;

  private constructor(
    private readonly dir: string,
    private current: { number: number; handle: FileHandle; offset: number; full: boolean },
    private readonly segmentBytes: number,
  ) {}

  /**
   * Creates the first segment to write, `first`: one above any segment the store or the disk knows. Done before the
   * server answers, so the first commit does not wait for zero-filling.
   */
  static async open(dir: string, first: number, segmentBytes = SEGMENT_BYTES): Promise<LeaseJournal> {
    mkdirSync(dir, { recursive: true });
    const handle = await createSegment(dir, first, segmentBytes, 0);
    const journal = new LeaseJournal(dir, { number: first, handle, offset: 0, full: false }, segmentBytes);
    // The second one too, before answering: a segment lasts seconds under load, less than pacing would take.
    journal.next = Promise.resolve(await createSegment(dir, first + 1, segmentBytes, 0));
    return journal;
  }

  /** Where the next append goes; everything before it is durable. */
  get position(): JournalPosition {
    return { segment: this.current.number, offset: this.current.offset };
  }

  /**
   * Appends lines and returns once they are on disk. When they do not fit in the current segment they go to the
   * next one, and the finished segment's final position is returned, so it can be indexed to there and deleted.
   * One call at a time.
   */
  async append(text: string): Promise<JournalPosition | null> {
    const bytes = Buffer.from(text);
    if (bytes.length === 0) return null;
    if (bytes.length > this.segmentBytes) throw new Error(`a journal batch of ${bytes.length} bytes exceeds the segment size ${this.segmentBytes}`);
    let finished: JournalPosition | null = null;
    if (this.current.full || this.current.offset + bytes.length > this.segmentBytes) {
      finished = { segment: this.current.number, offset: this.current.offset };
      await this.current.handle.close();
      const number = finished.segment + 1;
      const handle = await (this.next ?? createSegment(this.dir, number, this.segmentBytes, 0));
      this.next = null;
      this.current = { number, handle, offset: 0, full: false };
    }
    this.next ??= createSegment(this.dir, this.current.number + 1, this.segmentBytes, ZERO_FILL_PAUSE_MS);
    // A failed background creation surfaces when that segment is needed, not as an unhandled rejection now.
    this.next.catch(() => {});
    try {
      await this.current.handle.write(bytes, 0, bytes.length, this.current.offset);
      await this.current.handle.datasync();
    } catch (error) {
      // Part of the batch may be on disk: the next append starts a fresh segment rather than write after it.
      this.current.full = true;
      throw error;
    }
    this.current.offset += bytes.length;
    return finished;
  }

  /** Closes the files; no appends after this. The segments stay: the lease writer indexes and deletes them. */
  async close(): Promise<void> {
    await this.current.handle.close();
    this.current.full = true;
    const next = this.next;
    this.next = null;
    if (next) await next.then((handle) => handle.close(), () => {});
  }
}
