/**
 * Indexes the lease journal into the store on a worker thread with a store connection of its own. SQLite's driver
 * is synchronous: on the server's thread each transaction would stop every socket read and reply for its length.
 */

import { Worker } from 'node:worker_threads';
import type { StoreLocation } from '../../store/store.js';
import type { JournalPosition } from './lease-journal.js';

export interface WriterSetup {
  location: StoreLocation;
  journalDir: string;
}

/** Told when a segment failed to index and will be tried again. */
export type RetryListener = (problem: string) => void;

/** Index segment `segment` up to byte `upTo`; a finished segment is then deleted. */
export type WriterRequest = { id: number; segment: number; upTo: number; finished: boolean };
export type WriterReply =
  | { id: 0; ready: true; nextSegment: number; recovered: number }
  | { id: number; error: string | null }
  | { id: number; retrying: string };

/** The worker's module, beside this one both in the compiled tree and in the bundle (scripts/bundle.mjs). */
const WORKER_URL = new URL('./lease-writer-worker.js', import.meta.url);

export class LeaseWriter {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(): void; reject(error: Error): void }>();
  private failure: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    /** The first journal segment number that is free to write. */
    readonly nextSegment: number,
    /** Segments in which a previous run left journal content unindexed, indexed during start. */
    readonly recovered: number,
    onRetry: RetryListener,
  ) {
    worker.on('message', (reply: WriterReply) => {
      if ('ready' in reply) return;
      if ('retrying' in reply) {
        onRetry(reply.retrying);
        return;
      }
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (reply.error === null) waiter?.resolve();
      else waiter?.reject(new Error(reply.error));
    });
    const fail = (error: Error) => {
      this.failure = error;
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the lease writer thread exited with code ${code}`)));
  }

  /** Starts the thread; resolves once the store holds everything earlier runs journaled. */
  static async start(setup: WriterSetup, onRetry: RetryListener): Promise<LeaseWriter> {
    const worker = new Worker(WORKER_URL, { workerData: setup });
    let onError: (error: Error) => void = () => {};
    let onExit: (code: number) => void = () => {};
    let onMessage: (reply: WriterReply) => void = () => {};
    const ready = await new Promise<{ nextSegment: number; recovered: number }>((resolve, reject) => {
      onError = (error) => reject(new Error(`the lease writer thread failed to start: ${error.message}`));
      onExit = (code) => reject(new Error(`the lease writer thread exited with code ${code} while starting`));
      onMessage = (reply) => {
        if ('ready' in reply) resolve(reply);
        else reject(new Error(`the lease journal could not be indexed: ${'error' in reply ? reply.error : reply.retrying}`));
      };
      worker.on('error', onError).on('exit', onExit).on('message', onMessage);
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    // Only these: Worker keeps listeners of its own that carry its messages.
    worker.off('error', onError).off('exit', onExit).off('message', onMessage);
    return new LeaseWriter(worker, ready.nextSegment, ready.recovered, onRetry);
  }

  /**
   * Indexes the journal up to `position` (durable content only), and deletes the segment when `finished`. Requests
   * are carried out in the order given, each retried until it succeeds.
   */
  index(position: JournalPosition, finished: boolean): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, segment: position.segment, upTo: position.offset, finished } satisfies WriterRequest);
    });
  }

  /** Ends the thread; call after the last index() has settled. */
  async stop(): Promise<void> {
    this.failure = new Error('the lease writer was stopped');
    await this.worker.terminate();
  }
}
