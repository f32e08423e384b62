/**
 * The lease writer's thread (see lease-writer.ts): indexes the lease journal into the store, in order, each step in
 * one transaction with the position it reached, and deletes finished segments. On start it first indexes whatever
 * a previous run left beyond the recorded position.
 */

import { parentPort, workerData } from 'node:worker_threads';
import type { Kysely } from 'kysely';
import { systemClock } from '../../core/clock.js';
import { EventLog } from '../../events/log.js';
import { Store } from '../../store/store.js';
import { listSegments, readJournal, removeSegment, type JournalPosition } from './lease-journal.js';
import { indexedPosition, journalName, saveLeases, setIndexedPosition } from './lease-store.js';
import type { WriterReply, WriterRequest, WriterSetup } from './lease-writer.js';

const port = parentPort;
if (!port) throw new Error('lease-writer-worker.js runs as a worker thread');
const reply = (message: WriterReply) => port.postMessage(message);
const { location, journalDir } = workerData as WriterSetup;
const journal = journalName(journalDir);

try {
  // Its commits need no fsync of their own: what they hold stays in the journal until a durable commit (the one
  // before a segment is deleted) covers them. Fewer fsyncs here keep the journal's own fdatasync fast.
  const store = await Store.open(location, { syncEachCommit: false });
  const events = new EventLog(store.db, systemClock);

  /**
   * Indexes segment bytes [from, to) (to its end when `to` is absent); returns the position reached. `durable`
   * makes this and every earlier step durable, as it must be before the segment is deleted.
   */
  const index = async (segment: number, from: number, to: number | undefined, durable: boolean): Promise<JournalPosition> => {
    const { entries, length } = readJournal(journalDir, segment, from, to);
    const reached = { segment, offset: from + length };
    if (length === 0 && !durable) return reached;
    await (durable ? store.durably.bind(store) : store.transaction.bind(store))(async (tx) => {
      const db = tx.db as unknown as Kysely<unknown>;
      await saveLeases(db, entries.leases);
      await events.appendMany(tx, entries.events);
      await setIndexedPosition(db, journal, reached);
    });
    return reached;
  };

  // Recovery. Segments before the recorded one were indexed to their end before a crash, but not yet deleted.
  const recorded = await indexedPosition(store.db as unknown as Kysely<unknown>, journal);
  const leftOver = listSegments(journalDir);
  let recovered = 0;
  for (const segment of leftOver) {
    if (segment >= recorded.segment) {
      const reached = await index(segment, segment === recorded.segment ? recorded.offset : 0, undefined, true);
      if (reached.offset > (segment === recorded.segment ? recorded.offset : 0)) recovered++;
    }
    removeSegment(journalDir, segment);
  }

  // A step that fails (the store is unreachable or locked) is retried before any later one, so the recorded
  // position never passes journal content that is not in the store.
  let cursor: JournalPosition = { segment: 0, offset: 0 };
  let queue = Promise.resolve();
  port.on('message', ({ id, segment, upTo, finished }: WriterRequest) => {
    queue = queue.then(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const from = cursor.segment === segment ? cursor.offset : 0;
          if (upTo > from || finished) cursor = await index(segment, from, upTo, finished);
          if (finished) removeSegment(journalDir, segment);
          reply({ id, error: null });
          return;
        } catch (error) {
          reply({ id, retrying: `segment ${segment}, attempt ${attempt}: ${error instanceof Error ? error.message : String(error)}` });
          await new Promise((resolve) => setTimeout(resolve, Math.min(attempt, 30) * 1000));
        }
      }
    });
  });
  reply({ id: 0, ready: true, nextSegment: Math.max(recorded.segment, leftOver.at(-1) ?? 0) + 1, recovered });
} catch (error) {
  reply({ id: 0, error: error instanceof Error ? error.message : String(error) });
}
