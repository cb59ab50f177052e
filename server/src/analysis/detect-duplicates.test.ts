import { describe, expect, it } from 'vitest'
import { analyse, AUTHOR_BY_ID, BOOKS, findingsOf, FLASK, q, site, times, unitOf } from './test-helpers.js'

const SETTINGS =
  'SELECT "shop_shopsettings"."id", "shop_shopsettings"."name", "shop_shopsettings"."currency", "shop_shopsettings"."banner" FROM "shop_shopsettings" ORDER BY "shop_shopsettings"."id" ASC LIMIT 1'
const CART = site('shop/context_processors.py', 9, 'cart_badge')
const SHOP = site('shop/context_processors.py', 4, 'shop_settings')

describe('duplicates', () => {
  it('reports exact duplicates from two different call sites as a duplicate, not an N+1', () => {
    const unit = unitOf(q(SETTINGS, [], { at: SHOP, ms: 0.4 }), q(BOOKS), q(SETTINGS, [], { at: CART, ms: 0.3 }))
    const findings = findingsOf(unit)
    expect(findings).toHaveLength(1)
    expect(findings[0]).toMatchObject({
      kind: 'duplicate',
      severity: 'warning',
      count: 2,
      wasted_ms: 0.3,
      query_indexes: [0, 2],
      callsite: { file: 'shop/context_processors.py', line: 9 },
      trigger_index: null,
    })
    expect(findings[0].suggestion.text).toContain('shop/context_processors.py:4, shop/context_processors.py:9')
    expect(findings[0].suggestion.text).toContain('(for example on the request, or with @cached_property)')
    // A script has no request to keep the result on.
    const [script] = findingsOf({ ...unit, kind: 'block', name: 'nightly report', method: null, path: null, route: null, status: null })
    expect(script.suggestion.text).toMatch(/load it once and pass the result along \(for example with @cached_property\)$/)
  })

  it('tells apart two calls of one helper by the callers where their stacks part', () => {
    const helper = (line: number, fn: string) => site('shop/context_processors.py', 18, 'shop_settings', ...site('shop/context_processors.py', line, fn), ...site('shop/views.py', 79, 'cart'))
    const [finding] = findingsOf(unitOf(q(SETTINGS, [], { at: helper(35, 'shop') }), q(SETTINGS, [], { at: helper(39, 'cart') })))
    expect(finding.suggestion.text).toContain(
      'from shop/context_processors.py:18 (called from shop/context_processors.py:35), shop/context_processors.py:18 (called from shop/context_processors.py:39)',
    )
  })

  it('reports the same lookup with the same parameters repeated by one loop as a duplicate', () => {
    const loop = times(3, () => q(AUTHOR_BY_ID, [7], { at: site('shop/views.py', 42) }))
    const [finding] = findingsOf(unitOf(loop))
    expect(finding).toMatchObject({ kind: 'duplicate', count: 3, query_indexes: [0, 1, 2] })
    expect(finding.suggestion.text).toContain('run it once (before the loop, when a loop runs it) and reuse the result')
  })

  it('does not report the same SQL with different parameters', () => {
    expect(findingsOf(unitOf(q(AUTHOR_BY_ID, [1], { at: SHOP }), q(AUTHOR_BY_ID, [2], { at: CART })))).toEqual([])
  })

  it('does not report the same query on two databases', () => {
    expect(findingsOf(unitOf(q(SETTINGS, [], { at: SHOP }), q(SETTINGS, [], { at: CART, db: 'replica' })))).toEqual([])
  })

  it('does not report the repeats inside an N+1 loop again as duplicates', () => {
    const loop = times(6, (i) => q(AUTHOR_BY_ID, [(i % 2) + 1], { at: site('shop/views.py', 42) }))
    const findings = findingsOf(unitOf(q(BOOKS, [], { at: site('shop/views.py', 40) }), loop))
    expect(findings.map((f) => f.kind)).toEqual(['n_plus_one'])
    expect(findings[0].suggestion.text).toContain('(4 of the 6 queries repeat a key the loop already fetched)')
  })

  it('reports a repeat that spans an N+1 loop and another place, with every copy', () => {
    const loop = times(3, (i) => q(AUTHOR_BY_ID, [i + 1], { at: site('shop/views.py', 42) }))
    const later = q(AUTHOR_BY_ID, [1], { at: site('shop/views.py', 50) })
    const findings = findingsOf(unitOf(q(BOOKS, [], { at: site('shop/views.py', 40) }), loop, later))
    expect(findings.map((f) => [f.kind, f.query_indexes])).toEqual([
      ['n_plus_one', [1, 2, 3]],
      ['duplicate', [1, 4]],
    ])
  })

  it('reports only the copies outside an N+1 loop when they repeat each other, at their own line', () => {
    // for book in books: book.author (authors 1, 1, 1); then Author.objects.get(pk=1) on lines 50 and 51. Before: one
    // duplicate ×5 at the loop's line, though the loop's fix leaves the two gets.
    const loop = times(3, () => q(AUTHOR_BY_ID, [1], { at: site('shop/views.py', 42) }))
    const gets = [50, 51].map((line) => q(AUTHOR_BY_ID, [1], { at: site('shop/views.py', line) }))
    const loopOfTwo = times(3, (i) => q(AUTHOR_BY_ID, [i + 2], { at: site('shop/views.py', 42) }))
    const findings = findingsOf(unitOf(q(BOOKS, [], { at: site('shop/views.py', 40) }), loop, loopOfTwo, gets))
    const duplicate = findings.find((f) => f.kind === 'duplicate')!
    expect(duplicate).toMatchObject({ count: 2, query_indexes: [7, 8], callsite: { line: 51 } })
  })

  it("gives a loop reading one relation every row shares (one author's books) the loop's eager load", () => {
    // Book.objects.filter(stock=0), all of one author, then book.author per row: the same key each time, a duplicate,
    // not an N+1; "run it once before the loop" cannot reach Django's lookup for book.author.
    const books = `${BOOKS.replace(/ ORDER BY .*/, '')} WHERE "shop_book"."stock" = %s`
    const [finding] = findingsOf(unitOf(q(books, [0], { at: site('shop/views.py', 40) }), times(3, () => q(AUTHOR_BY_ID, [7], { at: site('shop/views.py', 42) }))))
    expect(finding).toMatchObject({ kind: 'duplicate', count: 3, suggestion: { code: 'Book.objects.select_related("author")' } })
    expect(finding.suggestion.text).toMatch(
      /^The same query runs 3 times, one per row of a loop, with the same key at shop\/views.py:42: if each row reads it through a relation \(every row has the same one\), add .select_related\("author"\) to the queryset iterated at shop\/views.py:40/,
    )
    expect(finding.suggestion.text).toMatch(/; if the key is a value of the code's own, run it once before the loop and reuse the result$/)
    // With nothing the key could be read through, the duplicate's own advice.
    const [alone] = findingsOf(unitOf(times(3, () => q(AUTHOR_BY_ID, [7], { at: site('shop/views.py', 42) }))))
    expect(alone.suggestion).toEqual({
      text: 'The same query runs 3 times with the same parameters at shop/views.py:42: run it once (before the loop, when a loop runs it) and reuse the result',
      code: null,
    })
  })

  it("names a model's __str__ shown in a template as called while rendering it, not as what rendered it", () => {
    const str = { file: 'shop/models.py', line: 24, function: '__str__' }
    const copies = times(2, () => ({ ...q(AUTHOR_BY_ID, [7], { at: [str] }), template: { name: 'admin/change_list.html', line: 69 } }))
    const [finding] = findingsOf(unitOf(copies))
    expect(finding.suggestion.text).toContain('at shop/models.py:24 (while rendering admin/change_list.html:69)')
  })

  it('cannot know that queries with placeholders repeat when parameters were not captured', () => {
    expect(findingsOf(unitOf(q(AUTHOR_BY_ID, null, { at: SHOP }), q(AUTHOR_BY_ID, null, { at: CART })))).toEqual([])
    expect(findingsOf(unitOf(q(SETTINGS, null, { at: SHOP }), q(SETTINGS, null, { at: CART })))).toMatchObject([{ kind: 'duplicate' }])
  })

  describe('a read run again after a write', () => {
    const BOOK_BY_ID = 'SELECT "shop_book"."id", "shop_book"."stock" FROM "shop_book" WHERE "shop_book"."id" = %s LIMIT 21'
    const RESTOCK = 'UPDATE "shop_book" SET "stock" = %s WHERE "shop_book"."id" = %s'
    const read = (line: number) => q(BOOK_BY_ID, [1], { at: site('shop/views.py', line) })

    it('is not a duplicate of the read before a write to its table: it may see other rows', () => {
      expect(findingsOf(unitOf(read(10), q(RESTOCK, [5, 1], { at: site('shop/views.py', 11) }), read(12)))).toEqual([])
    })

    it('still repeats the read before it when the write was to another table or on another database', () => {
      const elsewhere = q('INSERT INTO "shop_review" ("book_id", "stars") VALUES (%s, %s)', [1, 5], { at: site('shop/views.py', 11) })
      const replica = q(RESTOCK, [5, 1], { at: site('shop/views.py', 11), db: 'replica' })
      for (const write of [elsewhere, replica]) {
        expect(findingsOf(unitOf(read(10), write, read(12)))).toMatchObject([{ kind: 'duplicate', query_indexes: [0, 2] }])
      }
    })

    it('is judged with the reads on its side of the write', () => {
      const unit = unitOf(read(10), read(11), q(RESTOCK, [5, 1], { at: site('shop/views.py', 12) }), read(13), read(14))
      expect(findingsOf(unit).map((f) => [f.kind, f.query_indexes])).toEqual([
        ['duplicate', [0, 1]],
        ['duplicate', [3, 4]],
      ])
    })

    it('counts a statement whose tables cannot be known as a write to every table', () => {
      expect(findingsOf(unitOf(read(10), q('CALL restock_all()', [], { at: site('shop/views.py', 11) }), read(12)))).toEqual([])
      expect(findingsOf(unitOf(read(10), q('BEGIN', [], { at: site('shop/views.py', 11) }), read(12)))).toHaveLength(1)
    })

    it('counts a read whose tables cannot be known as a read of every table', () => {
      const stockOf = (line: number) => q('SELECT book_stock(%s)', [1], { at: site('shop/views.py', line) })
      expect(findingsOf(unitOf(stockOf(10), q(RESTOCK, [5, 1], { at: site('shop/views.py', 11) }), stockOf(12)))).toEqual([])
      expect(findingsOf(unitOf(stockOf(10), stockOf(12)))).toHaveLength(1)
    })
  })

  describe('writes', () => {
    const AT = site('shop/seed.py', 12, 'seed')

    it('never reports the same INSERT as a duplicate: each run adds rows (bulk_create batches of equal objects)', () => {
      const batch = 'INSERT INTO "shop_tag" ("name") VALUES (%s), (%s)'
      expect(findingsOf(unitOf(times(3, () => q(batch, ['x', 'x'], { at: AT }))))).toEqual([])
    })

    it('never reports an UPDATE that computes its value as a duplicate: each run changes the row again', () => {
      const addStock = 'UPDATE "shop_book" SET "stock" = ("shop_book"."stock" + %s) WHERE "shop_book"."id" = %s'
      const unit = unitOf(q(addStock, [1, 11], { at: site('shop/views.py', 10) }), q(addStock, [1, 11], { at: site('shop/views.py', 20) }))
      expect(findingsOf(unit)).toEqual([])
      // Raw SQL puts the parameter first: the slot reads as a plain "= ?", the clause does not.
      const raw = 'UPDATE counters SET n = %s + n WHERE id = %s'
      expect(findingsOf(unitOf(q(raw, [1, 3], { at: site('jobs/tally.py', 4) }), q(raw, [1, 3], { at: site('jobs/tally.py', 9) })))).toEqual([])
      const touch = 'UPDATE sessions SET seen = CURRENT_TIMESTAMP WHERE id = %s'
      expect(findingsOf(unitOf(q(touch, [3], { at: site('jobs/tally.py', 4) }), q(touch, [3], { at: site('jobs/tally.py', 9) })))).toEqual([])
    })

    it('does not report the same UPDATE again after another write to its table changed the row back', () => {
      const ship = 'UPDATE "shop_order" SET "status" = %s WHERE "shop_order"."id" = %s'
      const unit = unitOf(
        q(ship, ['pending', 7], { at: site('shop/views.py', 10) }),
        q(ship, ['shipped', 7], { at: site('shop/views.py', 11) }),
        q(ship, ['pending', 7], { at: site('shop/views.py', 12) }),
      )
      expect(findingsOf(unit)).toEqual([])
    })

    it('reports the same plain UPDATE as a duplicate that changes nothing after the first', () => {
      const ship = 'UPDATE "shop_order" SET "status" = %s WHERE "shop_order"."id" = %s'
      const unit = unitOf(q(ship, ['shipped', 7], { at: site('shop/views.py', 10) }), q(ship, ['shipped', 7], { at: site('shop/views.py', 20) }))
      const [finding] = findingsOf(unit)
      expect(finding).toMatchObject({ kind: 'duplicate', count: 2 })
      expect(finding.suggestion.text).toBe(
        'The same UPDATE runs 2 times with the same values, from shop/views.py:10, shop/views.py:20: after the first it changes nothing; run it once',
      )
    })
  })

  it('counts the redundant copies in the unit summary', () => {
    const unit = unitOf(times(3, () => q(SETTINGS, [], { at: SHOP })), q(AUTHOR_BY_ID, [1], { at: SHOP }), q(AUTHOR_BY_ID, [1], { at: CART }))
    expect(analyse(unit).summary).toMatchObject({ duplicates: 3, findings: 2, n_plus_one: 0, severity: 'warning' })
  })
})

describe('what is not a duplicate', () => {
  it('does not count a query that failed and the retry that followed it', () => {
    const failed = { ...q(AUTHOR_BY_ID, [1], { at: site('shop/views.py', 745) }), error: 'OperationalError: database is locked' }
    expect(findingsOf(unitOf(failed, q(AUTHOR_BY_ID, [1], { at: site('shop/views.py', 745) })))).toEqual([])
  })

  it("says a SQLAlchemy row loaded again after writes may have been expired by a commit()", () => {
    // user = session.get(User, 1); post.title = ...; session.commit(); user.name: the session reloads the user, which
    // "load it once and pass the result along" does not explain: the code loaded it once (a probe).
    const user = 'SELECT users.id, users.name \nFROM users \nWHERE users.id = ?'
    const write = 'UPDATE posts SET title=? WHERE posts.id = ?'
    const copies = (between: string[]) =>
      unitOf(q(user, [1], { at: site('app.py', 10) }), ...between.map((sql) => q(sql, ['t', 2], { at: site('app.py', 11) })), q(user, [1], { at: site('app.py', 12) }))
    const [expired] = findingsOf(copies([write]), { app: FLASK })
    expect(expired.suggestion.text).toContain('with writes between: when a commit() came between them, it expired the session\'s objects (expire_on_commit)')
    // No write between them: the code's own second load.
    const [again] = findingsOf(copies([]), { app: FLASK })
    expect(again.suggestion.text).toContain('load it once and pass the result along')
    expect(again.suggestion.text).not.toContain('expire_on_commit')
    // Not a lookup by primary key: a select() of the code's own, which always queries (no identity map).
    const byAuthor = unitOf(q(user.replace('WHERE users.id', 'WHERE users.team_id'), [1], { at: site('app.py', 10) }), q(write, ['t', 2], { at: site('app.py', 11) }), q(user.replace('WHERE users.id', 'WHERE users.team_id'), [1], { at: site('app.py', 12) }))
    expect(findingsOf(byAuthor, { app: FLASK })[0].suggestion.text).not.toContain('expire_on_commit')
  })

  it('does not count reads of a volatile function: a random order, the next value of a sequence', () => {
    const shuffled = 'SELECT "shop_book"."id" FROM "shop_book" ORDER BY RANDOM() ASC LIMIT 3'
    expect(findingsOf(unitOf(q(shuffled, [], { at: site('shop/views.py', 20) }), q(shuffled, [], { at: site('shop/views.py', 21) })))).toEqual([])
    const ticket = "SELECT nextval('ticket_seq')"
    expect(findingsOf(unitOf(q(ticket, [], { at: site('shop/views.py', 30) }), q(ticket, [], { at: site('shop/views.py', 31) })))).toEqual([])
  })

  it("does not count the same read in another tenant's schema (SET search_path between them)", () => {
    const count = 'SELECT COUNT(*) AS "__count" FROM "shop_order"'
    const at = site('shop/reports.py', 12)
    const perTenant = ['tenant_a', 'tenant_b'].map((schema) => [q(`SET search_path TO ${schema}`, [], { at }), q(count, [], { at })])
    expect(findingsOf(unitOf(perTenant.flat()))).toEqual([])
    // Row-level security by a setting: SET app.tenant, set_config().
    const bySetting = ['a', 'b'].map((tenant) => [q(`SET app.current_tenant = '${tenant}'`, [], { at }), q(count, [], { at })])
    expect(findingsOf(unitOf(bySetting.flat()))).toEqual([])
    const byConfig = ['a', 'b'].map((tenant) => [q("SELECT set_config('app.current_tenant', %s, false)", [tenant], { at }), q(count, [], { at })])
    expect(findingsOf(unitOf(byConfig.flat())).filter((f) => f.sql.includes('shop_order'))).toEqual([])
  })

  it('does not compare parameters the agent cut short: they may differ after the cut', () => {
    const bySlug = 'SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."slug" = %s LIMIT 21'
    const cut = 'x'.repeat(256) + '…'
    expect(findingsOf(unitOf(q(bySlug, [cut], { at: site('shop/views.py', 640) }), q(bySlug, [cut], { at: site('shop/views.py', 641) })))).toEqual([])
    // A list the agent cut at its 1,000 items.
    const byIds = 'SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."id" = ANY(%s)'
    const ids = Array.from({ length: 1000 }, (_, i) => i)
    expect(findingsOf(unitOf(q(byIds, [ids], { at: site('shop/views.py', 650), vendor: 'postgresql' }), q(byIds, [ids], { at: site('shop/views.py', 651), vendor: 'postgresql' })))).toEqual([])
    // Whole values are still compared.
    const [dup] = findingsOf(unitOf(q(bySlug, ['x'], { at: site('shop/views.py', 640) }), q(bySlug, ['x'], { at: site('shop/views.py', 641) })))
    expect(dup).toMatchObject({ kind: 'duplicate', count: 2 })
  })
})
