/**
 * Lookups in the agent's model schema (DESIGN.md §4) by table, column and relation, for the suggestions.
 * Table and column names compare case-insensitively, as the SQL shape lower-cases them.
 * @module
 */
import type { ModelInfo, Relation, Schema } from '../protocol.js'

export interface RelationOf {
  model: ModelInfo
  relation: Relation
}

export interface SchemaIndex {
  /** The concrete models (a proxy model shares its model's table: see {@link proxiesOf}). */
  models: readonly ModelInfo[]
  byTable(table: string): ModelInfo | undefined
  byName(model: string): ModelInfo | undefined
  /** Every relation of every model, with its model. */
  relations: RelationOf[]
  /** The proxy models of a model (`shop.ClassicBook` of `shop.Book`), by its name. */
  proxiesOf(model: string): ModelInfo[]
}

export function indexSchema(schema: Schema | null | undefined): SchemaIndex | null {
  if (!schema || !Array.isArray(schema.models) || schema.models.length === 0) return null
  const models = schema.models.filter((model) => !model.proxy_for)
  const tables = new Map<string, ModelInfo>()
  const names = new Map<string, ModelInfo>()
  const relations: RelationOf[] = []
  for (const model of models) {
    tables.set(model.table.toLowerCase(), model)
    names.set(model.model, model)
    for (const relation of model.relations ?? []) relations.push({ model, relation })
  }
  const proxies = schema.models.filter((model) => model.proxy_for)
  return {
    models,
    byTable: (table) => tables.get(table.toLowerCase()),
    byName: (model) => names.get(model),
    relations,
    proxiesOf: (model) => proxies.filter((proxy) => proxy.proxy_for === model),
  }
}

/** The model field stored in `column`: `author` for `author_id`, the column's own name otherwise. */
export function fieldOfColumn(model: ModelInfo | null | undefined, column: string): string {
  const fk = model?.relations.find((r) => (r.kind === 'fk' || r.kind === 'o2o') && same(r.column, column))
  return fk ? fk.field : column
}

/** `shop.Book` → `Book`: the class name the user writes in code. */
export function className(model: string): string {
  return model.slice(model.lastIndexOf('.') + 1)
}

export const same = (a: string | null | undefined, b: string | null | undefined): boolean =>
  a != null && b != null && a.toLowerCase() === b.toLowerCase()
