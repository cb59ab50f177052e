/** Builders for unit payloads in the analysis tests: realistic Django units written as a few readable lines. */
import type { AppInfo, Frame, Schema, TemplatePosition, WireQuery, WireUnit } from '../protocol.js'
import { analyseUnit, type AnalysisOptions } from './analyse-unit.js'

export const DJANGO: AppInfo = { name: 'bookshop', framework: 'django', framework_version: '5.2.17' }
export const FLASK: AppInfo = { name: 'flaskshop', framework: 'flask' }

/** A place in the code: `site('shop/views.py', 40)`, optionally called from outer frames. */
export function site(file: string, line: number, fn = 'view', ...outer: Frame[]): Frame[] {
  return [{ file, line, function: fn }, ...outer]
}

export interface QueryOptions {
  at?: Frame[]
  template?: TemplatePosition | null
  ms?: number
  db?: string
  vendor?: string
  many?: boolean
}

let clock = 0

/** One query: SQL, its parameters, and where it ran. */
export function q(sql: string, params: WireQuery['params'] = [], { at = site('shop/views.py', 10), template = null, ms = 0.5, db = 'default', vendor = 'sqlite', many = false }: QueryOptions = {}): WireQuery {
  clock += 1
  return {
    sql,
    params,
    db,
    vendor,
    start_ms: clock,
    duration_ms: ms,
    many,
    error: null,
    callsite: at[0] ?? null,
    stack: at,
    template,
  }
}

/** `times(3, (i) => q(...))`: the queries of a loop. */
export function times<T>(n: number, make: (i: number) => T): T[] {
  return Array.from({ length: n }, (_, i) => make(i))
}

export function unitOf(...queries: (WireQuery | WireQuery[])[]): WireUnit {
  return {
    id: '0193a0f2-6c1e-7d2a-9b51-3f0e8c6a1d11',
    kind: 'request',
    name: 'GET /books/',
    method: 'GET',
    path: '/books/',
    route: 'books/',
    view: 'shop.views.book_list',
    status: 200,
    started_at: 1763800000123.4,
    duration_ms: 35.2,
    meta: {},
    queries: queries.flat(),
    dropped_queries: 0,
  }
}

export function analyse(unit: WireUnit, { app = DJANGO, schema = BOOKSHOP, options }: { app?: AppInfo; schema?: Schema | null; options?: AnalysisOptions } = {}) {
  return analyseUnit(unit, { app, schema, options })
}

export const findingsOf = (unit: WireUnit, ctx?: Parameters<typeof analyse>[1]) => analyse(unit, ctx).findings

/** The demo bookshop's models, as the Django agent sends them. */
export const BOOKSHOP: Schema = {
  models: [
    {
      model: 'shop.Author',
      table: 'shop_author',
      pk: 'id',
      relations: [{ field: 'books', kind: 'reverse_fk', target: 'shop.Book', target_column: 'author_id' }],
    },
    {
      model: 'shop.Publisher',
      table: 'shop_publisher',
      pk: 'id',
      relations: [{ field: 'books', kind: 'reverse_fk', target: 'shop.Book', target_column: 'publisher_id' }],
    },
    {
      model: 'shop.Tag',
      table: 'shop_tag',
      pk: 'id',
      relations: [
        { field: 'books', kind: 'reverse_m2m', target: 'shop.Book', through_table: 'shop_book_tags', source_column: 'tag_id', target_column: 'book_id' },
      ],
    },
    {
      model: 'shop.Book',
      table: 'shop_book',
      pk: 'id',
      relations: [
        { field: 'author', kind: 'fk', column: 'author_id', target: 'shop.Author' },
        { field: 'publisher', kind: 'fk', column: 'publisher_id', target: 'shop.Publisher' },
        { field: 'tags', kind: 'm2m', target: 'shop.Tag', through_table: 'shop_book_tags', source_column: 'book_id', target_column: 'tag_id' },
        { field: 'reviews', kind: 'reverse_fk', target: 'shop.Review', target_column: 'book_id' },
        { field: 'order_items', kind: 'reverse_fk', target: 'shop.OrderItem', target_column: 'book_id' },
      ],
    },
    {
      model: 'shop.Customer',
      table: 'shop_customer',
      pk: 'id',
      relations: [
        { field: 'profile', kind: 'reverse_o2o', target: 'shop.Profile', target_column: 'customer_id' },
        { field: 'reviews', kind: 'reverse_fk', target: 'shop.Review', target_column: 'customer_id' },
        { field: 'orders', kind: 'reverse_fk', target: 'shop.Order', target_column: 'customer_id' },
      ],
    },
    {
      model: 'shop.Profile',
      table: 'shop_profile',
      pk: 'id',
      relations: [
        { field: 'customer', kind: 'o2o', column: 'customer_id', target: 'shop.Customer' },
        { field: 'favourite_tag', kind: 'fk', column: 'favourite_tag_id', target: 'shop.Tag' },
      ],
    },
    {
      model: 'shop.Review',
      table: 'shop_review',
      pk: 'id',
      relations: [
        { field: 'book', kind: 'fk', column: 'book_id', target: 'shop.Book' },
        { field: 'customer', kind: 'fk', column: 'customer_id', target: 'shop.Customer' },
      ],
    },
    {
      model: 'shop.Order',
      table: 'shop_order',
      pk: 'id',
      relations: [
        { field: 'customer', kind: 'fk', column: 'customer_id', target: 'shop.Customer' },
        { field: 'items', kind: 'reverse_fk', target: 'shop.OrderItem', target_column: 'order_id' },
      ],
    },
    {
      model: 'shop.OrderItem',
      table: 'shop_orderitem',
      pk: 'id',
      relations: [
        { field: 'order', kind: 'fk', column: 'order_id', target: 'shop.Order' },
        { field: 'book', kind: 'fk', column: 'book_id', target: 'shop.Book' },
      ],
    },
  ],
}

// Realistic Django SQL of the bookshop.
export const BOOKS =
  'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id", "shop_book"."publisher_id", "shop_book"."isbn", "shop_book"."price", "shop_book"."stock", "shop_book"."published" FROM "shop_book" ORDER BY "shop_book"."title" ASC, "shop_book"."id" ASC'
export const AUTHOR_BY_ID =
  'SELECT "shop_author"."id", "shop_author"."name", "shop_author"."bio", "shop_author"."born" FROM "shop_author" WHERE "shop_author"."id" = %s LIMIT 21'
export const PUBLISHER_BY_ID =
  'SELECT "shop_publisher"."id", "shop_publisher"."name", "shop_publisher"."city" FROM "shop_publisher" WHERE "shop_publisher"."id" = %s LIMIT 21'
export const REVIEWS_OF_BOOK =
  'SELECT "shop_review"."id", "shop_review"."book_id", "shop_review"."customer_id", "shop_review"."rating", "shop_review"."body", "shop_review"."created" FROM "shop_review" WHERE "shop_review"."book_id" = %s ORDER BY "shop_review"."created" DESC, "shop_review"."id" DESC'
export const TAGS_OF_BOOK =
  'SELECT "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" INNER JOIN "shop_book_tags" ON ("shop_tag"."id" = "shop_book_tags"."tag_id") WHERE "shop_book_tags"."book_id" = %s ORDER BY "shop_tag"."name" ASC'
