import { describe, expect, it } from 'vitest'
import type { ModelInfo, Schema } from '../protocol.js'
import { analyse, BOOKSHOP, findingsOf, FLASK, q, site, times, unitOf } from './test-helpers.js'

const LOOP = site('shop/api.py', 57, 'restock')
const SAVE_BOOK =
  'UPDATE "shop_book" SET "title" = %s, "author_id" = %s, "publisher_id" = %s, "isbn" = %s, "price" = %s, "stock" = %s, "published" = %s WHERE "shop_book"."id" = %s'
const INSERT_REVIEW =
  'INSERT INTO "shop_review" ("book_id", "customer_id", "rating", "body", "created") VALUES (%s, %s, %s, %s, %s) RETURNING "shop_review"."id"'
const SHIP_ORDER = 'UPDATE "shop_order" SET "status" = %s WHERE "shop_order"."id" = %s'
const DELETE_REVIEW = 'DELETE FROM "shop_review" WHERE "shop_review"."id" IN (%s)'

const saveBook = (i: number) => q(SAVE_BOOK, [`Book ${i}`, 1, 2, `978-${i}`, '12.50', 10 + i, '2024-01-01', i + 1], { at: LOOP })

describe('repeated writes', () => {
  it('reports an UPDATE per row from save() in a loop as a repeated write, never an N+1', () => {
    const findings = findingsOf(unitOf(times(5, saveBook)))
    expect(findings).toHaveLength(1)
    expect(findings[0]).toMatchObject({ kind: 'repeated_write', count: 5, query_indexes: [0, 1, 2, 3, 4], trigger_index: null })
    // Every assigned field: the publisher is the same in every row, yet the loop may have changed it.
    expect(findings[0].suggestion.code).toBe('Book.objects.bulk_update(objs, ["title", "author", "publisher", "isbn", "price", "stock", "published"])')
    expect(findings[0].suggestion.text).toContain('save() writes them all')
    expect(findings[0].suggestion.text).toContain('.update(field=F("field") + n)')
  })

  it('saves rows given equal values with bulk_update, and names one filter().update() for a value the code sets', () => {
    // order.status = "shipped"; order.save() per row, or book.stock += 1 when every stock was 10: the SQL cannot tell
    // a value the code sets from one computed from rows that held the same. bulk_update is right either way.
    const [finding] = findingsOf(unitOf(times(3, (i) => q(SHIP_ORDER, ['shipped', i + 1], { at: LOOP }))))
    expect(finding).toMatchObject({ kind: 'repeated_write', count: 3 })
    expect(finding.suggestion.code).toBe('Order.objects.bulk_update(objs, ["status"])')
    expect(finding.suggestion.text).toContain(
      'every row was given the same status="shipped": if your code sets that value rather than computing it from each row, one Order.objects.filter(pk__in=ids).update(status="shipped") does it',
    )
    expect(finding.suggestion.text).not.toContain('F("status")')
    // book.stock += 1 over stocks that were all 0: a number may be computed alike in every row.
    const stock = 'UPDATE "shop_book" SET "stock" = %s WHERE "shop_book"."id" = %s'
    const [counter] = findingsOf(unitOf(times(3, (i) => q(stock, [1, i + 1], { at: LOOP }))))
    expect(counter.suggestion.code).toBe('Book.objects.bulk_update(objs, ["stock"])')
    expect(counter.suggestion.text).toMatch(
      /one Book\.objects\.filter\(pk__in=ids\)\.update\(stock=1\) does it, and if it changes every row alike \(a counter: \+= n\), one Book\.objects\.filter\(pk__in=ids\)\.update\(stock=F\("stock"\) \+ n\)$/,
    )
    // A value written in the SQL itself is the code's: one UPDATE.
    const literal = 'UPDATE "shop_order" SET "status" = \'shipped\' WHERE "shop_order"."id" = %s'
    const [written] = findingsOf(unitOf(times(3, (i) => q(literal, [i + 1], { at: LOOP }))))
    expect(written.suggestion.code).toBe('Order.objects.filter(pk__in=ids).update(status="shipped")')
  })

  it('reports an INSERT per row as a repeated write fixed by bulk_create', () => {
    const inserts = times(4, (i) => q(INSERT_REVIEW, [i + 1, 1, 5, 'great', '2024-01-01T10:00:00'], { at: LOOP }))
    const [finding] = findingsOf(unitOf(inserts))
    expect(finding).toMatchObject({ kind: 'repeated_write', count: 4 })
    expect(finding.suggestion.code).toBe('Review.objects.bulk_create(objs)')
  })

  it('does not count writes that raised: a retry loop whose INSERTs failed until one passed wrote one row', () => {
    // Two INSERTs failed on a unique key, the third passed: it was told bulk_create (a probe).
    const attempt = (i: number, error: string | null) => ({ ...q(INSERT_REVIEW, [i + 1, 1, 5, 'great', '2024-01-01T10:00:00'], { at: LOOP }), error })
    const unique = 'IntegrityError: UNIQUE constraint failed: shop_review.book_id'
    expect(findingsOf(unitOf([attempt(0, unique), attempt(1, unique), attempt(2, null)]))).toEqual([])
    const [twice] = findingsOf(unitOf([attempt(0, unique), attempt(1, null), attempt(2, null)]))
    expect(twice).toMatchObject({ kind: 'repeated_write', count: 2 })
  })

  it('names the writing line and its caller: the loop may be in the caller (a post_save receiver)', () => {
    // "Collect the new Review in the loop at shop/signals.py:8": a receiver's line, where no loop is (a probe).
    const receiver = [site('shop/signals.py', 8, 'on_book_saved')[0], ...LOOP]
    const inserts = times(3, (i) => q(INSERT_REVIEW, [i + 1, 1, 5, 'great', '2024-01-01T10:00:00'], { at: receiver }))
    const [finding] = findingsOf(unitOf(inserts))
    expect(finding.suggestion.text).toBe(
      'Collect the new Review in the loop and save them with one Review.objects.bulk_create(objs) instead of 3 INSERTs at shop/signals.py:8 (called from shop/api.py:57)',
    )
  })

  it('reports a DELETE per object as a repeated write fixed by filter().delete()', () => {
    const [finding] = findingsOf(unitOf(times(3, (i) => q(DELETE_REVIEW, [i + 1], { at: LOOP }))))
    expect(finding.suggestion.code).toBe('Review.objects.filter(pk__in=ids).delete()')
  })

  it('reports INSERTs inside a savepoint per row as one repeated write and nothing about the savepoints', () => {
    const perRow = times(3, (i) => [
      q(`SAVEPOINT "s140245_x${i + 1}"`, null, { at: LOOP }),
      q(INSERT_REVIEW, [i + 1, 1, 5, 'great', '2024-01-01T10:00:00'], { at: LOOP }),
      q(`RELEASE SAVEPOINT "s140245_x${i + 1}"`, null, { at: LOOP }),
    ])
    const findings = findingsOf(unitOf(perRow.flat()))
    expect(findings.map((f) => [f.kind, f.query_indexes])).toEqual([['repeated_write', [1, 4, 7]]])
  })

  it('does not report the same INSERT from two different places', () => {
    const unit = unitOf(
      q(INSERT_REVIEW, [1, 1, 5, 'a', '2024-01-01'], { at: site('shop/views.py', 10) }),
      q(INSERT_REVIEW, [2, 1, 5, 'b', '2024-01-01'], { at: site('shop/views.py', 20) }),
    )
    expect(findingsOf(unit)).toEqual([])
  })

  it('counts one executemany as one query, never a repeated write', () => {
    const rows = times(50, (i) => [i + 1, 1, 5, 'ok', '2024-01-01'])
    const many = q(INSERT_REVIEW.replace(' RETURNING "shop_review"."id"', ''), rows as never, { at: LOOP, many: true })
    const otherRows = q(many.sql, times(50, (i) => [i + 51, 1, 5, 'ok', '2024-01-01']) as never, { at: LOOP, many: true })
    expect(findingsOf(unitOf(many))).toEqual([])
    expect(findingsOf(unitOf(many, otherRows))).toEqual([])
    expect(analyse(unitOf(many, otherRows)).summary.queries).toBe(2)
  })

  it('does not report bulk_create batches (multi-row VALUES) as repeated writes', () => {
    const batch = 'INSERT INTO "shop_tag" ("name") VALUES (%s), (%s), (%s)'
    expect(findingsOf(unitOf(q(batch, ['a', 'b', 'c'], { at: LOOP }), q(batch, ['d', 'e', 'f'], { at: LOOP })))).toEqual([])
  })

  it("does not report PostgreSQL's bulk_create batches (arrays of rows through UNNEST) as repeated writes", () => {
    const unnest = 'INSERT INTO "shop_tag" ("name", "rank") SELECT * FROM UNNEST((%s)::varchar[], (%s)::integer[])'
    const batches = times(3, (i) => q(unnest, [[`a${i}`, `b${i}`], [i, i + 1]], { at: LOOP, vendor: 'postgresql' }))
    expect(findingsOf(unitOf(batches))).toEqual([])
    const anyOf = 'DELETE FROM "shop_tag" WHERE "shop_tag"."id" = ANY(%s)'
    expect(findingsOf(unitOf(times(2, (i) => q(anyOf, [[i * 2, i * 2 + 1]], { at: LOOP, vendor: 'postgresql' }))))).toEqual([])
  })

  it("reports a write per row whose value is an array (an ArrayField) as repeated: that array is one row's", () => {
    const setTags = 'UPDATE "shop_book" SET "labels" = %s WHERE "shop_book"."id" = %s'
    const perRow = times(3, (i) => q(setTags, [['new', 'sale'], i + 1], { at: LOOP, vendor: 'postgresql' }))
    expect(findingsOf(unitOf(perRow)).map((f) => f.kind)).toEqual(['repeated_write'])
  })

  describe('writes of one row again and again', () => {
    const ADD_STOCK = 'UPDATE "shop_book" SET "stock" = ("shop_book"."stock" + %s) WHERE "shop_book"."id" = %s'

    it('says to combine the changes of a computed UPDATE, never to update an IN list of the same key (one step of the change)', () => {
      // for line in order.lines: Book.objects.filter(pk=line.book_id).update(stock=F("stock") + 1), one book each time
      const findings = findingsOf(unitOf(times(3, () => q(ADD_STOCK, [1, 11], { at: LOOP }))))
      expect(findings.map((f) => f.kind)).toEqual(['repeated_write'])
      expect(findings[0].suggestion).toEqual({
        text: 'The 3 UPDATEs at shop/api.py:57 change the same row (pk=11) each time: combine the changes into one UPDATE after the loop (for a counter, add up the steps: .update(stock=F("stock") + total))',
        code: null,
      })
    })

    it('says only the last values of a plain UPDATE of one row stay', () => {
      const [finding] = findingsOf(unitOf(times(3, (i) => q(SHIP_ORDER, [`step ${i}`, 7], { at: LOOP }))))
      expect(finding.suggestion.text).toBe('The 3 UPDATEs at shop/api.py:57 write the same row (pk=7) each time and only the last values stay: write it once, after the loop')
      expect(finding.suggestion.code).toBeNull()
    })

    it('takes rows told apart by another condition for different rows', () => {
      // for item in items: OrderItem.objects.filter(order_id=7, book_id=item.book_id).update(quantity=0)
      const zero = 'UPDATE "shop_orderitem" SET "quantity" = %s WHERE ("shop_orderitem"."order_id" = %s AND "shop_orderitem"."book_id" = %s)'
      const [finding] = findingsOf(unitOf(times(3, (i) => q(zero, [0, 7, 100 + i], { at: LOOP }))))
      expect(finding.suggestion.text).not.toContain('the same row')
      // The key is the column that changes; the order's condition stays, so no code that would drop it.
      expect(finding.suggestion).toEqual({
        text: 'Every row gets the same change: update the 3 rows at shop/api.py:57 with one OrderItem.objects.filter(book__in=ids, <the loop\'s other conditions>).update(quantity=0) instead of 3 UPDATEs',
        code: null,
      })
    })

    it('gives no code for one computed change per row when a row comes back: an IN list would apply it once', () => {
      const [finding] = findingsOf(unitOf([11, 12, 11].map((id) => q(ADD_STOCK, [-1, id], { at: LOOP }))))
      expect(finding.suggestion).toEqual({
        text: 'Every row gets the same computed change at shop/api.py:57, some rows more than once: add up each row\'s steps and update them with one .filter(pk__in=ids).update(stock=F("stock") ...) (the same expression) instead of 3 UPDATEs',
        code: null,
      })
    })

    it('says a DELETE of one row is done after the first', () => {
      const one = 'DELETE FROM "shop_review" WHERE "shop_review"."id" = %s'
      const findings = findingsOf(unitOf(times(2, () => q(one, [5], { at: LOOP }))))
      expect(findings.find((f) => f.kind === 'repeated_write')?.suggestion.text).toBe(
        'The 2 DELETEs at shop/api.py:57 delete the same row (pk=5) each time: after the first, none is left; run it once',
      )
    })
  })

  it('words the fix for SQLAlchemy units', () => {
    const update = 'UPDATE books SET stock=? WHERE books.id = ?'
    const [finding] = findingsOf(unitOf(times(3, (i) => q(update, [i, i + 1], { at: LOOP }))), { app: FLASK, schema: null })
    expect(finding.suggestion.code).toBe('session.execute(update(books), rows)')
    expect(finding.suggestion.text).not.toContain('AsyncSession') // Flask: a Session
    expect(finding.suggestion.text).toMatch(/ \(needs from sqlalchemy import update\)$/) // update() pasted without it: a NameError
    const [starlette] = findingsOf(unitOf(times(3, (i) => q(update, [i, i + 1], { at: LOOP }))), { app: { name: 'api', framework: 'starlette' }, schema: null })
    expect(starlette.suggestion.text).toContain("(on an AsyncSession, await the session's calls: await session.execute(...))")
  })

  it('is an error from 10 repeats, like an N+1', () => {
    expect(findingsOf(unitOf(times(10, saveBook)))[0].severity).toBe('error')
    expect(findingsOf(unitOf(times(9, saveBook)))[0].severity).toBe('warning')
  })
})

describe('upserts', () => {
  it('keeps the conflict clause: an upsert per row is told to send the same upsert once with every row', () => {
    const upsert =
      'INSERT INTO stock (sku, qty) VALUES (?, ?) ON CONFLICT (sku) DO UPDATE SET qty = excluded.qty'
    const [finding] = findingsOf(unitOf(times(3, (i) => q(upsert, [`sku-${i}`, i], { at: LOOP }))), { app: FLASK })
    expect(finding).toMatchObject({ kind: 'repeated_write', count: 3, suggestion: { code: null } })
    expect(finding.suggestion.text).toContain('Send the upsert once with every row, session.execute(stmt, rows)')
    expect(finding.suggestion.text).toContain('its set_ taken from stmt.excluded')
    const skip = 'INSERT INTO "shop_tag" ("name") VALUES (%s) ON CONFLICT DO NOTHING'
    const [skips] = findingsOf(unitOf(times(3, (i) => q(skip, [`t${i}`], { at: LOOP }))))
    expect(skips.suggestion.text).toContain('with one Tag.objects.bulk_create(objs, ignore_conflicts=True)')
    const update = 'INSERT INTO "shop_tag" ("name") VALUES (%s) ON CONFLICT ("name") DO UPDATE SET "name" = EXCLUDED."name"'
    const [updates] = findingsOf(unitOf(times(3, (i) => q(update, [`t${i}`], { at: LOOP }))))
    expect(updates.suggestion.text).toContain('with one Tag.objects.bulk_create(objs, update_conflicts=True, unique_fields=[...], update_fields=[...])')
    // MySQL: INSERT IGNORE skips too; ON DUPLICATE KEY UPDATE takes no unique_fields.
    const ignore = 'INSERT IGNORE INTO `shop_tag` (`name`) VALUES (%s)'
    const [ignored] = findingsOf(unitOf(times(3, (i) => q(ignore, [`t${i}`], { at: LOOP, vendor: 'mysql' }))))
    expect(ignored.suggestion.text).toContain('bulk_create(objs, ignore_conflicts=True)')
    const duplicate = 'INSERT INTO `shop_tag` (`name`) VALUES (%s) AS `new` ON DUPLICATE KEY UPDATE `name` = `new`.`name`'
    const [mysql] = findingsOf(unitOf(times(3, (i) => q(duplicate, [`t${i}`], { at: LOOP, vendor: 'mysql' }))))
    expect(mysql.suggestion.text).toContain('bulk_create(objs, update_conflicts=True, update_fields=[...])')
  })
})

describe("the model's default manager and save signals (Django)", () => {
  const withModel = (model: string, extra: Partial<ModelInfo>): Schema => ({
    models: BOOKSHOP.models.map((m) => (m.model === model ? { ...m, ...extra } : m)),
  })

  it('writes UPDATE and DELETE fixes on _base_manager when the default manager leaves rows out', () => {
    // objects = PublishedManager(): Book.objects.bulk_update() would silently skip the unpublished rows saved here.
    const schema = withModel('shop.Book', { manager: { name: 'objects', filtered: true } })
    const [update] = findingsOf(unitOf(times(3, saveBook)), { schema })
    expect(update.suggestion.code).toBe('Book._base_manager.bulk_update(objs, ["title", "author", "publisher", "isbn", "price", "stock", "published"])')
    expect(update.suggestion.text).toContain('(on Book._base_manager, as save() uses: Book.objects leaves rows out)')
    const reviews = withModel('shop.Review', { manager: { name: 'objects', filtered: true } })
    const [deleted] = findingsOf(unitOf(times(3, (i) => q(DELETE_REVIEW, [i + 1], { at: LOOP }))), { schema: reviews })
    expect(deleted.suggestion.code).toBe('Review._base_manager.filter(pk__in=ids).delete()')
  })

  it('names a default manager that is not called objects', () => {
    const schema = withModel('shop.Review', { manager: { name: 'reviews', filtered: false } })
    const inserts = times(3, (i) => q(INSERT_REVIEW, [i + 1, 1, 5, 'great', '2024-01-01T10:00:00'], { at: LOOP }))
    const [finding] = findingsOf(unitOf(inserts), { schema })
    expect(finding.suggestion.code).toBe('Review.reviews.bulk_create(objs)')
    expect(finding.suggestion.text).not.toContain('Review.objects')
    // Another app's Review, with its own `objects`, keeps it.
    const otherApp = { models: [...BOOKSHOP.models, { model: 'blog.Review', table: 'blog_review', pk: 'id', relations: [], manager: { name: 'published', filtered: false } }] }
    const [shop] = findingsOf(unitOf(inserts), { schema: otherApp })
    expect(shop.suggestion.code).toBe('Review.objects.bulk_create(objs)')
  })

  it('says that bulk writes skip the save signals the model has receivers for', () => {
    const schema = withModel('shop.Review', { save_signals: ['post_save'] })
    const inserts = times(3, (i) => q(INSERT_REVIEW, [i + 1, 1, 5, 'great', '2024-01-01T10:00:00'], { at: LOOP }))
    const [finding] = findingsOf(unitOf(inserts), { schema })
    expect(finding.suggestion.code).toBe('Review.objects.bulk_create(objs)')
    expect(finding.suggestion.text).toContain(
      'Review has post_save receivers: save() and create() run them for each row, bulk_create() sends no signals, so do their work for these rows too',
    )
    // Deleting in one queryset delete() sends the delete signals for each row: nothing to say.
    const [deleted] = findingsOf(unitOf(times(3, (i) => q(DELETE_REVIEW, [i + 1], { at: LOOP }))), { schema })
    expect(deleted.suggestion.text).not.toContain('receivers')
  })
})

