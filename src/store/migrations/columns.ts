import { type ColumnDefinitionBuilder, type CreateTableBuilder } from 'kysely';
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

