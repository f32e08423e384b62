import { EventEmitter } from 'node:events';
import { sql, type Kysely } from 'kysely';
import type { Clock } from '../core/clock.js';
import type { Database } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';

const ROWS_PER_INSERT = 1000;

export interface EventInput {
  /** Dotted type, domain first: `token.created`, `dhcp.ack`, `machine.checked_in`. */
  type: string;
  /** What the event is about: `token:3`, a MAC address, a job id. */
  subject: string;
  actor?: string | null;
  data?: Record<string, unknown>;
  /** When it happened, ISO 8601, for events recorded after the fact (a journal being indexed); default now. */
  time?: string;
}

export interface HangarEvent {
  id: number;
  time: string;
  type: string;
  subject: string;
  actor: string | null;
  data: Record<string, unknown>;
}

export interface EventFilter {
  afterId?: number | undefined;
  /** Exact type, or a prefix ending in `.*` (`dhcp.*`). */
  type?: string | undefined;
  subject?: string | undefined;
  limit: number;
}

/**
 * The append-only event log. Ids are monotonic and commit in order (appends take the journal lock), so a reader
 * that has seen id N can resume with "after N" and miss nothing, also across processes sharing PostgreSQL.
 */
export class EventLog {
  private readonly wakeups = new EventEmitter();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {
    this.wakeups.setMaxListeners(0);
  }

  /** Appends inside the caller's transaction; streams wake when it commits. */
  async append(tx: Tx, input: EventInput): Promise<number> {
    await tx.lock('journal');
    const row = await tx.db
      .insertInto('events')
      .values({
        time: input.time ?? this.clock.now().toISOString(),
        type: input.type,
        subject: input.subject,
        actor: input.actor ?? null,
        data: JSON.stringify(input.data ?? {}),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    tx.onCommit(() => this.wakeups.emit('appended'));
    return Number(row.id);
  }

  /**
   * Appends many inside the caller's transaction, in multi-row inserts: the DHCP server records every exchange,
   * thousands a second, and one statement per event would cost more than the exchange itself.
   */
  async appendMany(tx: Tx, inputs: readonly EventInput[]): Promise<void> {
    if (inputs.length === 0) return;
    await tx.lock('journal');
    const now = this.clock.now().toISOString();
    const rows = inputs.map((input) => ({ time: input.time ?? now, type: input.type, subject: input.subject, actor: input.actor ?? null, data: JSON.stringify(input.data ?? {}) }));
    // Five parameters a row: well under SQLite's 32,766 and PostgreSQL's 65,535 per statement.
    for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) await tx.db.insertInto('events').values(rows.slice(start, start + ROWS_PER_INSERT)).execute();
    tx.onCommit(() => this.wakeups.emit('appended'));
  }

  /** Appends on its own, in a transaction of its own. */
  async record(store: Store, input: EventInput): Promise<number> {
    return store.transaction((tx) => this.append(tx, input));
  }

  async list(filter: EventFilter): Promise<HangarEvent[]> {
    let query = this.db.selectFrom('events').selectAll();
    if (filter.afterId !== undefined) query = query.where('id', '>', filter.afterId);
    if (filter.type?.endsWith('.*')) {
      const prefix = filter.type.slice(0, -1);
      query = query.where(sql<string>`substr(type, 1, ${prefix.length})`, '=', prefix);
    } else if (filter.type) query = query.where('type', '=', filter.type);
    if (filter.subject) query = query.where('subject', '=', filter.subject);
    const ordered = filter.afterId !== undefined ? query.orderBy('id', 'asc') : query.orderBy('id', 'desc');
    const rows = await ordered.limit(filter.limit).execute();
    return rows.map((row) => ({ ...row, id: Number(row.id), data: JSON.parse(row.data) as Record<string, unknown> }));
  }

  /** Wakes this process's listeners for events committed through another connection (a worker thread's). */
  announceAppended(): void {
    this.wakeups.emit('appended');
  }

  /** Calls `listener` whenever this process commits new events. Returns the unsubscribe function. */
  onAppended(listener: () => void): () => void {
    this.wakeups.on('appended', listener);
    return () => this.wakeups.off('appended', listener);
  }
}
