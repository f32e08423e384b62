import { sql, type CompiledQuery, type Kysely, type ColumnDefinitionBuilder, type CreateTableBuilder } from 'kysely';
import type { Backend } from '../store.js';

/** An auto-incrementing integer primary key named `id`, the one column type that differs between backends. */
export function withAutoId<T extends string>(
  table: CreateTableBuilder<T, never>,
  backend: Backend,
): CreateTableBuilder<T, 'id'> {
  return backend === 'sqlite'
    ? table.addColumn('id', 'integer', (c: ColumnDefinitionBuilder) => c.primaryKey().autoIncrement())
    : table.addColumn('id', 'bigint', (c: ColumnDefinitionBuilder) => c.primaryKey().generatedByDefaultAsIdentity());
}


/**
 * IP address keys (fixed-width hex) must compare byte by byte whatever the cluster's locale: SQLite's text already
 * does, and the "C" collation makes PostgreSQL do the same (and range scans on the index cheaper).
 */
export function keyColumnType(backend: Backend) {
  return backend === 'postgres' ? sql`text collate "C"` : sql`text`;
}

/**
 * Runs schema statements in order. On PostgreSQL they go as one round trip (DDL carries no parameters), because a
 * fresh `hangar serve` waits for them before it answers.
 */
export async function runStatements(db: Kysely<unknown>, backend: Backend, statements: Array<{ compile(): CompiledQuery }>): Promise<void> {
  if (backend === 'postgres') {
    await sql.raw(statements.map((statement) => statement.compile().sql).join(';\n')).execute(db);
    return;
  }
  for (const statement of statements) await db.executeQuery(statement.compile());
}
