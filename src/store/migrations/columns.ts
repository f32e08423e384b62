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

export type Column = [name: string, type: 'text' | 'integer' | 'bigint' | 'real' | 'key', options?: { notNull?: boolean; default?: string | number }];

/**
 * Collects the DDL of resource tables for runStatements. Objects carry timestamps and (unless they are tags) custom
 * fields; link tables carry neither.
 */
export function schemaBuilder(db: Kysely<unknown>, backend: Backend) {
  const statements: Array<{ compile(): CompiledQuery }> = [];
  const table = (name: string, columns: Column[], kind: 'object' | 'tag' | 'link' = 'object') => {
    let builder = withAutoId(db.schema.createTable(name), backend);
    const all: Column[] = [
      ...columns,
      ...(kind === 'link' ? [] : ([['created', 'text', { notNull: true }], ['last_updated', 'text', { notNull: true }]] as Column[])),
      ...(kind === 'object' ? ([['custom_fields', 'text', { notNull: true, default: '{}' }]] as Column[]) : []),
    ];
    for (const [column, type, opts = {}] of all) {
      builder = builder.addColumn(column, type === 'key' ? keyColumnType(backend) : type, (c: ColumnDefinitionBuilder) => {
        let out = c;
        if (opts.notNull) out = out.notNull();
        if (opts.default !== undefined) out = out.defaultTo(opts.default);
        return out;
      });
    }
    statements.push(builder);
  };
  const index = (table: string, columns: string[], unique = false) => {
    let builder = db.schema.createIndex(`${table}_${columns.join('_')}`).on(table).columns(columns);
    if (unique) builder = builder.unique();
    statements.push(builder);
  };
  const text = (name: string, notNull = true): Column => [name, 'text', notNull ? { notNull: true, default: '' } : {}];
  const ref = (name: string): Column => [`${name}_id`, 'bigint'];
  const bool = (name: string, value: boolean): Column => [name, 'integer', { notNull: true, default: value ? 1 : 0 }];
  return { statements, table, index, text, ref, bool };
}
