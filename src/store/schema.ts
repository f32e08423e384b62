import type { Generated } from 'kysely';

/**
 * Table types of the one schema both backends share. Timestamps are ISO-8601 UTC strings in both backends, so
 * they compare and sort the same way everywhere; JSON documents are stored as text.
 */
export interface Database {
  api_tokens: ApiTokenTable;
  audit_entries: AuditEntryTable;
  audit_head: AuditHeadTable;
  events: EventTable;
  ipam_used_runs: IpamUsedRunTable;
}

export interface ApiTokenTable {
  id: Generated<number>;
  /** First characters of the token, shown in listings so people can tell tokens apart. */
  key_prefix: string;
  /** sha256 of the whole token, hex. The token itself is never stored. */
  key_hash: string;
  scope: string;
  tenant: string | null;
  description: string;
  created: string;
  expires: string | null;
}

export interface AuditEntryTable {
  /** Position in the chain, 1, 2, 3, ... assigned under the journal lock. */
  id: number;
  time: string;
  actor: string;
  action: string;
  object_type: string;
  object_id: string;
  before: string | null;
  after: string | null;
  /** Free-form context, for example the git commit an apply came from. */
  context: string | null;
  prev_hash: string;
  hash: string;
}

/** One row (id = 1): the last entry of the chain, so removing entries from the end is detected too. */
export interface AuditHeadTable {
  id: number;
  last_id: number;
  last_hash: string;
}

export interface EventTable {
  id: Generated<number>;
  time: string;
  type: string;
  subject: string;
  actor: string | null;
  data: string;
}

/**
 * The set of IP addresses in use, as maximal runs of consecutive addresses. The first free address after any
 * point is one index lookup away (the end of the run holding that point, plus one), however many are in use.
 */
export interface IpamUsedRunTable {
  id: Generated<number>;
  family: number;
  /** Fixed-width hex keys (core/net addressKey): text order is numeric order. */
  start_key: string;
  end_key: string;
}
