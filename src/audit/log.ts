import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.js';
import type { Database } from '../store/schema.js';
import type { Tx } from '../store/store.js';
import { ChainVerifier, GENESIS_HASH, canonicalJson, entryHash, type ChainProblem, type ChainedAuditRecord } from './chain.js';

export interface AuditChange {
  actor: string;
  action: 'create' | 'update' | 'delete' | (string & {});
  objectType: string;
  objectId: string | number;
  before: unknown;
  after: unknown;
  /** Where the change came from beyond the actor, for example `{ commit, author }` for a fleet apply. */
  context?: unknown;
}

export interface AuditEntry {
  id: number;
  time: string;
  actor: string;
  action: string;
  object_type: string;
  object_id: string;
  before: unknown;
  after: unknown;
  context: unknown;
  prev_hash: string;
  hash: string;
}

export interface AuditFilter {
  objectType?: string | undefined;
  objectId?: string | undefined;
  actor?: string | undefined;
  afterId?: number | undefined;
  limit: number;
  offset?: number | undefined;
}

export interface AuditVerification {
  ok: boolean;
  checked: number;
  problem: ChainProblem | null;
}

type AuditRow = Database['audit_entries'];
const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

function toEntry(row: AuditRow): AuditEntry {
  return { ...row, id: Number(row.id), before: parse(row.before), after: parse(row.after), context: parse(row.context) };
}

function toRecord(row: AuditRow): ChainedAuditRecord {
  return {
    id: Number(row.id),
    time: row.time,
    actor: row.actor,
    action: row.action,
    objectType: row.object_type,
    objectId: row.object_id,
    before: parse(row.before),
    after: parse(row.after),
    context: parse(row.context),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** The append-only, hash-chained audit log. Entries are written inside the caller's transaction. */
export class AuditLog {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  async append(tx: Tx, change: AuditChange): Promise<AuditEntry> {
    await tx.lock('journal');
    const head = await tx.db.selectFrom('audit_head').selectAll().where('id', '=', 1).executeTakeFirst();
    const prevHash = head?.last_hash ?? GENESIS_HASH;
    const id = Number(head?.last_id ?? 0) + 1;
    const before = change.before ?? null;
    const after = change.after ?? null;
    const context = change.context ?? null;
    const record = {
      id,
      time: this.clock.now().toISOString(),
      actor: change.actor,
      action: change.action,
      objectType: change.objectType,
      objectId: String(change.objectId),
      before,
      after,
      context,
    };
    const hash = entryHash(prevHash, record);
    const row: AuditRow = {
      id,
      time: record.time,
      actor: record.actor,
      action: record.action,
      object_type: record.objectType,
      object_id: record.objectId,
      before: before === null ? null : canonicalJson(before),
      after: after === null ? null : canonicalJson(after),
      context: context === null ? null : canonicalJson(context),
      prev_hash: prevHash,
      hash,
    };
    await tx.db.insertInto('audit_entries').values(row).execute();
    if (head) {
      await tx.db.updateTable('audit_head').set({ last_id: id, last_hash: hash }).where('id', '=', 1).execute();
    } else {
      await tx.db.insertInto('audit_head').values({ id: 1, last_id: id, last_hash: hash }).execute();
    }
    return toEntry(row);
  }

  async list(filter: AuditFilter): Promise<{ count: number; results: AuditEntry[] }> {
    let query = this.db.selectFrom('audit_entries');
    if (filter.objectType) query = query.where('object_type', '=', filter.objectType);
    if (filter.objectId) query = query.where('object_id', '=', filter.objectId);
    if (filter.actor) query = query.where('actor', '=', filter.actor);
    if (filter.afterId !== undefined) query = query.where('id', '>', filter.afterId);
    const counted = await query.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    const rows = await query
      .selectAll()
      .orderBy('id', 'desc')
      .limit(filter.limit)
      .offset(filter.offset ?? 0)
      .execute();
    return { count: Number(counted.count), results: rows.map(toEntry) };
  }

  /** Walks the whole chain in pages and names the first entry that was altered, removed or reordered. */
  async verify(pageSize = 1000): Promise<AuditVerification> {
    const verifier = new ChainVerifier();
    // Read the head first: entries appended while we walk only extend the chain past it.
    const head = await this.db.selectFrom('audit_head').selectAll().where('id', '=', 1).executeTakeFirst();
    const lastId = Number(head?.last_id ?? 0);
    let after = 0;
    for (;;) {
      const rows = await this.db
        .selectFrom('audit_entries')
        .selectAll()
        .where('id', '>', after)
        .where('id', '<=', lastId)
        .orderBy('id')
        .limit(pageSize)
        .execute();
      for (const row of rows) {
        const problem = verifier.add(toRecord(row));
        if (problem) return { ok: false, checked: verifier.checked, problem };
      }
      if (rows.length < pageSize) break;
      after = Number(rows.at(-1)!.id);
    }
    const problem = verifier.finish(head ? { lastId, lastHash: head.last_hash } : null);
    return { ok: problem === null, checked: verifier.checked, problem };
  }
}
