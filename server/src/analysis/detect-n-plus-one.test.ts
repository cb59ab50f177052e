import { describe, expect, it } from 'vitest'
import type { Schema, WireQuery, WireUnit } from '../protocol.js'
import {
  analyse,
  AUTHOR_BY_ID,
  BOOKS,
  BOOKSHOP,
  findingsOf,
  FLASK,
  PUBLISHER_BY_ID,
  q,
  REVIEWS_OF_BOOK,
  site,
  TAGS_OF_BOOK,
  times,
  unitOf,
} from './test-helpers.js'

const VIEW = site('shop/views.py', 40, 'book_list')
const LOOP = site('shop/views.py', 42, 'book_list')

const CUSTOMERS =
  'SELECT "shop_customer"."id", "shop_customer"."name", "shop_customer"."email", "shop_customer"."joined" FROM "shop_customer" ORDER BY "shop_customer"."name" ASC'
const PROFILE_OF_CUSTOMER =
  'SELECT "shop_profile"."id", "shop_profile"."customer_id", "shop_profile"."city", "shop_profile"."favourite_tag_id", "shop_profile"."newsletter" FROM "shop_profile" WHERE "shop_profile"."customer_id" = %s LIMIT 21'
const ORDERS_OF_CUSTOMER =
  'SELECT "shop_order"."id", "shop_order"."customer_id", "shop_order"."status", "shop_order"."created" FROM "shop_order" WHERE ("shop_order"."customer_id" = %s AND NOT ("shop_order"."status" = %s)) ORDER BY "shop_order"."created" DESC, "shop_order"."id" DESC'
const ITEMS_OF_ORDER =
  'SELECT "shop_orderitem"."id", "shop_orderitem"."order_id", "shop_orderitem"."book_id", "shop_orderitem"."quantity", "shop_orderitem"."price" FROM "shop_orderitem" WHERE "shop_orderitem"."order_id" = %s ORDER BY "shop_orderitem"."id" ASC'
const BOOK_BY_ID =
  'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id", "shop_book"."publisher_id", "shop_book"."isbn", "shop_book"."price", "shop_book"."stock", "shop_book"."published" FROM "shop_book" WHERE "shop_book"."id" = %s LIMIT 21'
const AUTHORS =
  'SELECT "shop_author"."id", "shop_author"."name", "shop_author"."bio", "shop_author"."born" FROM "shop_author" ORDER BY "shop_author"."name" ASC'
const COUNT_BOOKS_OF_AUTHOR = 'SELECT COUNT(*) AS "__count" FROM "shop_book" WHERE "shop_book"."author_id" = %s'
const COUNT_REVIEWS_OF_AUTHOR =
  'SELECT COUNT(*) AS "__count" FROM "shop_review" INNER JOIN "shop_book" ON ("shop_review"."book_id" = "shop_book"."id") WHERE "shop_book"."author_id" = %s'

const loopOf = (n: number, sql: string, key: (i: number) => unknown = (i) => i + 1, at = LOOP) =>
  times(n, (i) => q(sql, [key(i)] as never, { at }))

const booksIn = (n: number) =>
  `SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE "shop_book"."id" IN (${Array(n).fill('%s').join(', ')})`

describe('N+1 over relations, with the schema', () => {
  it('reports a loop of author lookups after the book list as one N+1 fixed by select_related', () => {
    const findings = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(12, AUTHOR_BY_ID)))
    expect(findings).toHaveLength(1)
    expect(findings[0]).toMatchObject({
      kind: 'n_plus_one',
      count: 12,
      trigger_index: 0,
      query_indexes: times(12, (i) => i + 1),
      callsite: { file: 'shop/views.py', line: 42 },
      suggestion: { code: 'Book.objects.select_related("author")' },
    })
    expect(findings[0].suggestion.text).toMatch(/^Add \.select_related\("author"\) to the queryset iterated at shop\/views\.py:40/)
    // The same SQL comes from Author.objects.get(pk=book.author_id), which select_related does not serve.
    expect(findings[0].suggestion.text).toContain(
      'read it as .author in the loop: a query of its own, such as Author.objects.get(pk=...), is not served by it',
    )
  })

  it('says which database each loop ran on when the unit used several: one line reading from two aliases', () => {
    // for i, b in enumerate(books): Author.objects.using(("default", "replica")[i % 2]).get(pk=b.author_id)
    const unit = unitOf(q(BOOKS, [], { at: VIEW }), ...times(6, (i) => q(AUTHOR_BY_ID, [i + 1], { at: LOOP, db: i % 2 ? 'replica' : 'default' })))
    const texts = findingsOf(unit).map((f) => f.suggestion.text)
    expect(texts).toHaveLength(2)
    expect(texts.map((t) => t.slice(t.lastIndexOf(' (on database')))).toEqual([' (on database "default")', ' (on database "replica")'])
    // One database: nothing added.
    expect(findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, AUTHOR_BY_ID)))[0].suggestion.text).not.toContain('on database')
  })

  it('reads from the database the loop read from when it is not "default": the pasted queryset must find the same rows', () => {
    // for b in Book.objects.using("other"): b.author.name (or a router sending Book to "other")
    const other = (sql: string, params: unknown[], at = LOOP) => q(sql, params as never, { at, db: 'other' })
    const related = findingsOf(unitOf(other(BOOKS, [], VIEW), ...times(4, (i) => other(AUTHOR_BY_ID, [i + 1]))))
    expect(related[0].suggestion.code).toBe('Book.objects.using("other").select_related("author")')
    expect(related[0].suggestion.text).toMatch(/ \(on database "other"\)$/)
    // for ev in events: Book.objects.using("other").get(pk=ev.book_id)
    const gets = findingsOf(unitOf(...times(4, (i) => other(BOOK_BY_ID, [i + 1]))))
    expect(gets[0].suggestion.code).toContain('Book.objects.using("other").in_bulk(')
    expect(gets[0].suggestion.text).toContain('Book.objects.using("other").in_bulk(')
    expect(gets[0].suggestion.code).not.toContain('using("other").using(')
    // SQLAlchemy's db is the engine's database name: a session reads from its own engine, nothing to add.
    const engine = (sql: string, params: unknown[], at = LOOP) => q(sql, params as never, { at, db: 'shop.sqlite3' })
    const sa = findingsOf(unitOf(engine(BOOKS, [], VIEW), ...times(4, (i) => engine(AUTHOR_BY_ID, [i + 1]))), { app: FLASK })
    expect(sa[0].suggestion.text).not.toContain('on database')
    expect(sa[0].suggestion.code).not.toContain('using')
  })

  it('loads every foreign key to the looked-up table when the parent has several and the loop cannot be told which it read', () => {
    // for m in messages: f"{m.sender.name} to {m.recipient.name}": one line, one SQL, keys of both FKs.
    const mail = {
      models: [
        { model: 'mail.User', table: 'mail_user', pk: 'id', relations: [] },
        {
          model: 'mail.Message',
          table: 'mail_message',
          pk: 'id',
          relations: [
            { field: 'sender', kind: 'fk' as const, column: 'sender_id', target: 'mail.User' },
            { field: 'recipient', kind: 'fk' as const, column: 'recipient_id', target: 'mail.User' },
          ],
        },
      ],
    }
    const messages = 'SELECT "mail_message"."id", "mail_message"."sender_id", "mail_message"."recipient_id" FROM "mail_message"'
    const userById = 'SELECT "mail_user"."id", "mail_user"."name" FROM "mail_user" WHERE "mail_user"."id" = %s LIMIT 21'
    const unit = unitOf(q(messages, [], { at: VIEW }), ...[1, 2, 3, 1, 2, 3].map((id) => q(userById, [id], { at: LOOP })))
    const [finding] = findingsOf(unit, { schema: mail })
    expect(finding.suggestion.code).toBe('Message.objects.select_related("sender", "recipient")')
    expect(finding.suggestion.text).toContain('2 foreign keys of Message point at User and its queries do not say which one each read, so it loads them all')
    expect(finding.suggestion.text).toContain('(read it as .sender or .recipient in the loop, whichever it reads:')
    // SQLAlchemy: both relationships joined.
    const saMessages = 'SELECT mail_message.id, mail_message.sender_id, mail_message.recipient_id FROM mail_message'
    const saUser = 'SELECT mail_user.id, mail_user.name FROM mail_user WHERE mail_user.id = ?'
    const saUnit = unitOf(q(saMessages, [], { at: VIEW }), ...[1, 2, 3, 1].map((id) => q(saUser, [id], { at: LOOP })))
    const [sa] = findingsOf(saUnit, { app: FLASK, schema: mail })
    expect(sa.suggestion.code).toBe('select(Message).options(joinedload(Message.sender), joinedload(Message.recipient))')
    expect(sa.suggestion.text).toContain('(read it through Message.sender or Message.recipient in the loop, whichever it reads:')
  })

  it('reads an FK of the rows a select_related joined through that join, with the path from the rows iterated', () => {
    // Review.objects.select_related("book"), then review.book.author per row: the author is the joined book's, and
    // the queryset to change is the reviews' (Book.objects.select_related("author") would change nothing).
    const reviews =
      'SELECT "shop_review"."id", "shop_review"."book_id", "shop_review"."customer_id", "shop_review"."stars", "shop_book"."id", "shop_book"."title", "shop_book"."author_id", "shop_book"."publisher_id" FROM "shop_review" INNER JOIN "shop_book" ON ("shop_review"."book_id" = "shop_book"."id")'
    const unit = unitOf(q(reviews, [], { at: VIEW }), ...times(5, (i) => q(AUTHOR_BY_ID, [i + 1], { at: LOOP })))
    const [finding] = findingsOf(unit)
    expect(finding.suggestion.code).toBe('Review.objects.select_related("book__author")')
    expect(finding.suggestion.text).toContain('Add .select_related("book__author") to the queryset iterated at shop/views.py:40')
    expect(finding.suggestion.text).toContain('(read it as .book.author in the loop:')
  })

  it('loads both the rows’ own FK and the joined rows’ FK to the looked-up table, which the loop cannot be told apart', () => {
    // Review.reviewer and Book.author both point at Author; reviews come with select_related("book"): the loop's
    // queries (one per review, by author id) may read either. Before: Book.objects.select_related("author").
    const schema = {
      models: [
        { model: 'lib.Author', table: 'lib_author', pk: 'id', relations: [] },
        { model: 'lib.Book', table: 'lib_book', pk: 'id', relations: [{ field: 'author', kind: 'fk' as const, column: 'author_id', target: 'lib.Author' }] },
        {
          model: 'lib.Review',
          table: 'lib_review',
          pk: 'id',
          relations: [
            { field: 'book', kind: 'fk' as const, column: 'book_id', target: 'lib.Book' },
            { field: 'reviewer', kind: 'fk' as const, column: 'reviewer_id', target: 'lib.Author' },
          ],
        },
      ],
    }
    const reviews =
      'SELECT "lib_review"."id", "lib_review"."book_id", "lib_review"."reviewer_id", "lib_review"."stars", "lib_book"."id", "lib_book"."title", "lib_book"."author_id" FROM "lib_review" INNER JOIN "lib_book" ON ("lib_review"."book_id" = "lib_book"."id")'
    const authorById = 'SELECT "lib_author"."id", "lib_author"."name" FROM "lib_author" WHERE "lib_author"."id" = %s LIMIT 21'
    const unit = unitOf(q(reviews, [], { at: VIEW }), ...[2, 3, 4, 5, 1].map((id) => q(authorById, [id], { at: LOOP })))
    const [finding] = findingsOf(unit, { schema })
    expect(finding.suggestion.code).toBe('Review.objects.select_related("book", "reviewer", "book__author")')
    expect(finding.suggestion.text).toContain('2 relations of Review lead to Author (.reviewer, .book.author) and its queries do not say which one each read')
    expect(finding.suggestion.text).toContain('(read it as .reviewer or .book.author in the loop, whichever it reads:')
    expect(finding.suggestion.text).toContain('(the code keeps the "book" it loads already)')
  })

  it('keeps in the code the foreign keys the queryset already loads with select_related', () => {
    // Book.objects.select_related("author"), then book.publisher per row: pasting select_related("publisher") alone
    // in place of the queryset would bring the author's N+1 back.
    const withAuthor =
      'SELECT "shop_book"."id", "shop_book"."author_id", "shop_book"."publisher_id", "shop_author"."id", "shop_author"."name" FROM "shop_book" INNER JOIN "shop_author" ON ("shop_book"."author_id" = "shop_author"."id")'
    const [finding] = findingsOf(unitOf(q(withAuthor, [], { at: VIEW }), loopOf(3, PUBLISHER_BY_ID)))
    expect(finding.suggestion.code).toBe('Book.objects.select_related("author", "publisher")')
    expect(finding.suggestion.text).toContain('Add .select_related("publisher") to the queryset iterated at shop/views.py:40')
    expect(finding.suggestion.text).toContain('(the code keeps the "author" it loads already)')
    // A join for a filter (author__name=...) selects none of the author's columns: not a select_related.
    const filtered =
      'SELECT "shop_book"."id", "shop_book"."author_id", "shop_book"."publisher_id" FROM "shop_book" INNER JOIN "shop_author" ON ("shop_book"."author_id" = "shop_author"."id") WHERE "shop_author"."name" = %s'
    const [plain] = findingsOf(unitOf(q(filtered, ['Le Guin'], { at: VIEW }), loopOf(3, PUBLISHER_BY_ID)))
    expect(plain.suggestion.code).toBe('Book.objects.select_related("publisher")')
  })

  it('keeps them in a prefetch fix too, and asks to keep joins it cannot name (a nested select_related)', () => {
    const withAuthor =
      'SELECT "shop_book"."id", "shop_book"."author_id", "shop_author"."id", "shop_author"."name" FROM "shop_book" INNER JOIN "shop_author" ON ("shop_book"."author_id" = "shop_author"."id")'
    const [reviews] = findingsOf(unitOf(q(withAuthor, [], { at: VIEW }), loopOf(3, REVIEWS_OF_BOOK)))
    expect(reviews.suggestion.code).toBe('Book.objects.select_related("author").prefetch_related("reviews")')
    // select_related("author__country"): the country is joined from the author, not from the book.
    const nested =
      'SELECT "shop_book"."id", "shop_book"."author_id", "shop_book"."publisher_id", "shop_author"."id", "shop_author"."country_id", "shop_country"."id", "shop_country"."name" FROM "shop_book" INNER JOIN "shop_author" ON ("shop_book"."author_id" = "shop_author"."id") LEFT OUTER JOIN "shop_country" ON ("shop_author"."country_id" = "shop_country"."id")'
    const [publisher] = findingsOf(unitOf(q(nested, [], { at: VIEW }), loopOf(3, PUBLISHER_BY_ID)))
    expect(publisher.suggestion.code).toBe('Book.objects.select_related("publisher")')
    expect(publisher.suggestion.text).toContain('(keep the select_related() the queryset has: the code leaves it out)')
  })

  it('tells a self-join for a filter from a select_related of a foreign key to the same table', () => {
    const staff = {
      models: [
        ...BOOKSHOP.models,
        { model: 'hr.Employee', table: 'hr_employee', pk: 'id', relations: [{ field: 'manager', kind: 'fk' as const, column: 'manager_id', target: 'hr.Employee' }] },
      ],
    }
    const byManagerName =
      'SELECT "hr_employee"."id", "hr_employee"."manager_id", "hr_employee"."name" FROM "hr_employee" INNER JOIN "hr_employee" T2 ON ("hr_employee"."manager_id" = T2."id") WHERE T2."name" = %s'
    const withManager =
      'SELECT "hr_employee"."id", "hr_employee"."manager_id", "hr_employee"."name", T2."id", T2."name" FROM "hr_employee" LEFT OUTER JOIN "hr_employee" T2 ON ("hr_employee"."manager_id" = T2."id")'
    const desk = 'SELECT "shop_publisher"."id" FROM "shop_publisher" WHERE "shop_publisher"."id" = %s LIMIT 21'
    const withDesk = {
      models: staff.models.map((m) =>
        m.model === 'hr.Employee' ? { ...m, relations: [...m.relations, { field: 'desk', kind: 'fk' as const, column: 'desk_id', target: 'shop.Publisher' }] } : m,
      ),
    }
    const code = (trigger: string) => findingsOf(unitOf(q(trigger, [], { at: VIEW }), loopOf(3, desk)), { schema: withDesk })[0].suggestion.code
    expect(code(byManagerName)).toBe('Employee.objects.select_related("desk")')
    expect(code(withManager)).toBe('Employee.objects.select_related("manager", "desk")')
  })

  it('picks the foreign key of the looked-up table when the parent has several', () => {
    const findings = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, PUBLISHER_BY_ID)))
    expect(findings[0].suggestion.code).toBe('Book.objects.select_related("publisher")')
  })

  it('reports the reviews of each book (reverse foreign key) as fixed by prefetch_related', () => {
    const [finding] = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(5, REVIEWS_OF_BOOK)))
    expect(finding).toMatchObject({ kind: 'n_plus_one', count: 5, trigger_index: 0 })
    expect(finding.suggestion.code).toBe('Book.objects.prefetch_related("reviews")')
    expect(finding.suggestion.text).toContain('Add .prefetch_related("reviews") to the queryset iterated at shop/views.py:40')
    // Review.objects.filter(book=book) per book is the same SQL, and the prefetch does not serve it.
    expect(finding.suggestion.text).toContain(
      '(read them as .reviews.all() in the loop: a query of its own, such as Review.objects.filter(book=...), is not served by it)',
    )
  })

  it('reports the tags of each book (many-to-many through table) as fixed by prefetch_related', () => {
    const [finding] = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(4, TAGS_OF_BOOK)))
    expect(finding).toMatchObject({ kind: 'n_plus_one', count: 4, trigger_index: 0 })
    expect(finding.suggestion.code).toBe('Book.objects.prefetch_related("tags")')
    expect(finding.suggestion.text).toContain('(read them as .tags.all() in the loop: a query of its own, such as Tag.objects.filter(')
  })

  it('reports the profile of each customer (reverse one-to-one) as fixed by select_related', () => {
    const [finding] = findingsOf(unitOf(q(CUSTOMERS, [], { at: VIEW }), loopOf(3, PROFILE_OF_CUSTOMER)))
    expect(finding).toMatchObject({ kind: 'n_plus_one', count: 3, trigger_index: 0 })
    expect(finding.suggestion.code).toBe('Customer.objects.select_related("profile")')
  })

  it('finds the nearest earlier query of the parent table as the trigger, past unrelated queries', () => {
    const unit = unitOf(
      q(BOOKS, [], { at: VIEW }),
      q(CUSTOMERS, [], { at: site('shop/views.py', 41) }),
      loopOf(3, AUTHOR_BY_ID),
    )
    expect(findingsOf(unit)[0].trigger_index).toBe(0)
  })

  it('reports nested loops as two findings, the inner one fixed on the outer queryset', () => {
    const orders = q(ORDERS_OF_CUSTOMER, [1, 'cart'], { at: site('shop/views.py', 60, 'account') })
    const perOrder = times(3, (o) => [
      q(ITEMS_OF_ORDER, [o + 1], { at: site('shop/views.py', 62, 'account') }),
      times(2, (b) => q(BOOK_BY_ID, [o * 2 + b + 1], { at: site('shop/views.py', 63, 'account') })),
    ])
    const findings = findingsOf(unitOf(orders, perOrder.flat(2)))
    expect(findings.map((f) => [f.kind, f.count, f.trigger_index])).toEqual([
      ['n_plus_one', 3, 0],
      ['n_plus_one', 6, 1],
    ])
    // One call loads both levels: the outer level's fix is the inner one's (a prefetch of "items" alone beside it
    // would be a second Prefetch of one lookup).
    expect(findings.map((f) => f.suggestion.code)).toEqual(['Order.objects.prefetch_related("items__book")', 'Order.objects.prefetch_related("items__book")'])
    expect(findings[0].suggestion.text).toMatch(/^Add \.prefetch_related\("items"\) /)
    expect(findings[0].suggestion.text).toMatch(/One call loads what this N\+1 and the other one over the same rows need: Order\.objects\.prefetch_related\("items__book"\)$/)
    expect(findings[1].suggestion.text).toContain('iterated at shop/views.py:60')
    expect(findings[1].suggestion.text).not.toContain('One call loads')
  })

  it("names the view that gives a template the queryset it iterates, when no frame of the app's ran it", () => {
    // A ListView's TemplateResponse is rendered after the view returned: the template's line was all the fix said,
    // "Add .select_related("author") to the queryset iterated at shop/book_list.html:5", which a template cannot do.
    const inTemplate = (line: number) => ({ at: [], template: { name: 'shop/book_list.html', line } })
    const textIn = (view: string | null) => {
      const unit = { ...unitOf(q(BOOKS, [], inTemplate(5)), times(3, (i) => q(AUTHOR_BY_ID, [i + 1], inTemplate(6)))), view }
      return findingsOf(unit)[0].suggestion.text
    }
    expect(textIn('shop.views.BookListView')).toContain(
      '; a template cannot change it: add it in the view shop.views.BookListView, to the queryset it gives the template (its queryset attribute or get_queryset())',
    )
    expect(textIn('shop.views.book_list')).toContain('; a template cannot change it: add it in the view shop.views.book_list, to the queryset it gives the template')
    expect(textIn('django.views.generic.list.ListView')).toContain(
      '; a template cannot change it: give ListView.as_view() the queryset in your URLconf (queryset=...), or subclass ListView and set its queryset',
    )
    expect(textIn('django.views.generic.base.TemplateView')).toContain(
      "; a template cannot change it: add it where the queryset is made, TemplateView's extra_context in your URLconf or the get_context_data() of a subclass",
    )
    expect(textIn(null)).toContain('; a template cannot change it: add it in the view, to the queryset it gives the template')
    // Iterated in the view's own code (a frame of the app's), the line says where: nothing more.
    expect(findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, AUTHOR_BY_ID)))[0].suggestion.text).not.toContain('a template cannot')
  })

  it('fetches the related rows of every key at once for a loop over keys alone (values_list("id", flat=True))', () => {
    // for pk in Book.objects.values_list("id", flat=True): Review.objects.filter(book_id=pk): the fix was
    // prefetch_related("reviews") on a queryset of ints, which cannot take it (a probe).
    const ids = 'SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."stock" > %s'
    const reviewsOf = 'SELECT "shop_review"."id", "shop_review"."book_id", "shop_review"."rating" FROM "shop_review" WHERE "shop_review"."book_id" = %s'
    const [finding] = findingsOf(unitOf(q(ids, [0], { at: VIEW }), loopOf(3, reviewsOf)))
    expect(finding.suggestion.code).toBe('Review.objects.filter(book_id__in=values)')
    expect(finding.suggestion.text).toContain('then group them by their book_id and read each key\'s from that in the loop')
    expect(finding.suggestion.text).toContain(
      'the query at shop/views.py:40 selects one column, and a loop over those keys alone (values_list("id", flat=True)) has no objects an eager load could be added to',
    )
    // Rows of the model (their id among other columns): the eager load, as before.
    expect(findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, reviewsOf)))[0].suggestion.code).toBe('Book.objects.prefetch_related("reviews")')
    // SQLAlchemy: session.scalars(select(Book.id)).
    const saIds = 'SELECT books.id \nFROM books'
    const saReviews = 'SELECT reviews.id, reviews.book_id \nFROM reviews \nWHERE reviews.book_id = ?'
    const schema: Schema = {
      models: [
        { model: 'Book', table: 'books', pk: 'id', relations: [{ field: 'reviews', kind: 'reverse_fk', target: 'Review', target_column: 'book_id' }] },
        { model: 'Review', table: 'reviews', pk: 'id', relations: [{ field: 'book', kind: 'fk', target: 'Book', column: 'book_id' }] },
      ],
    }
    const [sa] = findingsOf(unitOf(q(saIds, [], { at: VIEW }), loopOf(3, saReviews)), { app: FLASK, schema })
    expect(sa.suggestion.text).toContain('a loop over those keys alone (select(Book.id)) has no objects')
    expect(sa.suggestion.code).toContain('Review.book_id.in_(values)')
  })

  it('fetches the related rows of every key at once for a loop over rows that are no objects (values("title", "author_id"))', () => {
    // for row in Book.objects.values("title", "author_id"): Author.objects.get(pk=row["author_id"]): told
    // select_related("author"), which values() cannot take (Django raises). A model's rows always select their pk.
    const rows = 'SELECT "shop_book"."title", "shop_book"."author_id" FROM "shop_book" ORDER BY "shop_book"."title" ASC'
    const [finding] = findingsOf(unitOf(q(rows, [], { at: VIEW }), loopOf(3, AUTHOR_BY_ID)))
    expect(finding.suggestion.code).toBe('Author.objects.in_bulk(ids)')
    expect(finding.suggestion.text).toContain(
      'the query at shop/views.py:40 selects columns without the primary key, and a loop over those rows (values("title", "author_id")) has no objects an eager load could be added to',
    )
    // With the primary key among them, they may be objects (only("title", "author")): the eager load, as before.
    const withPk = 'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id" FROM "shop_book"'
    expect(findingsOf(unitOf(q(withPk, [], { at: VIEW }), loopOf(3, AUTHOR_BY_ID)))[0].suggestion.code).toBe('Book.objects.select_related("author")')
    // SQLAlchemy: session.execute(select(Book.title, Book.author_id)) rows.
    const saRows = 'SELECT books.title, books.author_id \nFROM books'
    const saAuthor = 'SELECT authors.id AS authors_id, authors.name AS authors_name \nFROM authors \nWHERE authors.id = ?'
    const schema: Schema = {
      models: [
        { model: 'Book', table: 'books', pk: 'id', relations: [{ field: 'author', kind: 'fk', target: 'Author', column: 'author_id' }] },
        { model: 'Author', table: 'authors', pk: 'id', relations: [{ field: 'books', kind: 'reverse_fk', target: 'Book', target_column: 'author_id' }] },
      ],
    }
    const [sa] = findingsOf(unitOf(q(saRows, [], { at: VIEW }), loopOf(3, saAuthor)), { app: FLASK, schema })
    expect(sa.suggestion.text).toContain('a loop over those rows (select(Book.title, Book.author_id)) has no objects')
    expect(sa.suggestion.code).toContain('Author.id.in_(values)')
  })

  it('mentions the proxy models of the model a fix starts from', () => {
    // for book in ClassicBook.objects.all(): book.author: the same SQL as Book's; told Book.objects.select_related(...)
    // and pasted, the loop got Book objects without the proxy's methods, a 500 (a probe).
    const book = BOOKSHOP.models.find((m) => m.model === 'shop.Book')!
    const schema = { models: [...BOOKSHOP.models, { model: 'shop.ClassicBook', table: book.table, pk: book.pk, proxy_for: 'shop.Book', relations: [] }] }
    const [finding] = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, AUTHOR_BY_ID)), { schema })
    expect(finding.suggestion.code).toBe('Book.objects.select_related("author")')
    expect(finding.suggestion.text).toContain("; if the queryset is of the proxy model ClassicBook, start from its manager instead of Book's: Book objects lack the proxy's methods")
    // The proxy shares the table but is not the table's model: fixes of its relations still name Book's.
    expect(findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, AUTHOR_BY_ID)))[0].suggestion.text).not.toContain('proxy')
  })

  it('gives the N+1s over the same rows one queryset with every load, select_related, prefetch_related and annotate', () => {
    // A ListView's template: {{ book.author.name }}, {% for t in book.tags.all %}, {{ book.reviews.count }}. Three
    // separate Book.objects... fixes, pasted one after the other, each replaced the one before.
    const COUNT_REVIEWS = 'SELECT COUNT(*) AS "__count" FROM "shop_review" WHERE "shop_review"."book_id" = %s'
    const perBook = times(3, (i) => [
      q(AUTHOR_BY_ID, [i + 1], { at: LOOP }),
      q(TAGS_OF_BOOK, [i + 1], { at: site('shop/views.py', 43, 'book_list') }),
      q(COUNT_REVIEWS, [i + 1], { at: site('shop/views.py', 44, 'book_list') }),
    ])
    const findings = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), perBook.flat()))
    const merged = 'Book.objects.select_related("author").prefetch_related("tags").annotate(reviews_count=Count("reviews", distinct=True)).order_by("title", "id")'
    expect(findings.map((f) => f.suggestion.code)).toEqual([merged, merged, merged])
    expect(findings[0].suggestion.text).toMatch(/One queryset does what this N\+1 and 2 others over the same rows need: /)
  })

  it("prefetches a nested loop's relation inside the Prefetch of its rows when that Prefetch keeps every row", () => {
    // Each author's books (line 5), each book's tags (7) and review count (8), all in a template: three fixes,
    // prefetch_related("books"), ("books__tags") and Prefetch("books", queryset=...annotate(...)), which together make
    // Django raise "'books' lookup was already seen with a different queryset" (a probe).
    const BOOKS_OF = 'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id" FROM "shop_book" WHERE "shop_book"."author_id" = %s'
    const COUNT_REVIEWS = 'SELECT COUNT(*) AS "__count" FROM "shop_review" WHERE "shop_review"."book_id" = %s'
    const inTemplate = (line: number) => ({ at: [], template: { name: 'shop/authors.html', line } })
    const perAuthor = times(3, (a) => [
      q(BOOKS_OF, [a + 1], inTemplate(5)),
      ...times(2, (b) => [q(TAGS_OF_BOOK, [a * 2 + b + 1], inTemplate(7)), q(COUNT_REVIEWS, [a * 2 + b + 1], inTemplate(8))]).flat(),
    ])
    const findings = findingsOf(unitOf(q(AUTHORS, [], inTemplate(3)), perAuthor.flat()))
    const merged = 'Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects.annotate(reviews_count=Count("reviews", distinct=True)).prefetch_related("tags")))'
    expect(findings.map((f) => f.suggestion.code)).toEqual([merged, merged, merged])
    expect(findings[1].suggestion.text).toContain(`One call loads what this N+1 and 2 others over the same rows need: ${merged} (needs from django.db.models import Count, Prefetch)`)
  })

  it('keeps apart fixes that one queryset could not hold: a plain prefetch and a filtering Prefetch of one lookup', () => {
    // for book in books: book.reviews.all() (line 42) and book.reviews.filter(rating__gte=4) (line 43). One queryset
    // with only the filtering Prefetch would hand line 42 the filtered reviews; with both, Django raises.
    const FILTERED =
      'SELECT "shop_review"."id", "shop_review"."book_id", "shop_review"."rating" FROM "shop_review" WHERE ("shop_review"."book_id" = %s AND "shop_review"."rating" >= %s)'
    const perBook = times(3, (i) => [q(REVIEWS_OF_BOOK, [i + 1], { at: LOOP }), q(FILTERED, [i + 1, 4], { at: site('shop/views.py', 43, 'book_list') })])
    const codes = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), perBook.flat())).map((f) => f.suggestion.code)
    expect(codes[0]).toBe('Book.objects.prefetch_related("reviews")')
    expect(codes[1]).toMatch(/^Book\.objects\.prefetch_related\(Prefetch\("reviews", queryset=Review\.objects\.filter\(rating__gte=4\)/)
  })

  it('gives the N+1s over the same rows one fix with every relation, and keeps apart loops over other rows', () => {
    // for book in Book.objects.all(): book.author.name, book.publisher.name
    const perBook = times(4, (i) => [q(AUTHOR_BY_ID, [i + 1], { at: LOOP }), q(PUBLISHER_BY_ID, [i + 1], { at: site('shop/views.py', 43, 'book_list') })])
    const findings = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), perBook.flat()))
    expect(findings.map((f) => f.suggestion.code)).toEqual([
      'Book.objects.select_related("author", "publisher")',
      'Book.objects.select_related("author", "publisher")',
    ])
    expect(findings[0].suggestion.text).toMatch(/One call loads what this N\+1 and the other one over the same rows need: Book\.objects\.select_related\("author", "publisher"\)$/)
    // The same loops over two lists (two Book queries): each list its own fix.
    const twoLists = unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, AUTHOR_BY_ID), q(BOOKS, [], { at: site('shop/views.py', 50) }), loopOf(3, PUBLISHER_BY_ID, (i) => i + 1, site('shop/views.py', 52)))
    const loops = findingsOf(twoLists).filter((f) => f.kind === 'n_plus_one')
    expect(loops.map((f) => f.suggestion.code)).toEqual(['Book.objects.select_related("author")', 'Book.objects.select_related("publisher")'])
  })

  const CUSTOMER_BY_ID =
    'SELECT "shop_customer"."id", "shop_customer"."name", "shop_customer"."email", "shop_customer"."joined" FROM "shop_customer" WHERE "shop_customer"."id" = %s LIMIT 21'

  it('puts the loop over rows a prefetch_related loaded on the parent queryset, one hop further', () => {
    // for author in Author.objects.prefetch_related("books"): for book in author.books.all(): book.tags.all()
    const BOOKS_OF_AUTHORS =
      'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id" FROM "shop_book" WHERE "shop_book"."author_id" IN (%s, %s, %s) ORDER BY "shop_book"."title" ASC'
    const loaded = site('shop/views.py', 60)
    const unit = unitOf(q(AUTHORS, [], { at: loaded }), q(BOOKS_OF_AUTHORS, [1, 2, 3], { at: loaded }), loopOf(6, TAGS_OF_BOOK))
    const [finding] = findingsOf(unit)
    expect(finding.suggestion.code).toBe('Author.objects.prefetch_related("books__tags")')
    expect(finding.suggestion.text).toContain('to the queryset iterated at shop/views.py:60')
  })

  it('puts the loop over rows a filtering Prefetch loaded into that Prefetch, which a plain path would not reach', () => {
    // Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects.filter(price__gt=5), to_attr="pricey"))
    const PRICEY_BOOKS =
      'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id" FROM "shop_book" WHERE ("shop_book"."price" > %s AND "shop_book"."author_id" IN (%s, %s, %s)) ORDER BY "shop_book"."title" ASC'
    const loaded = site('shop/views.py', 60)
    const unit = unitOf(q(AUTHORS, [], { at: loaded }), q(PRICEY_BOOKS, ['5.00', 1, 2, 3], { at: loaded }), loopOf(6, TAGS_OF_BOOK))
    const [finding] = findingsOf(unit)
    expect(finding.suggestion.code).toBeNull()
    expect(finding.suggestion.text).toContain(
      'Add .prefetch_related("tags") to the queryset of the Prefetch("books", queryset=...) on the queryset iterated at shop/views.py:60 instead of 6 queries',
    )
    expect(finding.suggestion.text).toContain('(with a to_attr on it, .prefetch_related("<to_attr>__tags") after it does too)')
  })

  describe('over rows a prefetch loaded, puts the one-hop fix for what a plain prefetch would not serve in a Prefetch of them', () => {
    const BOOKS_OF_AUTHORS =
      'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id" FROM "shop_book" WHERE "shop_book"."author_id" IN (%s, %s, %s) ORDER BY "shop_book"."title" ASC'
    const loaded = site('shop/views.py', 60)
    const prefetched = [q(AUTHORS, [], { at: loaded }), q(BOOKS_OF_AUTHORS, [1, 2, 3], { at: loaded })]
    const perBook = (sql: string, params: (i: number) => (number | string)[]) => times(6, (i) => q(sql, params(i), { at: site('shop/views.py', 62) }))

    it('a count per book: annotated on the books, not added up per author', () => {
      const COUNT_REVIEWS = 'SELECT COUNT(*) AS "__count" FROM "shop_review" WHERE "shop_review"."book_id" = %s'
      const [finding] = findingsOf(unitOf(...prefetched, perBook(COUNT_REVIEWS, (i) => [i + 1])))
      expect(finding.suggestion.code).toBe(
        'Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects.annotate(reviews_count=Count("reviews", distinct=True))))',
      )
      expect(finding.suggestion.text).toContain('Annotate the count on the Book rows prefetched into author.books at shop/views.py:60')
      expect(finding.suggestion.text).toContain('put it in a Prefetch("books", queryset=...) of that query')
    })

    it('a count per book the Prefetch filtered: in that Prefetch, which a new one would replace with its filter', () => {
      const COUNT_REVIEWS = 'SELECT COUNT(*) AS "__count" FROM "shop_review" WHERE "shop_review"."book_id" = %s'
      const PRICEY =
        'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id" FROM "shop_book" WHERE ("shop_book"."price" > %s AND "shop_book"."author_id" IN (%s, %s, %s)) ORDER BY "shop_book"."title" ASC'
      const unit = unitOf(q(AUTHORS, [], { at: loaded }), q(PRICEY, ['5.00', 1, 2, 3], { at: loaded }), perBook(COUNT_REVIEWS, (i) => [i + 1]))
      const [finding] = findingsOf(unit)
      expect(finding.suggestion.code).toBeNull()
      expect(finding.suggestion.text).toContain('they come from the Author query\'s Prefetch("books", queryset=...) there, which filters them: put it in that queryset, keeping its filter and to_attr')
    })

    it('a filtered requery per book: a Prefetch with its conditions', () => {
      const FILTERED =
        'SELECT "shop_review"."id", "shop_review"."book_id", "shop_review"."rating" FROM "shop_review" WHERE ("shop_review"."book_id" = %s AND "shop_review"."rating" >= %s)'
      const [finding] = findingsOf(unitOf(...prefetched, perBook(FILTERED, (i) => [i + 1, 4])))
      expect(finding.suggestion.code).toBe(
        'Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects.prefetch_related(Prefetch("reviews", queryset=Review.objects.filter(rating__gte=4)))))',
      )
    })
  })

  it('chains single-valued hops into one select_related on the related manager iterated: the profile of each reviewer', () => {
    const reviews = q(REVIEWS_OF_BOOK, [1], { at: VIEW })
    const perReview = times(3, (i) => [
      q(CUSTOMER_BY_ID, [i + 1], { at: site('shop/views.py', 44) }),
      q(PROFILE_OF_CUSTOMER, [i + 1], { at: site('shop/views.py', 45) }),
    ])
    const findings = findingsOf(unitOf(reviews, perReview.flat()))
    expect(findings.map((f) => f.suggestion.code)).toEqual([
      'book.reviews.select_related("customer__profile")', // loads the customer too
      'book.reviews.select_related("customer__profile")',
    ])
    expect(findings[0].suggestion.text).toContain(
      'Add .select_related("customer") to book.reviews (or the queryset filtered the same way) iterated at shop/views.py:',
    )
    expect(findings[0].suggestion.text).not.toContain('template')
  })

  it('prefetches a related manager iterated in a template where its parent is loaded, since a template cannot call it', () => {
    const render = site('shop/views.py', 41, 'book_detail')
    const inTemplate = (line: number) => ({ at: render, template: { name: 'shop/book_detail.html', line } })
    const reviews = q(REVIEWS_OF_BOOK, [1], inTemplate(12))
    const customers = times(3, (i) => q(CUSTOMER_BY_ID, [i + 1], inTemplate(15)))
    const [finding] = findingsOf(unitOf(reviews, customers))
    expect(finding.suggestion.code).toBe('Book.objects.prefetch_related(Prefetch("reviews", queryset=Review.objects.select_related("customer")))')
    // Each reviewer's profile on the next line: one Prefetch with both hops (two Prefetch objects of "reviews" with
    // different querysets make Django raise).
    const perReview = times(3, (i) => [q(CUSTOMER_BY_ID, [i + 1], inTemplate(15)), q(PROFILE_OF_CUSTOMER, [i + 1], inTemplate(16))])
    const both = findingsOf(unitOf(reviews, perReview.flat())).map((f) => f.suggestion.code)
    expect(both).toEqual([
      'Book.objects.prefetch_related(Prefetch("reviews", queryset=Review.objects.select_related("customer__profile")))',
      'Book.objects.prefetch_related(Prefetch("reviews", queryset=Review.objects.select_related("customer__profile")))',
    ])
    expect(finding.suggestion.text).toContain(
      'to book.reviews (or the queryset filtered the same way) iterated at shop/book_detail.html:12 (rendered from shop/views.py:41)',
    )
    expect(finding.suggestion.text).toContain(
      'a template cannot call it: add it in the view, to the queryset it passes, or for book.reviews with a Prefetch("reviews", ...) where the Book is loaded',
    )
  })

  it('names the model queryset, not a related manager, when the iterated query has more than the parent key', () => {
    const FILTERED_REVIEWS = REVIEWS_OF_BOOK.replace('WHERE "shop_review"."book_id" = %s', 'WHERE ("shop_review"."book_id" = %s AND "shop_review"."rating" >= %s)')
    const reviews = q(FILTERED_REVIEWS, [1, 4], { at: VIEW })
    const customers = times(3, (i) => q(CUSTOMER_BY_ID, [i + 1], { at: site('shop/views.py', 44) }))
    const [finding] = findingsOf(unitOf(reviews, customers))
    expect(finding.suggestion.code).toBe('Review.objects.select_related("customer")')
    expect(finding.suggestion.text).toContain('to the queryset iterated at shop/views.py:')
  })

  it('reports a loop in a template with its template position and the queryset iterated there', () => {
    const render = site('shop/views.py', 25, 'book_list')
    const books = q(BOOKS, [], { at: render, template: { name: 'shop/book_list.html', line: 5 } })
    const authors = times(4, (i) => q(AUTHOR_BY_ID, [i + 1], { at: render, template: { name: 'shop/book_list.html', line: 7 } }))
    const [finding] = findingsOf(unitOf(books, authors))
    expect(finding).toMatchObject({ kind: 'n_plus_one', count: 4, trigger_index: 0, template: { name: 'shop/book_list.html', line: 7 } })
    expect(finding.suggestion.text).toContain(
      'Add .select_related("author") to the queryset iterated at shop/book_list.html:5 (rendered from shop/views.py:25)',
    )
  })

  it('treats the template position as a frame: the same lookup on two template lines is no loop', () => {
    const render = site('shop/views.py', 25, 'book_list')
    const unit = unitOf(
      q(BOOKS, [], { at: render }),
      q(AUTHOR_BY_ID, [1], { at: render, template: { name: 'shop/book_list.html', line: 7 } }),
      q(AUTHOR_BY_ID, [2], { at: render, template: { name: 'shop/book_list.html', line: 9 } }),
    )
    expect(findingsOf(unit)).toEqual([])
  })

  it('tells a partial included at two places apart by where it was included: no loop, and two loops', () => {
    // `{% include "shop/_book_author.html" %}` once for each of two books: one template line, one stack, but no loop.
    const render = site('shop/views.py', 25, 'book_list')
    const partial = (includedAt: number) => ({ at: render, template: { name: 'shop/_book_author.html', line: 1, included_from: [{ name: 'shop/page.html', line: includedAt }] } })
    expect(findingsOf(unitOf(q(BOOKS, [], { at: render }), q(AUTHOR_BY_ID, [1], partial(3)), q(AUTHOR_BY_ID, [2], partial(4))))).toEqual([])
    // Two {% for %} loops including it: two loops, each fixed where its own queryset is iterated.
    const loop = (line: number) => [
      q(BOOKS, [], { at: render, template: { name: 'shop/page.html', line } }),
      ...times(3, (i) => q(AUTHOR_BY_ID, [i + 1], partial(line))),
    ]
    const findings = findingsOf(unitOf(loop(5), loop(6))).filter((finding) => finding.kind === 'n_plus_one')
    expect(findings.map((finding) => [finding.count, finding.template])).toEqual([
      [3, partial(5).template],
      [3, partial(6).template],
    ])
    expect(findings[1].suggestion.text).toContain(
      'Add .select_related("author") to the queryset iterated at shop/page.html:6 (rendered from shop/views.py:25)',
    )
  })

  it('reports a loop of only two as an N+1 warning', () => {
    const [finding] = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(2, AUTHOR_BY_ID)))
    expect(finding).toMatchObject({ kind: 'n_plus_one', count: 2, severity: 'warning' })
  })

  it('reports one lookup per row, not an N+1, when minRepeats asks for more', () => {
    const unit = unitOf(q(BOOKS, [], { at: VIEW }), loopOf(2, AUTHOR_BY_ID))
    expect(findingsOf(unit, { options: { minRepeats: 3 } })).toEqual([])
  })

  it("says to keep the queryset's order_by() when its rows are ordered otherwise than the model's Meta.ordering", () => {
    // The code starts from Author.objects: pasted as given, the page listed its rows in another order (a probe).
    const withOrdering = (ordering: string[] | undefined) => ({
      models: BOOKSHOP.models.map((m) => (m.model === 'shop.Author' ? { ...m, ...(ordering ? { ordering } : {}) } : m)),
    })
    const booksOf = 'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id" FROM "shop_book" WHERE "shop_book"."author_id" = %s'
    const textFor = (ordering: string[] | undefined) =>
      findingsOf(unitOf(q(AUTHORS, [], { at: VIEW }), loopOf(5, booksOf)), { schema: withOrdering(ordering) })[0].suggestion.text
    expect(textFor([])).toContain("(keep the queryset's order_by(): the code leaves it out)")
    expect(textFor(['-name'])).toContain("(keep the queryset's order_by(): the code leaves it out)")
    // The model's own ordering comes back with Author.objects; an ordering not known makes no claim.
    expect(textFor(['name'])).not.toContain('order_by()')
    expect(textFor(undefined)).not.toContain('order_by()')
    const filtered = `${AUTHORS.replace(/ ORDER BY /, ' WHERE "shop_author"."born" < %s ORDER BY ')}`
    const [both] = findingsOf(unitOf(q(filtered, ['1900-01-01'], { at: VIEW }), loopOf(5, booksOf)), { schema: withOrdering([]) })
    expect(both.suggestion.text).toContain("(keep the queryset's filter() and order_by(): the code leaves them out)")
    // A count per row: annotate() groups the rows and drops Meta.ordering, so the fix writes the order itself.
    const [counted] = findingsOf(unitOf(q(filtered, ['1900-01-01'], { at: VIEW }), loopOf(5, COUNT_BOOKS_OF_AUTHOR)), { schema: withOrdering(['name']) })
    expect(counted.suggestion.code).toBe('Author.objects.annotate(books_count=Count("books", distinct=True)).order_by("name")')
    expect(counted.suggestion.text).toContain("(keep the queryset's filter(): the code leaves it out)")
  })

  it('annotates a count per row instead of counting in the loop', () => {
    const [finding] = findingsOf(unitOf(q(AUTHORS, [], { at: VIEW }), loopOf(5, COUNT_BOOKS_OF_AUTHOR)))
    expect(finding).toMatchObject({ kind: 'n_plus_one', count: 5, trigger_index: 0 })
    // AUTHORS orders by name: with annotate(Count(...)) Django leaves the model's Meta.ordering out, so the fix writes it.
    expect(finding.suggestion.code).toBe('Author.objects.annotate(books_count=Count("books", distinct=True)).order_by("name")')
    expect(finding.suggestion.text).toContain('Annotate the count on the queryset iterated at shop/views.py:40')
    expect(finding.suggestion.text).toContain("(with the order_by() of the rows: an annotate() of an aggregate drops the model's Meta.ordering)")
    expect(finding.suggestion.text).not.toContain('filter()')
    // Over Author.objects.filter(...): the code starts from the manager, so the text says to keep the filter.
    const someAuthors = `${AUTHORS.replace(/ ORDER BY .*/, '')} WHERE "shop_author"."born" < %s`
    const [filtered] = findingsOf(unitOf(q(someAuthors, ['1900-01-01'], { at: VIEW }), loopOf(5, COUNT_BOOKS_OF_AUTHOR)))
    expect(filtered.suggestion.code).toBe('Author.objects.annotate(books_count=Count("books", distinct=True))')
    expect(filtered.suggestion.text).toContain("(keep the queryset's filter(): the code leaves it out)")
    // Count pasted without its import is a NameError on the next request.
    expect(filtered.suggestion.text).toMatch(/ \(needs from django\.db\.models import Count\)$/)
    // Rows no query of the unit gave (a thread pool's worker counting for each): the loop's line is where it counts.
    const [noRows] = findingsOf(unitOf(loopOf(5, COUNT_BOOKS_OF_AUTHOR)))
    expect(noRows.suggestion.text).toContain('Annotate the count on the queryset whose rows the loop goes over (its queries run at shop/views.py:42)')
  })

  it('says to read the annotation when the queryset annotates the count already and the loop still counts', () => {
    // Book.objects.annotate(reviews_count=Count("reviews")) pasted, the template still at {{ book.reviews.count }}.
    // Before: the same annotate again, and "keep the select_related() the queryset has", which it had none of.
    const annotated =
      'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id", COUNT(DISTINCT "shop_review"."id") AS "reviews_count" FROM "shop_book" LEFT OUTER JOIN "shop_review" ON ("shop_book"."id" = "shop_review"."book_id") GROUP BY "shop_book"."id", "shop_book"."title", "shop_book"."author_id"'
    const COUNT_REVIEWS = 'SELECT COUNT(*) AS "__count" FROM "shop_review" WHERE "shop_review"."book_id" = %s'
    const perBook = times(3, (i) => [q(COUNT_REVIEWS, [i + 1], { at: LOOP }), q(AUTHOR_BY_ID, [i + 1], { at: site('shop/views.py', 43, 'book_list') })])
    const [counts, authors] = findingsOf(unitOf(q(annotated, [], { at: VIEW }), perBook.flat()))
    expect(counts.suggestion).toEqual({
      text: 'The queryset iterated at shop/views.py:40 annotates reviews_count already: read .reviews_count in the loop (in a template {{ obj.reviews_count }}) instead of .reviews.count(), which still runs 3 COUNT queries, one per row',
      code: null,
    })
    expect(authors.suggestion.code).toBe('Book.objects.select_related("author")')
    expect(authors.suggestion.text).not.toContain('keep the select_related()')
    expect(authors.suggestion.text).toContain("(keep the queryset's annotate(): the code leaves it out)")
  })

  it('follows a count through a join to the relation path: the reviews of the books of each author', () => {
    const [finding] = findingsOf(unitOf(q(AUTHORS, [], { at: VIEW }), loopOf(3, COUNT_REVIEWS_OF_AUTHOR)))
    expect(finding.suggestion.code).toBe('Author.objects.annotate(reviews_count=Count("books__reviews", distinct=True)).order_by("name")')
  })

  it('asks to include a deferred field fetched once per row in only()', () => {
    const onlyTitle = 'SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" ORDER BY "shop_book"."title" ASC, "shop_book"."id" ASC'
    const priceOf = 'SELECT "shop_book"."id", "shop_book"."price" FROM "shop_book" WHERE "shop_book"."id" = %s LIMIT 21'
    const [finding] = findingsOf(unitOf(q(onlyTitle, [], { at: VIEW }), loopOf(6, priceOf)))
    expect(finding).toMatchObject({ kind: 'n_plus_one', count: 6, trigger_index: 0 })
    expect(finding.suggestion.code).toBe('Book.objects.only("title", "price")')
    expect(finding.suggestion.text).toMatch(/^Include "price" in \.only\(\.\.\.\) \(or remove it from \.defer\(\.\.\.\)\)/)
  })

  it('names foreign keys by their field in only()', () => {
    const onlyTitle = 'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."publisher_id" FROM "shop_book"'
    const authorIdOf = 'SELECT "shop_book"."id", "shop_book"."author_id" FROM "shop_book" WHERE "shop_book"."id" = %s LIMIT 21'
    const [finding] = findingsOf(unitOf(q(onlyTitle, [], { at: VIEW }), loopOf(3, authorIdOf)))
    expect(finding.suggestion.code).toBe('Book.objects.only("title", "publisher", "author")')
  })

  it('prefers the foreign key of a nearer parent over a deferred field of an older query', () => {
    const tagIds = 'SELECT "shop_tag"."id" FROM "shop_tag" WHERE "shop_tag"."name" LIKE %s'
    const profiles =
      'SELECT "shop_profile"."id", "shop_profile"."customer_id", "shop_profile"."city", "shop_profile"."favourite_tag_id", "shop_profile"."newsletter" FROM "shop_profile"'
    const tagById = 'SELECT "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" WHERE "shop_tag"."id" = %s LIMIT 21'
    const unit = unitOf(q(tagIds, ['%a%'], { at: VIEW }), q(profiles, [], { at: VIEW }), loopOf(3, tagById))
    expect(findingsOf(unit)[0]).toMatchObject({ trigger_index: 1, suggestion: { code: 'Profile.objects.select_related("favourite_tag")' } })
  })

  it('asks for a Prefetch(queryset=) into a list of its own, beside the plain prefetch, when a prefetched relation is filtered again per row', () => {
    // The plain prefetch may serve the loop's other reads (book.reviews.all()): replacing it would change them.
    const prefetch =
      'SELECT "shop_review"."id", "shop_review"."book_id", "shop_review"."customer_id", "shop_review"."rating", "shop_review"."body", "shop_review"."created" FROM "shop_review" WHERE "shop_review"."book_id" IN (%s, %s, %s) ORDER BY "shop_review"."created" DESC'
    const goodReviews =
      'SELECT "shop_review"."id", "shop_review"."book_id", "shop_review"."customer_id", "shop_review"."rating", "shop_review"."body", "shop_review"."created" FROM "shop_review" WHERE ("shop_review"."book_id" = %s AND "shop_review"."rating" >= %s) ORDER BY "shop_review"."created" DESC'
    const unit = unitOf(
      q(BOOKS, [], { at: VIEW }),
      q(prefetch, [1, 2, 3], { at: VIEW }),
      times(3, (i) => q(goodReviews, [i + 1, 4], { at: LOOP })),
    )
    const findings = findingsOf(unit)
    expect(findings).toHaveLength(1)
    expect(findings[0]).toMatchObject({ kind: 'n_plus_one', count: 3, trigger_index: 0 })
    expect(findings[0].suggestion.code).toBe(
      'Book.objects.prefetch_related("reviews", Prefetch("reviews", queryset=Review.objects.filter(rating__gte=4).order_by("-created"), to_attr="reviews_rating_gte_4"))',
    )
    expect(findings[0].suggestion.text).toContain(
      'Add Prefetch("reviews", queryset=Review.objects.filter(rating__gte=4).order_by("-created"), to_attr="reviews_rating_gte_4") beside the plain prefetch_related("reviews")',
    )
    expect(findings[0].suggestion.text).toContain('read .reviews_rating_gte_4 (a list) in the loop instead: a filtered related manager')
    expect(findings[0].suggestion.text).toContain('keep the plain prefetch for the loop\'s other reads of .reviews, or drop it if there are none')
  })

  it('says to read the rows a plain prefetch loaded through the relation when the loop queries exactly them again', () => {
    // prefetch_related("reviews"), then Review.objects.filter(book=b) per book: the same rows, one query each.
    const prefetch = 'SELECT "shop_review"."id", "shop_review"."book_id" FROM "shop_review" WHERE "shop_review"."book_id" IN (%s, %s, %s)'
    const ofBook = 'SELECT "shop_review"."id", "shop_review"."book_id" FROM "shop_review" WHERE "shop_review"."book_id" = %s'
    const unit = unitOf(q(BOOKS, [], { at: VIEW }), q(prefetch, [1, 2, 3], { at: VIEW }), times(3, (i) => q(ofBook, [i + 1], { at: LOOP })))
    const [finding] = findingsOf(unit)
    expect(finding.suggestion.code).toBeNull()
    expect(finding.suggestion.text).toContain('The rows are loaded already by the plain prefetch_related("reviews") on the queryset iterated at shop/views.py:40: read them as .reviews.all() in the loop')
  })

  it('names the list of a Prefetch beside a plain one after its conditions, a minus sign included', () => {
    const prefetch = 'SELECT "shop_review"."id", "shop_review"."book_id" FROM "shop_review" WHERE "shop_review"."book_id" IN (%s, %s, %s)'
    const above = 'SELECT "shop_review"."id", "shop_review"."book_id" FROM "shop_review" WHERE ("shop_review"."book_id" = %s AND "shop_review"."rating" >= %s)'
    const unit = unitOf(q(BOOKS, [], { at: VIEW }), q(prefetch, [1, 2, 3], { at: VIEW }), times(3, (i) => q(above, [i + 1, -1], { at: LOOP })))
    expect(findingsOf(unit)[0].suggestion.code).toContain('to_attr="reviews_rating_gte_minus1"')
  })

  describe('a related manager filtered, ordered or cut per row (a plain prefetch_related would not be used)', () => {
    const COLUMNS = '"shop_book"."id", "shop_book"."title", "shop_book"."author_id", "shop_book"."stock", "shop_book"."published"'
    const inStock = `SELECT ${COLUMNS} FROM "shop_book" WHERE ("shop_book"."author_id" = %s AND "shop_book"."stock" > %s)`
    const hasStock = 'SELECT 1 AS "a" FROM "shop_book" WHERE ("shop_book"."author_id" = %s AND "shop_book"."stock" > %s) LIMIT 1'
    const countInStock = 'SELECT COUNT(*) AS "__count" FROM "shop_book" WHERE ("shop_book"."author_id" = %s AND "shop_book"."stock" > %s)'
    const newest = `SELECT ${COLUMNS} FROM "shop_book" WHERE "shop_book"."author_id" = %s ORDER BY "shop_book"."published" DESC LIMIT 1`
    const fix = (sql: string, params: (i: number) => unknown[]) =>
      findingsOf(unitOf(q(AUTHORS, [], { at: VIEW }), times(4, (i) => q(sql, params(i) as never, { at: LOOP }))))[0].suggestion

    it('prefetches the filtered rows with Prefetch(queryset=) and reads them with .all()', () => {
      const { code, text } = fix(inStock, (i) => [i + 1, 0])
      expect(code).toBe('Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects.filter(stock__gt=0)))')
      expect(text).toContain('read them with .all() in the loop')
    })

    it('annotates an Exists() or a Count() with the same conditions', () => {
      const exists = 'Author.objects.annotate(has_books=Exists(Book.objects.filter(author=OuterRef("pk"), stock__gt=0)))'
      expect(fix(hasStock, (i) => [i + 1, 0]).code).toBe(exists)
      // Django 5 sends the selected 1 as a parameter.
      expect(fix(hasStock.replace('SELECT 1 AS', 'SELECT %s AS'), (i) => [1, i + 1, 0]).code).toBe(exists)
      expect(fix(countInStock, (i) => [i + 1, 0]).code).toBe('Author.objects.annotate(books_count=Count("books", filter=Q(books__stock__gt=0), distinct=True)).order_by("name")')
    })

    it('gives the first and the last of one relation lists of their own, in one fix', () => {
      // author.books.order_by("published").first() and .last() in one loop: both were to_attr="books_list", and the
      // two Prefetch objects pasted together made Django raise "'books_list' lookup was already seen with a different
      // queryset" (a probe).
      const oldest = newest.replace('DESC', 'ASC')
      const perAuthor = times(3, (i) => [q(oldest, [i + 1], { at: LOOP }), q(newest, [i + 1], { at: site('shop/views.py', 43, 'book_list') })])
      const findings = findingsOf(unitOf(q(AUTHORS, [], { at: VIEW }), perAuthor.flat()))
      const both =
        'Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects.order_by("published")[:1], to_attr="books_by_published")).prefetch_related(Prefetch("books", queryset=Book.objects.order_by("-published")[:1], to_attr="books_by_published_desc"))'
      expect(findings.map((f) => f.suggestion.code)).toEqual([both, both])
    })

    it('prefetches into a list with to_attr, in the order of the loop, when each row takes the first of an ordered set', () => {
      const { code, text } = fix(newest, (i) => [i + 1])
      expect(code).toBe('Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects.order_by("-published")[:1], to_attr="books_by_published_desc"))')
      expect(text).toContain('in the loop take the first of .books_by_published_desc (empty where .first() gave None)')
      expect(text).toContain('Django 4.2 or later')
      const byExpression = newest.replace('"shop_book"."published" DESC', 'COALESCE("shop_book"."published", %s) DESC')
      const unknownOrder = fix(byExpression, (i) => [i + 1, '2000-01-01'])
      expect(unknownOrder.code).toBeNull()
      expect(unknownOrder.text).toContain(".order_by(<the loop's order>)[:1]")
    })

    it('gives no code when a condition cannot be written back exactly, rather than code loading other rows', () => {
      const other = (condition: string) => inStock.replace('"shop_book"."stock" > %s', condition)
      const cases: [string, (i: number) => unknown[]][] = [
        [other('NOT ("shop_book"."stock" = %s)'), (i) => [i + 1, 0]], // exclude(stock=0)
        [other('"shop_book"."published" IS NULL'), (i) => [i + 1]],
        [other('"shop_book"."stock" IN (%s, %s)'), (i) => [i + 1, 1, 2]],
        [other('"shop_book"."published" BETWEEN %s AND %s'), (i) => [i + 1, '2020-01-01', '2020-12-31']],
        [other('("shop_book"."stock" = %s OR "shop_book"."stock" = %s)'), (i) => [i + 1, 0, 5]],
        [other('"shop_book"."title" = %s'), (i) => [i + 1, 'A title much longer than forty characters, cut in display']],
        [
          inStock.replace('FROM "shop_book" WHERE', 'FROM "shop_book" INNER JOIN "shop_publisher" ON ("shop_book"."publisher_id" = "shop_publisher"."id") WHERE')
            .replace('"shop_book"."stock" > %s', '"shop_publisher"."name" = %s'),
          (i) => [i + 1, 'Penguin'],
        ],
      ]
      for (const [sql, params] of cases) {
        const { code, text } = fix(sql, params)
        expect(code, sql).toBeNull()
        expect(text, sql).toContain('Prefetch("books", queryset=Book.objects.filter(<the loop\'s other conditions>))')
      }
      const excluded = fix(hasStock.replace('"shop_book"."stock" > %s', 'NOT ("shop_book"."stock" = %s)'), (i) => [i + 1, 0])
      expect(excluded.code).toBeNull()
      expect(excluded.text).toContain('Exists(Book.objects.filter(author=OuterRef("pk"), <the loop\'s other conditions>))')
    })

    it('takes a get() per row (LIMIT 21, no ORDER BY) for no cut', () => {
      const byTitle = `SELECT ${COLUMNS} FROM "shop_book" WHERE ("shop_book"."author_id" = %s AND "shop_book"."title" = %s) LIMIT 21`
      const { code } = fix(byTitle, (i) => [i + 1, 'Dune'])
      expect(code).toBe('Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects.filter(title="Dune")))')
    })

    it('names the Prefetch of a nested loop with the joined path, without code: the outer hop may be filtered too', () => {
      const ordersOf = ORDERS_OF_CUSTOMER.replace(' AND NOT ("shop_order"."status" = %s)', '')
      const bigItems = ITEMS_OF_ORDER.replace('"shop_orderitem"."order_id" = %s', '("shop_orderitem"."order_id" = %s AND "shop_orderitem"."quantity" > %s)')
      const perCustomer = times(3, (c) => [
        q(ordersOf, [c + 1], { at: site('shop/views.py', 61) }),
        times(2, (o) => q(bigItems, [c * 2 + o + 1, 1], { at: site('shop/views.py', 62) })),
      ])
      const inner = findingsOf(unitOf(q(CUSTOMERS, [], { at: VIEW }), perCustomer.flat(2))).find((f) => f.count === 6)!
      expect(inner.suggestion.code).toBeNull()
      expect(inner.suggestion.text).toContain('Prefetch("orders__items", queryset=OrderItem.objects.filter(<the loop\'s other conditions>).order_by("id"))')
    })

    it('gives no code for anything else that shapes the rows: OFFSET, DISTINCT, GROUP BY, a subquery, another join', () => {
      const cases: [string, (i: number) => unknown[]][] = [
        [`${newest.replace(' LIMIT 1', ' LIMIT 5 OFFSET 5')}`, (i) => [i + 1]], // a slice [5:10]
        [hasStock.replace(' LIMIT 1', ' LIMIT 1 OFFSET 5'), (i) => [i + 1, 0]], // [5:].exists()
        [`SELECT COUNT(*) FROM (SELECT "shop_book"."id" AS "col1" FROM "shop_book" WHERE ("shop_book"."author_id" = %s AND "shop_book"."stock" > %s) LIMIT 5) subquery`, (i) => [i + 1, 0]],
        [inStock.replace('SELECT ', 'SELECT DISTINCT '), (i) => [i + 1, 0]],
        [`${inStock} GROUP BY "shop_book"."publisher_id"`, (i) => [i + 1, 0]],
        [inStock.replace('FROM "shop_book" WHERE', 'FROM "shop_book" LEFT OUTER JOIN "shop_review" ON ("shop_book"."id" = "shop_review"."book_id") WHERE'), (i) => [i + 1, 0]],
        [inStock.replace('"shop_book"."stock" > %s', '"shop_book"."stock" <> %s'), (i) => [i + 1, 0]], // exclude() keeps NULLs, <> does not
        [inStock.replace('"shop_book"."stock" > %s', '"shop_book"."stock" = %s'), (i) => [i + 1, null]], // = NULL matches nothing
        [inStock.replace('"shop_book"."stock" > %s', '"shop_book"."title" LIKE %s'), (i) => [i + 1, '%war%']], // case rules differ by database
        [inStock.replace('"shop_book"."stock" > %s', '"shop_book"."Stock Level" > %s'), (i) => [i + 1, 0]], // a db_column
      ]
      for (const [sql, params] of cases) expect(fix(sql, params).code, sql).toBeNull()
    })

    it('reads a slice of more than one row from the list', () => {
      const { code, text } = fix(newest.replace('LIMIT 1', 'LIMIT 3'), (i) => [i + 1])
      expect(code).toBe('Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects.order_by("-published")[:3], to_attr="books_by_published_desc"))')
      expect(text).toContain('read .books_by_published_desc in the loop: a slice of the related manager')
    })
  })

  it('suggests in_bulk for a get by primary key in a loop without a parent query', () => {
    const [finding] = findingsOf(unitOf(loopOf(4, AUTHOR_BY_ID, (i) => i + 10)))
    expect(finding).toMatchObject({ kind: 'n_plus_one', count: 4, trigger_index: null })
    expect(finding.suggestion.code).toBe('Author.objects.in_bulk(ids)')
    expect(finding.suggestion.text).toContain('before the loop with Author.objects.in_bulk(ids) (or .filter(pk__in=ids)) instead of 4 lookups by primary key at shop/views.py:42')
  })

  it('sums (averages...) the rows of every key in one grouped query for a SUM per key', () => {
    const perStatus = 'SELECT SUM("shop_order"."total") AS "total__sum" FROM "shop_order" WHERE "shop_order"."status" = %s'
    const statuses = ['new', 'paid', 'shipped']
    const [finding] = findingsOf(unitOf(times(3, (i) => q(perStatus, [statuses[i]], { at: LOOP }))))
    expect(finding.suggestion.code).toBe('Order.objects.filter(status__in=values).values("status").annotate(sum=Sum("total"))')
    expect(finding.suggestion.text).toContain('Compute the SUM of every key in one grouped query')
  })

  it("keeps the loop's other conditions with the keys: a GenericRelation's content type, without which other models' rows come too", () => {
    const schema: Schema = {
      models: [
        ...BOOKSHOP.models,
        { model: 'shop.Comment', table: 'shop_comment', pk: 'id', relations: [], generic_fks: [{ field: 'target', ct_column: 'content_type_id', fk_column: 'object_id' }] },
      ],
    }
    const commentsOf =
      'SELECT "shop_comment"."id", "shop_comment"."text" FROM "shop_comment" WHERE ("shop_comment"."content_type_id" = %s AND "shop_comment"."object_id" = %s)'
    const [finding] = findingsOf(unitOf(times(3, (i) => q(commentsOf, [7, i + 1], { at: LOOP }))), { schema })
    expect(finding.suggestion.code).toBe('Comment.objects.filter(content_type_id=7, object_id__in=values)')
    // Conditions that cannot be written exactly: no code, and the text says they go with the keys.
    const named = 'SELECT "shop_comment"."id" FROM "shop_comment" WHERE ("shop_comment"."text" LIKE %s AND "shop_comment"."object_id" = %s)'
    const [like] = findingsOf(unitOf(times(3, (i) => q(named, ['%x%', i + 1], { at: LOOP }))), { schema })
    expect(like.suggestion.code).toBeNull()
    expect(like.suggestion.text).toContain('(WHERE "shop_comment"."object_id" IN (...) and the loop\'s other conditions)')
  })

  it("keeps a get by primary key's other conditions in the in_bulk fix, or gives no code when they cannot be written", () => {
    // Book.objects.filter(pk=pk, stock__gt=0).first() per id: in_bulk(ids) alone would return the books out of stock.
    const inStock = 'SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE ("shop_book"."id" = %s AND "shop_book"."stock" > %s) ORDER BY "shop_book"."id" ASC LIMIT 1'
    const [finding] = findingsOf(unitOf(times(3, (i) => q(inStock, [i + 1, 0], { at: LOOP }))))
    expect(finding.suggestion.code).toBe('Book.objects.filter(stock__gt=0).in_bulk(ids)')
    expect(finding.suggestion.text).toContain('before the loop with Book.objects.filter(stock__gt=0).in_bulk(ids) instead of 3 lookups by primary key')
    // filter(pk=pk, deleted_at__isnull=True): a condition with no value to write.
    const live = 'SELECT "shop_book"."id" FROM "shop_book" WHERE ("shop_book"."id" = %s AND "shop_book"."deleted_at" IS NULL) LIMIT 21'
    const [unwritten] = findingsOf(unitOf(times(3, (i) => q(live, [i + 1], { at: LOOP }))))
    expect(unwritten.suggestion.code).toBeNull()
    expect(unwritten.suggestion.text).toContain("(or .filter(pk__in=ids)) with the loop's other conditions instead of 3 lookups by primary key")
  })

  it('keeps the row locks of a select_for_update() loop in the fix', () => {
    const [finding] = findingsOf(unitOf(loopOf(3, `${AUTHOR_BY_ID} FOR UPDATE`, (i) => i + 10)))
    expect(finding.suggestion.code).toBe('Author.objects.select_for_update().in_bulk(ids)')
  })

  it("keeps the loop's select_related in the in_bulk fix, which alone brings back an N+1 of the joined table", () => {
    // Book.objects.select_related("author").get(pk=pk) per id: pasted, in_bulk(ids) made 13 queries 14 (a probe).
    const withAuthor =
      'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id", "shop_author"."id", "shop_author"."name" FROM "shop_book" INNER JOIN "shop_author" ON ("shop_book"."author_id" = "shop_author"."id") WHERE "shop_book"."id" = %s LIMIT 21'
    const [finding] = findingsOf(unitOf(times(3, (i) => q(withAuthor, [i + 1], { at: LOOP }))))
    expect(finding.suggestion.code).toBe('Book.objects.select_related("author").in_bulk(ids)')
    expect(finding.suggestion.text).toContain('before the loop with Book.objects.select_related("author").in_bulk(ids) (or .filter(pk__in=ids))')
    // A join it cannot name (select_related("author__country")): no code, and the text says to keep it.
    const nested = withAuthor.replace('FROM "shop_book"', ', "shop_country"."name" FROM "shop_book"').replace(' WHERE', ' INNER JOIN "shop_country" ON ("shop_author"."country_id" = "shop_country"."id") WHERE')
    const [deeper] = findingsOf(unitOf(times(3, (i) => q(nested, [i + 1], { at: LOOP }))))
    expect(deeper.suggestion.code).toBeNull()
    expect(deeper.suggestion.text).toContain("in_bulk(ids) (or .filter(pk__in=ids)), keeping the loop's select_related(), instead of 3 lookups")
  })

  it('annotates an average (sum, min, max) per row instead of prefetching rows, which would not serve it', () => {
    const avgOf = 'SELECT AVG("shop_review"."rating") AS "rating__avg" FROM "shop_review" WHERE "shop_review"."book_id" = %s'
    const [finding] = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, avgOf)))
    expect(finding.suggestion.code).toBe('Book.objects.annotate(reviews_rating_avg=Avg("reviews__rating")).order_by("title", "id")')
    expect(finding.suggestion.text).toContain('and read .reviews_rating_avg instead of running 3 AVG queries, one per row')
    expect(finding.suggestion.text).not.toContain('Subquery')
    const sumOf = 'SELECT SUM("shop_review"."rating") AS "rating__sum" FROM "shop_review" WHERE "shop_review"."book_id" = %s'
    const [sum] = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, sumOf)))
    expect(sum.suggestion.text).toContain('the sum counts rows more than once: use a Subquery then')
  })

  it("gives no in_bulk code when the model's default manager leaves rows out: the loop's rows may be others", () => {
    const schema = { models: BOOKSHOP.models.map((m) => (m.model === 'shop.Author' ? { ...m, manager: { name: 'objects', filtered: true } } : m)) }
    const [finding] = findingsOf(unitOf(loopOf(4, AUTHOR_BY_ID, (i) => i + 10)), { schema })
    expect(finding.suggestion.code).toBeNull()
    expect(finding.suggestion.text).toContain("(Author.objects leaves rows out: if the loop reads rows it does not hold, use the loop's manager, or Author._base_manager)")
  })

  it("writes each model's own default manager when two apps have models of one class name", () => {
    // blog.Author's default manager is `people`; shop.Author's is `objects`.
    const blogAuthor = { model: 'blog.Author', table: 'blog_author', pk: 'id', relations: [], manager: { name: 'people', filtered: false } }
    const schema = { models: [...BOOKSHOP.models, blogAuthor] }
    const [shop] = findingsOf(unitOf(loopOf(4, AUTHOR_BY_ID, (i) => i + 10)), { schema })
    expect(shop.suggestion.code).toBe('Author.objects.in_bulk(ids)')
    const blogById = 'SELECT "blog_author"."id", "blog_author"."name" FROM "blog_author" WHERE "blog_author"."id" = %s LIMIT 21'
    const [blog] = findingsOf(unitOf(loopOf(4, blogById, (i) => i + 10)), { schema })
    expect(blog.suggestion.code).toBe('Author.people.in_bulk(ids)')
  })

  describe('a key compared case-insensitively (iexact)', () => {
    const names = ['ADA', 'grace', 'Linus']
    const iexactSqlite = 'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" WHERE "shop_author"."name" LIKE %s ESCAPE \'\\\' ORDER BY "shop_author"."id" ASC LIMIT 1'
    const iexactPostgres = 'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" WHERE UPPER("shop_author"."name"::text) = UPPER(%s) ORDER BY "shop_author"."id" ASC LIMIT 1'
    const CASELESS = 'Author.objects.filter(reduce(or_, [Q(name__iexact=v) for v in values]))'

    it('reports filter(name__iexact=...) per row on SQLite and PostgreSQL, fixed by one query of every key, compared alike', () => {
      for (const [sql, vendor] of [[iexactSqlite, 'sqlite'], [iexactPostgres, 'postgresql']]) {
        const [finding] = findingsOf(unitOf(times(3, (i) => q(sql, [names[i]], { at: LOOP, vendor }))))
        expect(finding).toMatchObject({ kind: 'n_plus_one', count: 3 })
        expect(finding.suggestion.code).toBe(CASELESS)
        expect(finding.suggestion.text).toContain('then match each row to its key case-insensitively in the loop')
      }
    })

    it("keeps the loop's other conditions after the keys", () => {
      const withStatus = 'SELECT "shop_author"."id" FROM "shop_author" WHERE ("shop_author"."status" = %s AND UPPER("shop_author"."name"::text) = UPPER(%s))'
      const [finding] = findingsOf(unitOf(times(3, (i) => q(withStatus, ['active', names[i]], { at: LOOP, vendor: 'postgresql' }))))
      expect(finding.suggestion.code).toBe('Author.objects.filter(reduce(or_, [Q(name__iexact=v) for v in values]), status="active")')
    })

    it('does not report a LIKE per row whose values have wildcards: a search per row (icontains)', () => {
      const contains = 'SELECT "shop_author"."id" FROM "shop_author" WHERE "shop_author"."name" LIKE %s ESCAPE \'\\\''
      expect(findingsOf(unitOf(times(3, (i) => q(contains, [`%${names[i]}%`], { at: LOOP }))))).toEqual([])
      // An escaped wildcard is a character of the name: iexact of "50\\%" is still an equality.
      const [escaped] = findingsOf(unitOf(times(3, (i) => q(iexactSqlite, [`${i}0\\%`], { at: LOOP }))))
      expect(escaped.suggestion.code).toBe(CASELESS)
    })

    it("writes SQLAlchemy's ilike() per row as one query of every key, each with ilike()", () => {
      const ilike = 'SELECT users.id, users.email FROM users WHERE users.email ILIKE %(email_1)s'
      const schema = { models: [{ model: 'User', table: 'users', pk: 'id', relations: [] }] }
      const unit = unitOf(times(3, (i) => q(ilike, { email_1: `${names[i]}@example.org` }, { at: LOOP, vendor: 'postgresql' })))
      const [finding] = findingsOf(unit, { app: FLASK, schema })
      expect(finding.suggestion.code).toBe('session.scalars(select(User).where(or_(*[User.email.ilike(v) for v in values]))).all()')
      // On SQLite, ilike() is written lower(users.email) LIKE lower(?).
      const lowerLike = 'SELECT users.id, users.email FROM users WHERE lower(users.email) LIKE lower(?)'
      const [sqlite] = findingsOf(unitOf(times(3, (i) => q(lowerLike, [`${names[i]}@example.org`], { at: LOOP }))), { app: FLASK, schema })
      expect(sqlite.suggestion.code).toBe('session.scalars(select(User).where(or_(*[User.email.ilike(v) for v in values]))).all()')
    })

    it('gives no code for a count per key compared case-insensitively (grouping by the column would split its cases)', () => {
      const countOf = 'SELECT COUNT(*) AS "__count" FROM "shop_author" WHERE UPPER("shop_author"."name"::text) = UPPER(%s)'
      const [finding] = findingsOf(unitOf(times(3, (i) => q(countOf, [names[i]], { at: LOOP, vendor: 'postgresql' }))))
      expect(finding.suggestion.code).toBeNull()
      expect(finding.suggestion.text).toContain('equal to any key, compared case-insensitively as the loop compares')
    })
  })

  it('counts the rows of every key in one grouped query for a count per key (orders per status)', () => {
    const perStatus = 'SELECT COUNT(*) AS "__count" FROM "shop_order" WHERE "shop_order"."status" = %s'
    const statuses = ['new', 'paid', 'shipped']
    const [finding] = findingsOf(unitOf(times(3, (i) => q(perStatus, [statuses[i]], { at: LOOP }))))
    expect(finding.suggestion.code).toBe('Order.objects.filter(status__in=values).values("status").annotate(count=Count("pk"))')
    expect(finding.suggestion.text).toContain("and read each key's count from it in the loop (a key with no rows is missing: 0) instead of 3 COUNT queries")
    const [sa] = findingsOf(unitOf(times(3, (i) => q('SELECT count(*) AS count_1 FROM orders WHERE orders.status = ?', [statuses[i]], { at: LOOP }))), {
      app: FLASK,
      schema: { models: [{ model: 'Order', table: 'orders', pk: 'id', relations: [] }] },
    })
    expect(sa.suggestion.code).toBe('session.execute(select(Order.status, func.count()).where(Order.status.in_(values)).group_by(Order.status)).all()')
  })

  it('suggests one filter(__in=) for a lookup by another column in a loop, like get_or_create per row', () => {
    const tagByName = 'SELECT "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" WHERE "shop_tag"."name" = %s LIMIT 21'
    const [finding] = findingsOf(unitOf(loopOf(3, tagByName, (i) => `tag ${i}`)))
    expect(finding).toMatchObject({ kind: 'n_plus_one', count: 3, trigger_index: null })
    expect(finding.suggestion.code).toBe('Tag.objects.filter(name__in=values)')
  })
})

describe('the Django admin changelist', () => {
  const changelist = (...queries: Parameters<typeof unitOf>) => ({ ...unitOf(...queries), view: 'django.contrib.admin.options.changelist_view', route: 'admin/shop/book/' })
  const ADMIN_BOOKS =
    'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id", "shop_book"."publisher_id", "shop_author"."id", "shop_author"."name" FROM "shop_book" INNER JOIN "shop_author" ON ("shop_book"."author_id" = "shop_author"."id") ORDER BY "shop_book"."id" DESC LIMIT 100'
  const column = site('shop/admin.py', 16, 'publisher_name')
  const COUNT_REVIEWS_OF_BOOK = 'SELECT COUNT(*) AS "__count" FROM "shop_review" WHERE "shop_review"."book_id" = %s'

  it('puts a foreign key read per row into list_select_related, with the relations the changelist joins already', () => {
    const [finding] = findingsOf(changelist(q(ADMIN_BOOKS, [], { at: [] }), loopOf(3, PUBLISHER_BY_ID, (i) => i + 1, column)))
    expect(finding.suggestion.code).toBe('list_select_related = ["author", "publisher"]')
    expect(finding.suggestion.text).toContain('Add "publisher" to list_select_related in the ModelAdmin of Book')
    expect(finding.suggestion.text).toContain('(the queries run at shop/admin.py:16)')
  })

  it("puts prefetches and counts into the ModelAdmin's get_queryset()", () => {
    const [tags] = findingsOf(changelist(q(ADMIN_BOOKS, [], { at: [] }), loopOf(3, TAGS_OF_BOOK, (i) => i + 1, column)))
    expect(tags.suggestion.code).toBe('def get_queryset(self, request):\n    return super().get_queryset(request).prefetch_related("tags")')
    const [counted] = findingsOf(changelist(q(ADMIN_BOOKS, [], { at: [] }), loopOf(3, COUNT_REVIEWS_OF_BOOK, (i) => i + 1, column)))
    expect(counted.suggestion.code).toBe('def get_queryset(self, request):\n    return super().get_queryset(request).annotate(reviews_count=Count("reviews", distinct=True))')
    // It changes the ModelAdmin's other pages too: said.
    expect(counted.suggestion.text).toContain("(get_queryset() serves the ModelAdmin's object, delete and autocomplete pages too)")
  })

  it('gives the N+1s of one changelist one list_select_related and one get_queryset(), which pasted apart replace each other', () => {
    const plainBooks =
      'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id", "shop_book"."publisher_id" FROM "shop_book" ORDER BY "shop_book"."id" DESC LIMIT 100'
    const authorColumn = site('shop/models.py', 24, '__str__')
    const findings = findingsOf(
      changelist(
        q(plainBooks, [], { at: [] }),
        times(3, (i) => [
          q(AUTHOR_BY_ID, [i + 1], { at: authorColumn }),
          q(PUBLISHER_BY_ID, [i + 1], { at: column }),
          q(TAGS_OF_BOOK, [i + 1], { at: site('shop/admin.py', 20, 'tag_names') }),
          q(COUNT_REVIEWS_OF_BOOK, [i + 1], { at: site('shop/admin.py', 17, 'review_count') }),
        ]).flat(),
      ),
    )
    expect(findings.map((f) => f.suggestion.code)).toEqual([
      'list_select_related = ["author", "publisher"]',
      'list_select_related = ["author", "publisher"]',
      'def get_queryset(self, request):\n    return super().get_queryset(request).prefetch_related("tags").annotate(reviews_count=Count("reviews", distinct=True))',
      'def get_queryset(self, request):\n    return super().get_queryset(request).prefetch_related("tags").annotate(reviews_count=Count("reviews", distinct=True))',
    ])
    expect(findings[0].suggestion.text).toContain('One list loads what this N+1 and the other one over the same rows need: list_select_related = ["author", "publisher"]')
    expect(findings[3].suggestion.text).toContain('One get_queryset() does what this N+1 and the other one over the same rows need:')
  })

  it("puts a column's ordered or cut query per row into a Prefetch in get_queryset(), which a plain prefetch does not serve", () => {
    // def first_review(self, obj): return obj.reviews.order_by("-rating").first(). Before: prefetch_related("reviews"),
    // after which the 30 queries remained.
    const bestReview =
      'SELECT "shop_review"."id", "shop_review"."book_id", "shop_review"."rating" FROM "shop_review" WHERE "shop_review"."book_id" = %s ORDER BY "shop_review"."rating" DESC LIMIT 1'
    const [finding] = findingsOf(changelist(q(ADMIN_BOOKS, [], { at: [] }), loopOf(3, bestReview, (i) => i + 1, site('shop/admin.py', 22, 'first_review'))))
    expect(finding.suggestion.code).toBe(
      'def get_queryset(self, request):\n    return super().get_queryset(request).prefetch_related(Prefetch("reviews", queryset=Review.objects.order_by("-rating")[:1], to_attr="reviews_by_rating_desc"))',
    )
    expect(finding.suggestion.text).toContain('on get_queryset() of the ModelAdmin of Book and in the loop take the first of .reviews_by_rating_desc')
    expect(finding.suggestion.text).toContain('(the queries run at shop/admin.py:22)')
  })

  it("gives a changelist filtered to one author one list for the author every row shares and the publishers", () => {
    // ?author__id__exact=1: each book's author is the same (a duplicate), each publisher another (an N+1). Pasted
    // apart, list_select_related = ["author"] and = ["publisher"] replaced each other.
    const byAuthor = `${ADMIN_BOOKS.replace(/ INNER JOIN .*?\)/, '').replace(', "shop_author"."id", "shop_author"."name"', '').replace(' ORDER BY', ' WHERE "shop_book"."author_id" = %s ORDER BY')}`
    const perBook = times(3, (i) => [q(AUTHOR_BY_ID, [1], { at: site('shop/models.py', 24, '__str__') }), q(PUBLISHER_BY_ID, [i + 1], { at: column })])
    const findings = findingsOf(changelist(q(byAuthor, [1], { at: [] }), perBook.flat()))
    expect(findings.map((f) => [f.kind, f.suggestion.code])).toEqual([
      ['n_plus_one', 'list_select_related = ["publisher", "author"]'],
      ['duplicate', 'list_select_related = ["publisher", "author"]'],
    ])
  })

  it("puts a loop over an inline's rows into the InlineModelAdmin's get_queryset(), also under a ModelAdmin's own change_view", () => {
    // The author's page, an inline of their books, each row's tags read by a column.
    const booksOfAuthor = `${BOOKS.replace(/ ORDER BY .*/, '')} WHERE "shop_book"."author_id" = %s`
    for (const view of ['django.contrib.admin.options.change_view', 'shop.admin.change_view']) {
      const page = { ...unitOf(q(booksOfAuthor, [1], { at: [] }), loopOf(3, TAGS_OF_BOOK, (i) => i + 1, site('shop/admin.py', 30, 'tag_names'))), view }
      const [finding] = findingsOf(page)
      expect(finding.suggestion.code).toBe('def get_queryset(self, request):\n    return super().get_queryset(request).prefetch_related("tags")')
      expect(finding.suggestion.text).toMatch(/^Add \.prefetch_related\("tags"\) in get_queryset\(\) of the InlineModelAdmin of Book, whose rows the inline shows/)
    }
  })

  it("tells the <select> each inline form renders of every row to use raw_id_fields, not to load it once", () => {
    // A review inline with 3 forms: each renders the customer select, every customer selected again.
    const everyCustomer = 'SELECT "shop_customer"."id", "shop_customer"."name" FROM "shop_customer"'
    const selects = times(3, () => ({ ...q(everyCustomer, [], { at: [] }), template: { name: 'admin/edit_inline/tabular.html', line: 55 } }))
    const [finding] = findingsOf({ ...unitOf(selects), view: 'django.contrib.admin.options.change_view' })
    expect(finding).toMatchObject({ kind: 'duplicate', count: 3, suggestion: { code: null } })
    expect(finding.suggestion.text).toBe(
      "The page's forms render a <select> of every Customer row (a ForeignKey's or ManyToManyField's widget), 3 times, one per form: name that field in raw_id_fields (or autocomplete_fields) of the ModelAdmin or InlineModelAdmin whose form shows it, and the rows are not loaded at all",
    )
  })

  it("puts a loop over an autocomplete's results into the ModelAdmin's get_queryset()", () => {
    // /admin/autocomplete/?app_label=shop&model_name=review&field_name=book: each book's __str__ reads its author.
    // Before: "Add .select_related("author") to the queryset iterated:", naming no place.
    const search = `${BOOKS.replace(/ ORDER BY .*/, '')} ORDER BY "shop_book"."title" ASC LIMIT 21`
    const page = { ...unitOf(q(search, [], { at: [] }), loopOf(3, AUTHOR_BY_ID, (i) => i + 1, site('shop/models.py', 24, '__str__'))), view: 'django.contrib.admin.sites.autocomplete_view' }
    const [finding] = findingsOf(page)
    expect(finding.suggestion.code).toBe('def get_queryset(self, request):\n    return super().get_queryset(request).select_related("author")')
    expect(finding.suggestion.text).toMatch(/^Add \.select_related\("author"\) in get_queryset\(\) of the ModelAdmin of Book, whose rows the autocomplete lists/)
  })

  it('names the changelist of a proxy model, whose ModelAdmin is not the one of the model it proxies', () => {
    const proxy = { ...changelist(q(ADMIN_BOOKS, [], { at: [] }), loopOf(3, PUBLISHER_BY_ID, (i) => i + 1, column)), route: 'admin/shop/bookonsale/' }
    const [finding] = findingsOf(proxy)
    expect(finding.suggestion.text).toContain('Add "publisher" to list_select_related in the ModelAdmin of the changelist admin/shop/bookonsale/')
  })

  it('puts an FK of the rows a list_select_related joins into the list as a path', () => {
    // ReviewAdmin: list_select_related = ["book"], and the book column's Book.__str__ reads book.author.
    const reviews =
      'SELECT "shop_review"."id", "shop_review"."book_id", "shop_review"."customer_id", "shop_book"."id", "shop_book"."title", "shop_book"."author_id", "shop_book"."publisher_id" FROM "shop_review" INNER JOIN "shop_book" ON ("shop_review"."book_id" = "shop_book"."id") ORDER BY "shop_review"."id" DESC LIMIT 100'
    const reviewAdmin = { ...changelist(q(reviews, [], { at: [] }), loopOf(3, AUTHOR_BY_ID, (i) => i + 1, site('shop/models.py', 24, '__str__'))), route: 'admin/shop/review/' }
    const [finding] = findingsOf(reviewAdmin)
    expect(finding.suggestion.code).toBe('list_select_related = ["book__author"]')
    expect(finding.suggestion.text).toContain('Add "book__author" to list_select_related in the ModelAdmin of Review')
  })

  it('tells the changelist\'s two row counts to leave the full count out', () => {
    const count = 'SELECT COUNT(*) AS "__count" FROM "shop_book"'
    const [finding] = findingsOf(changelist(q(count, [], { at: [] }), q(count, [], { at: [] }), q(ADMIN_BOOKS, [], { at: [] })))
    expect(finding).toMatchObject({ kind: 'duplicate', suggestion: { code: 'show_full_result_count = False' } })
    // A column's own count, the same for every row, is a duplicate of the app's.
    const fives = 'SELECT COUNT(*) AS "__count" FROM "shop_review" WHERE "shop_review"."rating" = %s'
    const [column] = findingsOf(changelist(q(ADMIN_BOOKS, [], { at: [] }), times(3, () => q(fives, [5], { at: site('shop/admin.py', 30, 'five_stars') }))))
    expect(column.suggestion.code).toBeNull()
  })
})

describe('N+1 in other spellings', () => {
  it('annotates Exists() for an exists() check per row', () => {
    const hasReviews = 'SELECT 1 AS "a" FROM "shop_review" WHERE "shop_review"."book_id" = %s LIMIT 1'
    const [finding] = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, hasReviews)))
    expect(finding.suggestion.code).toBe('Book.objects.annotate(has_reviews=Exists(Review.objects.filter(book=OuterRef("pk"))))')
  })

  it("prefetches a through model's own rows by its reverse foreign key, not the many-to-many's targets", () => {
    // for b in books: b.booktag_set.order_by("added_at"), where Book.tags is an M2M through BookTag.
    const throughModel = {
      models: [
        {
          model: 'shop.Book',
          table: 'shop_book',
          pk: 'id',
          relations: [
            { field: 'tags', kind: 'm2m' as const, target: 'shop.Tag', through_table: 'shop_booktag', source_column: 'book_id', target_column: 'tag_id' },
            { field: 'booktag_set', kind: 'reverse_fk' as const, target: 'shop.BookTag', target_column: 'book_id' },
          ],
        },
        { model: 'shop.Tag', table: 'shop_tag', pk: 'id', relations: [] },
        {
          model: 'shop.BookTag',
          table: 'shop_booktag',
          pk: 'id',
          ordering: [],
          relations: [
            { field: 'book', kind: 'fk' as const, column: 'book_id', target: 'shop.Book' },
            { field: 'tag', kind: 'fk' as const, column: 'tag_id', target: 'shop.Tag' },
          ],
        },
      ],
    }
    const rowsOfBook =
      'SELECT "shop_booktag"."id", "shop_booktag"."book_id", "shop_booktag"."tag_id", "shop_booktag"."added_at" FROM "shop_booktag" WHERE "shop_booktag"."book_id" = %s ORDER BY "shop_booktag"."added_at" ASC'
    const [finding] = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, rowsOfBook)), { schema: throughModel })
    expect(finding).toMatchObject({ kind: 'n_plus_one', trigger_index: 0 })
    expect(finding.suggestion.code).toBe('Book.objects.prefetch_related(Prefetch("booktag_set", queryset=BookTag.objects.order_by("added_at")))')
    // The targets through the same table are still the M2M's.
    const tagsOfBook =
      'SELECT "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" INNER JOIN "shop_booktag" ON ("shop_tag"."id" = "shop_booktag"."tag_id") WHERE "shop_booktag"."book_id" = %s'
    const [tags] = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, tagsOfBook)), { schema: throughModel })
    expect(tags.suggestion.code).toBe('Book.objects.prefetch_related("tags")')
  })

  describe('the objects of a GenericForeignKey, read per row (comment.target)', () => {
    const withComments = {
      models: [
        ...BOOKSHOP.models,
        {
          model: 'contenttypes.ContentType',
          table: 'django_content_type',
          pk: 'id',
          relations: [],
        },
        {
          model: 'notes.Comment',
          table: 'notes_comment',
          pk: 'id',
          generic_fks: [{ field: 'target', ct_column: 'content_type_id', fk_column: 'object_id' }],
          relations: [{ field: 'content_type', kind: 'fk' as const, column: 'content_type_id', target: 'contenttypes.ContentType' }],
        },
      ],
    }
    const COMMENTS =
      'SELECT "notes_comment"."id", "notes_comment"."content_type_id", "notes_comment"."object_id", "notes_comment"."body" FROM "notes_comment"'
    const TYPE_BY_ID =
      'SELECT "django_content_type"."id", "django_content_type"."app_label", "django_content_type"."model" FROM "django_content_type" WHERE "django_content_type"."id" = %s LIMIT 21'
    const BOOK_BY_ID = 'SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE "shop_book"."id" = %s LIMIT 21'
    const unit = unitOf(
      q(COMMENTS, [], { at: VIEW }),
      q(TYPE_BY_ID, [7], { at: LOOP }),
      q(AUTHOR_BY_ID, [1], { at: LOOP }),
      q(TYPE_BY_ID, [8], { at: LOOP }),
      q(BOOK_BY_ID, [1], { at: LOOP }),
      q(AUTHOR_BY_ID, [2], { at: LOOP }),
      q(BOOK_BY_ID, [2], { at: LOOP }),
      q(AUTHOR_BY_ID, [3], { at: LOOP }),
    )

    it("gives the objects' own foreign key read per row a GenericPrefetch, not a select_related it cannot follow", () => {
      // comment.target.author for comments on books: the books by the GFK, then each book's author.
      const BOOK_WITH_AUTHOR = 'SELECT "shop_book"."id", "shop_book"."author_id" FROM "shop_book" WHERE "shop_book"."id" = %s LIMIT 21'
      const nested = unitOf(
        q(COMMENTS, [], { at: VIEW }),
        q(TYPE_BY_ID, [8], { at: LOOP }),
        times(3, (i) => [q(BOOK_WITH_AUTHOR, [i + 1], { at: LOOP }), q(AUTHOR_BY_ID, [i + 10], { at: LOOP })]).flat(),
      )
      const author = findingsOf(nested, { schema: withComments }).find((f) => f.sql.includes('shop_author'))!
      expect(author.suggestion.code).toBe('Comment.objects.prefetch_related(GenericPrefetch("target", [Book.objects.select_related("author")]))')
    })

    it('prefetches the GenericForeignKey for the objects of every content type', () => {
      const findings = findingsOf(unit, { schema: withComments })
      const objects = findings.filter((f) => f.sql.includes('shop_author') || f.sql.includes('shop_book'))
      expect(objects.map((f) => [f.count, f.trigger_index, f.suggestion.code])).toEqual([
        [3, 0, 'Comment.objects.prefetch_related("target")'],
        [2, 0, 'Comment.objects.prefetch_related("target")'],
      ])
      expect(objects[0].suggestion.text).toContain('reading .target runs a query for each row\'s object (3 here on "shop_author")')
    })

    it("does not report its ContentType lookups, one per type for Django's per-process cache, which no change removes", () => {
      expect(findingsOf(unit, { schema: withComments }).filter((f) => f.sql.includes('django_content_type'))).toEqual([])
      // .content_type read per row (the FK itself, not cached) repeats keys: select_related serves it.
      const readsTheFk = unitOf(q(COMMENTS, [], { at: VIEW }), ...[7, 8, 7].map((id) => q(TYPE_BY_ID, [id], { at: LOOP })))
      expect(findingsOf(readsTheFk, { schema: withComments })[0].suggestion.code).toBe('Comment.objects.select_related("content_type")')
    })

    it("keeps a foreign key's own loop when a query on a model with a GenericForeignKey ran in between", () => {
      // books = list(Book.objects.all()); comments = list(Comment.objects.all()); [b.author.name for b in books]
      const between = unitOf(q(BOOKS, [], { at: VIEW }), q(COMMENTS, [], { at: VIEW }), ...[1, 2, 3].map((id) => q(AUTHOR_BY_ID, [id], { at: LOOP })))
      expect(findingsOf(between, { schema: withComments })[0].suggestion.code).toBe('Book.objects.select_related("author")')
    })

    it('without GenericForeignKeys in the schema, an FK to ContentType is a plain select_related', () => {
      const plain = { models: withComments.models.map(({ generic_fks: _gfk, ...m }: { generic_fks?: unknown } & (typeof withComments.models)[number]) => m) }
      const types = findingsOf(unit, { schema: plain }).find((f) => f.sql.includes('django_content_type'))!
      expect(types.suggestion.code).toBe('Comment.objects.select_related("content_type")')
    })
  })

  describe("a related manager's rows in an order of the loop's own, which a plain prefetch does not serve", () => {
    const withOrdering = (ordering: string[] | undefined) => ({
      models: BOOKSHOP.models.map((m) => (m.model === 'shop.Review' ? { ...m, ...(ordering ? { ordering } : {}) } : m)),
    })
    const byStars =
      'SELECT "shop_review"."id", "shop_review"."book_id", "shop_review"."stars" FROM "shop_review" WHERE "shop_review"."book_id" = %s ORDER BY "shop_review"."stars" DESC'
    const codeFor = (ordering: string[] | undefined) =>
      findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, byStars)), { schema: withOrdering(ordering) })[0].suggestion.code

    it('prefetches them with Prefetch(queryset=...order_by()) when the order is not the model\'s default', () => {
      const prefetch = 'Book.objects.prefetch_related(Prefetch("reviews", queryset=Review.objects.order_by("-stars")))'
      expect(codeFor([])).toBe(prefetch)
      expect(codeFor(['-id'])).toBe(prefetch)
    })

    it("keeps the plain prefetch when the order is the model's Meta.ordering, or when that ordering is not known", () => {
      expect(codeFor(['-stars'])).toBe('Book.objects.prefetch_related("reviews")')
      expect(codeFor(undefined)).toBe('Book.objects.prefetch_related("reviews")')
    })

    it('compares the ordering by columns: a Meta.ordering on a field with a db_column is still the default', () => {
      // ordering = ["-stars"] on stars = IntegerField(db_column="star_count"): the agent sends the column.
      const byColumn = byStars.replaceAll('"stars"', '"star_count"')
      const [finding] = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, byColumn)), { schema: withOrdering(['-star_count']) })
      expect(finding.suggestion.code).toBe('Book.objects.prefetch_related("reviews")')
    })
  })

  it("uses Django's default accessor when the schema lists only the forward foreign key", () => {
    const forwardOnly = {
      models: [
        { model: 'shop.Book', table: 'shop_book', pk: 'id', relations: [] },
        { model: 'shop.Review', table: 'shop_review', pk: 'id', relations: [{ field: 'book', kind: 'fk' as const, column: 'book_id', target: 'shop.Book' }] },
      ],
    }
    const unit = unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, REVIEWS_OF_BOOK))
    expect(findingsOf(unit, { schema: forwardOnly })[0].suggestion.code).toBe('Book.objects.prefetch_related("review_set")')
    const counts = unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, 'SELECT COUNT(*) AS "__count" FROM "shop_review" WHERE "shop_review"."book_id" = %s'))
    expect(findingsOf(counts, { schema: forwardOnly })[0].suggestion.code).toBe('Book.objects.annotate(review_count=Count("review", distinct=True)).order_by("title", "id")')
  })

  it('reads MySQL backtick identifiers', () => {
    const books = 'SELECT `shop_book`.`id`, `shop_book`.`title`, `shop_book`.`author_id` FROM `shop_book`'
    const author = 'SELECT `shop_author`.`id`, `shop_author`.`name` FROM `shop_author` WHERE `shop_author`.`id` = %s LIMIT 21'
    const unit = unitOf(q(books, [], { at: VIEW, vendor: 'mysql' }), times(3, (i) => q(author, [i + 1], { at: LOOP, vendor: 'mysql' })))
    expect(findingsOf(unit)[0].suggestion.code).toBe('Book.objects.select_related("author")')
  })

  it('reads named parameters', () => {
    const author = 'SELECT "shop_author"."id" FROM "shop_author" WHERE "shop_author"."id" = %(id)s'
    const unit = unitOf(q(BOOKS, [], { at: VIEW, vendor: 'postgresql' }), times(3, (i) => q(author, { id: i + 1 }, { at: LOOP, vendor: 'postgresql' })))
    expect(findingsOf(unit)).toMatchObject([{ kind: 'n_plus_one', count: 3, trigger_index: 0 }])
    const same = unitOf(times(3, () => q(author, { id: 1 }, { at: LOOP, vendor: 'postgresql' })))
    expect(findingsOf(same)).toMatchObject([{ kind: 'duplicate', count: 3 }])
  })

  it('reports a prefetch_related issued inside a loop (an IN lookup per row)', () => {
    const reviewsIn = 'SELECT "shop_review"."id", "shop_review"."book_id" FROM "shop_review" WHERE "shop_review"."book_id" IN (%s)'
    const unit = unitOf(q(BOOKS, [], { at: VIEW }), times(3, (i) => q(reviewsIn, [i + 1], { at: LOOP })))
    expect(findingsOf(unit)).toMatchObject([{ kind: 'n_plus_one', count: 3 }])
  })

  it("reports a list of keys per row, as long as each row's relations", () => {
    const perOrder = [[1, 2, 3], [4], [5, 6]].map((ids) => q(booksIn(ids.length), ids, { at: LOOP }))
    expect(findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), perOrder))).toMatchObject([{ kind: 'n_plus_one', count: 3 }])
  })

  it('reports lists of one length without shared keys when each follows the lookup of its own parent row', () => {
    // author.books.prefetch_related("reviews") per author: fixtures with two books per author give lists like chunks.
    const booksOf = 'SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE "shop_book"."author_id" = %s'
    const reviewsIn = 'SELECT "shop_review"."id", "shop_review"."book_id" FROM "shop_review" WHERE "shop_review"."book_id" IN (%s, %s)'
    const perAuthor = times(3, (i) => [
      q(booksOf, [i + 1], { at: site('shop/views.py', 50) }),
      q(reviewsIn, [i * 2 + 1, i * 2 + 2], { at: site('shop/views.py', 51) }),
    ])
    const kinds = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), perAuthor.flat())).map((f) => [f.kind, f.count, f.callsite?.line])
    expect(kinds).toEqual([
      ['n_plus_one', 3, 50],
      ['n_plus_one', 3, 51],
    ])
  })

  it('reports a forward prefetch per parent row too: its IN is on the target table\'s key', () => {
    // publisher.books.prefetch_related("author") per publisher, two books (by two authors) each.
    const booksOf = 'SELECT "shop_book"."id", "shop_book"."author_id" FROM "shop_book" WHERE "shop_book"."publisher_id" = %s'
    const authorsIn = 'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" WHERE "shop_author"."id" IN (%s, %s)'
    const perPublisher = times(3, (i) => [q(booksOf, [i + 1], { at: site('shop/views.py', 70) }), q(authorsIn, [i * 2 + 1, i * 2 + 2], { at: site('shop/views.py', 70) })])
    const findings = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), perPublisher.flat()))
    expect(findings.map((f) => [f.kind, f.count])).toEqual([
      ['n_plus_one', 3],
      ['n_plus_one', 3],
    ])
  })

  it('reports lists of one length that share keys: not chunks of one list', () => {
    const perRow = [[1, 2], [2, 3], [3, 4]].map((ids) => q(booksIn(2), ids, { at: LOOP }))
    expect(findingsOf(unitOf(perRow))).toMatchObject([{ kind: 'n_plus_one', count: 3 }])
  })
})

describe('what is not an N+1', () => {
  it('does not report the prefetch of keyset pages: each follows its page, a query whose varying value is a range', () => {
    const page =
      'SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE ("shop_book"."stock" = %s AND "shop_book"."id" > %s) ORDER BY "shop_book"."id" ASC LIMIT 3'
    const reviewsIn = 'SELECT "shop_review"."id", "shop_review"."book_id" FROM "shop_review" WHERE "shop_review"."book_id" IN (%s, %s, %s)'
    const at = site('shop/jobs.py', 10)
    const pages = times(4, (i) => [q(page, [5, i * 3], { at }), q(reviewsIn, [i * 3 + 1, i * 3 + 2, i * 3 + 3], { at })])
    expect(findingsOf(unitOf(pages.flat()))).toEqual([])
  })

  it("does not report a chunk's second prefetch, which follows the first prefetch of the same chunk", () => {
    const reviewsIn =
      'SELECT "shop_review"."id", "shop_review"."book_id" FROM "shop_review" WHERE ("shop_review"."rating" = %s AND "shop_review"."book_id" IN (%s, %s, %s))'
    const tagsIn =
      'SELECT ("shop_book_tags"."book_id") AS "_prefetch_related_val_book_id", "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" INNER JOIN "shop_book_tags" ON ("shop_tag"."id" = "shop_book_tags"."tag_id") WHERE "shop_book_tags"."book_id" IN (%s, %s, %s)'
    const at = site('shop/jobs.py', 20)
    const ids = (c: number) => [c * 3 + 1, c * 3 + 2, c * 3 + 3]
    const chunks = times(4, (c) => [q(reviewsIn, [5, ...ids(c)], { at }), q(tagsIn, ids(c), { at })])
    expect(findingsOf(unitOf(q(BOOKS, [], { at }), chunks.flat()))).toEqual([])
  })

  it("does not report an eager load made batch by batch where the rows are iterated (yield_per, iterator(chunk_size=))", () => {
    // for book in session.scalars(select(Book).options(selectinload(Book.author)).execution_options(yield_per=3)):
    // each batch's authors by IN, overlapping from batch to batch (authors of many books), from the iterating line.
    const at = site('app/report.py', 12, 'export')
    const books = 'SELECT books.id, books.title, books.author_id FROM books'
    const authorsIn = (n: number) => `SELECT authors.id AS authors_id, authors.name AS authors_name FROM authors WHERE authors.id IN (${Array(n).fill('?').join(', ')})`
    const batches = [[1, 2], [2, 3, 4], [1, 4]]
    const schema = {
      models: [
        { model: 'Author', table: 'authors', pk: 'id', relations: [] },
        { model: 'Book', table: 'books', pk: 'id', relations: [{ field: 'author', kind: 'fk' as const, column: 'author_id', target: 'Author' }] },
      ],
    }
    const unit = unitOf(q(books, [], { at }), batches.map((ids) => q(authorsIn(ids.length), ids, { at })))
    expect(findingsOf(unit, { app: FLASK, schema })).toEqual([])
    // Django: Book.objects.prefetch_related("author").iterator(chunk_size=3), a prefetch per chunk.
    const djangoAuthorsIn = (n: number) => `SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" WHERE "shop_author"."id" IN (${Array(n).fill('%s').join(', ')})`
    const chunks = unitOf(q(BOOKS, [], { at: VIEW }), batches.map((ids) => q(djangoAuthorsIn(ids.length), ids, { at: VIEW })))
    expect(findingsOf(chunks)).toEqual([])
    // The same IN queries from the loop's body, one per row: an N+1.
    const perRow = unitOf(q(BOOKS, [], { at: VIEW }), batches.map((ids) => q(djangoAuthorsIn(ids.length), ids, { at: LOOP })))
    expect(findingsOf(perRow).map((f) => f.kind)).toEqual(['n_plus_one'])
  })

  it('does not report a loop over chunks of one list of keys (iterator(chunk_size=) with a prefetch, in_bulk per chunk)', () => {
    const TAGS_IN =
      'SELECT ("shop_book_tags"."book_id") AS "_prefetch_related_val_book_id", "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" INNER JOIN "shop_book_tags" ON ("shop_tag"."id" = "shop_book_tags"."tag_id") WHERE "shop_book_tags"."book_id" IN (%s, %s, %s, %s) ORDER BY "shop_tag"."name" ASC'
    const chunks = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    const prefetches = chunks.map((ids) => q(TAGS_IN.replace('%s, %s, %s, %s', ids.map(() => '%s').join(', ')), ids, { at: LOOP }))
    expect(findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), prefetches))).toEqual([])
    const inBulk = chunks.map((ids) => q(booksIn(ids.length), ids, { at: LOOP }))
    expect(findingsOf(unitOf(inBulk))).toEqual([])
    const anyArray = 'SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."id" = ANY(%s)'
    expect(findingsOf(unitOf(chunks.map((ids) => q(anyArray, [ids], { at: LOOP, vendor: 'postgresql' }))))).toEqual([])
  })

  it("does not report Django's session store logging a test client in: its key checks and inserts under one line", () => {
    // Client().login(): the client's own session, then login()'s cycle_key(): each checks a new random key, inserts.
    const keyFree = 'SELECT 1 AS "a" FROM "django_session" WHERE "django_session"."session_key" = %s LIMIT 1'
    const insert = 'INSERT INTO "django_session" ("session_key", "session_data", "expire_date") VALUES (%s, %s, %s)'
    const at = site('tests/test_login.py', 6, 'test_login')
    const session = (key: string) => [q(keyFree, [key], { at }), q(insert, [key, 'e30:1u', '2026-12-20 10:00:00'], { at })]
    const unit = unitOf(q(AUTHOR_BY_ID, [1], { at }), session('k9x2mq0v7c1b'), session('p3l8zr6t5w4n'))
    expect(findingsOf(unit)).toEqual([])
  })

  it("does not report ContentType lookups: get_for_model() per model, once per process in Django's cache", () => {
    const byModel =
      'SELECT "django_content_type"."id", "django_content_type"."app_label", "django_content_type"."model" FROM "django_content_type" WHERE ("django_content_type"."app_label" = %s AND "django_content_type"."model" = %s) LIMIT 21'
    const models = ['book', 'author', 'review']
    expect(findingsOf(unitOf(times(3, (i) => q(byModel, ['shop', models[i]], { at: LOOP }))))).toEqual([])
  })

  it("does not report a test framework's own queries in a test: no frame of the app made them (a TransactionTestCase's flush)", () => {
    // After a TransactionTestCase, flush's post_migrate handlers look up and create content types app by app.
    const byApp = 'SELECT "django_content_type"."id", "django_content_type"."app_label", "django_content_type"."model" FROM "django_content_type" WHERE "django_content_type"."app_label" = %s'
    const apps = ['auth', 'contenttypes', 'sessions', 'shop']
    // (As agents send them: no template key.)
    const flush = times(4, (i) => q(byApp, [apps[i]], { at: [] })).map(({ template: _, ...query }) => query)
    const test = (unit: WireUnit): WireUnit => ({ ...unit, kind: 'test', name: 'tests/test_tx.py::TestTx::test_tx', route: null, view: null })
    expect(findingsOf(test(unitOf(q(AUTHOR_BY_ID, [1], { at: site('tests/test_tx.py', 9, 'test_tx') }), flush)))).toEqual([])
    // The same queries in a request, or made by the test's own lines, are findings.
    expect(findingsOf(unitOf(flush)).map((f) => f.kind)).toEqual(['n_plus_one'])
    const own = times(4, (i) => q(byApp, [apps[i]], { at: site('tests/test_tx.py', 12, 'test_tx') }))
    expect(findingsOf(test(unitOf(own))).map((f) => f.kind)).toEqual(['n_plus_one'])
  })

  it("does not report a test logging users in one by one: each login loads, cycles and saves its session by key", () => {
    const load =
      'SELECT "django_session"."session_key", "django_session"."session_data", "django_session"."expire_date" FROM "django_session" WHERE ("django_session"."expire_date" > %s AND "django_session"."session_key" = %s) LIMIT 21'
    const cycled = 'DELETE FROM "django_session" WHERE "django_session"."session_key" IN (%s)'
    const saved = 'UPDATE "django_session" SET "session_data" = %s, "expire_date" = %s WHERE "django_session"."session_key" = %s'
    const at = site('tests/test_perms.py', 9, 'test_each_user')
    const login = (i: number) => [q(load, ['2026-12-07 10:00:00', `k${i}`], { at }), q(cycled, [`k${i}`], { at }), q(saved, ['e30:1u', '2026-12-21 10:00:00', `n${i}`], { at })]
    expect(findingsOf(unitOf(times(3, login).flat()))).toEqual([])
  })

  it("still reports the app's own loops over those tables: sessions of each user, permissions per app label", () => {
    const sessionsOf = 'SELECT "django_session"."session_key" FROM "django_session" WHERE "django_session"."user_id" = %s'
    expect(findingsOf(unitOf(times(3, (i) => q(sessionsOf, [i + 1], { at: LOOP })))).map((f) => f.kind)).toEqual(['n_plus_one'])
    const permissions =
      'SELECT "auth_permission"."id", "auth_permission"."codename" FROM "auth_permission" INNER JOIN "django_content_type" ON ("auth_permission"."content_type_id" = "django_content_type"."id") WHERE "django_content_type"."app_label" = %s'
    const loops = findingsOf(unitOf(times(3, (i) => q(permissions, [`app${i}`], { at: LOOP }))))
    expect(loops.map((f) => f.kind)).toEqual(['n_plus_one'])
  })

  describe('the levels of a tree loaded by a recursive eager load', () => {
    const TREE: Schema = {
      models: [
        {
          model: 'shop.Category',
          table: 'shop_category',
          pk: 'id',
          relations: [
            { field: 'parent', kind: 'fk', column: 'parent_id', target: 'shop.Category' },
            { field: 'children', kind: 'reverse_fk', target: 'shop.Category', target_column: 'parent_id' },
          ],
        },
      ],
    }
    const ROOTS = 'SELECT "shop_category"."id", "shop_category"."name", "shop_category"."parent_id" FROM "shop_category" WHERE "shop_category"."parent_id" IS NULL'
    const childrenIn = (n: number) =>
      `SELECT "shop_category"."id", "shop_category"."name", "shop_category"."parent_id" FROM "shop_category" WHERE "shop_category"."parent_id" IN (${Array(n).fill('%s').join(', ')})`
    const levels = [[1, 2], [3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13, 14]]

    it('does not report prefetch_related("children__children__children"): one query per level', () => {
      const unit = unitOf(q(ROOTS, [], { at: VIEW }), levels.map((ids) => q(childrenIn(ids.length), ids, { at: VIEW })))
      expect(findingsOf(unit, { schema: TREE })).toEqual([])
    })

    it('does not report those levels when the parameters were not captured (CAPTURE_PARAMS off)', () => {
      const unit = unitOf(q(ROOTS, null, { at: VIEW }), levels.map((ids) => q(childrenIn(ids.length), null, { at: VIEW })))
      expect(findingsOf(unit, { schema: TREE })).toEqual([])
    })

    it('still reports those queries as a loop when other queries run between them', () => {
      const book = 'SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."id" = %s'
      const queries = levels.flatMap((ids) => [q(childrenIn(ids.length), null, { at: VIEW }), q(book, null, { at: LOOP })])
      expect(findingsOf(unitOf(q(ROOTS, null, { at: VIEW }), queries), { schema: TREE }).map((f) => f.sql)).toContain(
        'select "shop_category"."id", "shop_category"."name", "shop_category"."parent_id" from "shop_category" where "shop_category"."parent_id" in (...)',
      )
    })

    it("does not report SQLAlchemy's selectinload(Category.children, recursion_depth=-1)", () => {
      const selectin = (n: number) =>
        `SELECT category.parent_id AS category_parent_id, category.id AS category_id, category.name AS category_name FROM category WHERE category.parent_id IN (${Array(n).fill('?').join(', ')})`
      const schema: Schema = {
        // Only the `children` relationship declared: the FK to itself is known from its side.
        models: [{ model: 'Category', table: 'category', pk: 'id', relations: [{ field: 'children', kind: 'reverse_fk', target: 'Category', target_column: 'parent_id' }] }],
      }
      const at = site('app/tree.py', 30)
      const unit = unitOf(q('SELECT category.id, category.name, category.parent_id FROM category WHERE category.parent_id IS NULL', [], { at }), levels.map((ids) => q(selectin(ids.length), ids, { at })))
      expect(findingsOf(unit, { app: FLASK, schema })).toEqual([])
    })

    it('reports a recursion of templates as one loop fixed as deep as it went, by the depths the agent counts', () => {
      // {% for c in node.children.all %}{% include "shop/tree.html" with node=c %}{% endfor %} in shop/tree.html: one
      // template position at every depth, and its depth (it was told prefetch_related("children"), one level; a probe).
      const childrenOf = 'SELECT "shop_category"."id", "shop_category"."name", "shop_category"."parent_id" FROM "shop_category" WHERE "shop_category"."parent_id" = %s'
      const render = site('shop/views.py', 150, 'tree_page')
      const inTree = (depth: number) => ({ at: render, template: { name: 'shop/tree.html', line: 1, included_from: [{ name: 'shop/tree_page.html', line: 1 }], ...(depth ? { recursion_depth: depth } : {}) } })
      const templated = unitOf(q(ROOTS, [], { at: render }), q(childrenOf, [1], inTree(0)), q(childrenOf, [2], inTree(1)), q(childrenOf, [3], inTree(1)), q(childrenOf, [4], inTree(2)))
      const [inTemplates] = findingsOf(templated, { schema: TREE })
      expect([inTemplates.count, inTemplates.suggestion.code]).toEqual([4, 'Category.objects.prefetch_related("children__children__children")'])
      expect(inTemplates.suggestion.text).toContain('reads .children of every node, at 3 depths')
    })

    it('reports a recursion over the tree as one loop, with every depth, fixed by prefetching as deep as it went', () => {
      // walk(cat) = {"children": [walk(ch) for ch in cat.children.all()]}: walk and its list comprehension at each depth.
      const childrenOf = 'SELECT "shop_category"."id", "shop_category"."name", "shop_category"."parent_id" FROM "shop_category" WHERE "shop_category"."parent_id" = %s'
      const view = site('shop/views.py', 146, '<listcomp>', ...site('shop/views.py', 146, 'tree'))
      const atDepth = (depth: number) => [
        ...Array.from({ length: depth }, () => [...site('shop/views.py', 140, 'walk'), ...site('shop/views.py', 140, '<listcomp>')]).flat().slice(0, -1),
        ...view,
      ]
      const unit = unitOf(q(ROOTS, [], { at: site('shop/views.py', 145, 'tree') }), q(childrenOf, [1], { at: atDepth(1) }), q(childrenOf, [2], { at: atDepth(2) }), q(childrenOf, [3], { at: atDepth(2) }), q(childrenOf, [4], { at: atDepth(3) }))
      const findings = findingsOf(unit, { schema: TREE })
      expect(findings.map((f) => [f.kind, f.count])).toEqual([['n_plus_one', 4]])
      expect(findings[0].suggestion.code).toBe('Category.objects.prefetch_related("children__children__children")')
      expect(findings[0].suggestion.text).toContain('the recursion at shop/views.py:140 reads .children of every node, at 3 depths')
      // The roots' children prefetched (one IN query): the recursion's depths begin one level lower.
      const prefetched = unitOf(q(ROOTS, [], { at: site('shop/views.py', 145, 'tree') }), q(childrenIn(2), [1, 2], { at: site('shop/views.py', 145, 'tree') }), q(childrenOf, [3], { at: atDepth(2) }), q(childrenOf, [4], { at: atDepth(3) }))
      expect(findingsOf(prefetched, { schema: TREE })[0].suggestion.code).toBe('Category.objects.prefetch_related("children__children__children")')
      // SQLAlchemy, a function calling itself: selectinload(..., recursion_depth=-1).
      const schema: Schema = { models: [{ model: 'Category', table: 'category', pk: 'id', relations: [{ field: 'children', kind: 'reverse_fk', target: 'Category', target_column: 'parent_id' }] }] }
      const lazy = 'SELECT category.id AS category_id, category.parent_id AS category_parent_id FROM category WHERE ? = category.parent_id'
      const render = (depth: number) => [...site('app/tree.py', 36, 'render'), ...Array(depth - 1).fill(site('app/tree.py', 38, 'render')[0]), ...site('app/tree.py', 42, 'tree')]
      const sa = unitOf(q('SELECT category.id AS category_id FROM category WHERE category.parent_id IS NULL', [], { at: site('app/tree.py', 42, 'tree') }), q(lazy, [1], { at: render(1) }), q(lazy, [2], { at: render(2) }), q(lazy, [3], { at: render(3) }))
      const [tree] = findingsOf(sa, { app: FLASK, schema })
      expect(tree.suggestion.code).toBe('select(Category).options(selectinload(Category.children, recursion_depth=-1))')

      // The children read on one line, the call of itself in a comprehension on the next (3.11's <listcomp> frame in
      // between): every depth is still one loop, whose fix goes on the root query (it was "the query iterated at
      // app/tree.py:36", the lazy load's line, and the first depth left out; a probe).
      const comprehended = (depth: number) => [
        ...site('app/tree.py', 36, 'render'),
        ...Array.from({ length: depth - 1 }, () => [...site('app/tree.py', 37, '<listcomp>'), ...site('app/tree.py', 37, 'render')]).flat(),
        ...site('app/tree.py', 42, 'tree'),
      ]
      const roots = 'SELECT category.id AS category_id FROM category WHERE category.parent_id IS NULL'
      const listed = unitOf(q(roots, [], { at: site('app/tree.py', 42, 'tree') }), ...[1, 2, 2, 3, 3].map((depth, i) => q(lazy, [i + 1], { at: comprehended(depth) })))
      const [whole] = findingsOf(listed, { app: FLASK, schema })
      expect([whole.count, whole.trigger_index]).toEqual([5, 0])
      expect(whole.suggestion.text).toContain('at 3 depths')
      expect(whole.suggestion.text).toContain('the query iterated at app/tree.py:42')
      // The root read with session.get(Category, 1): the option goes there (a select() would load every node).
      const root = 'SELECT category.id AS category_id, category.parent_id AS category_parent_id FROM category WHERE category.id = ?'
      const fromGet = unitOf(q(root, [1], { at: site('app/tree.py', 42, 'tree') }), q(lazy, [1], { at: render(1) }), q(lazy, [2], { at: render(2) }), q(lazy, [3], { at: render(3) }))
      const [got] = findingsOf(fromGet, { app: FLASK, schema })
      expect(got.suggestion.code).toBe('session.get(Category, id, options=[selectinload(Category.children, recursion_depth=-1)])')
      expect(got.suggestion.text).toContain('pass options=[selectinload(Category.children, recursion_depth=-1)] to the session.get() of its root at app/tree.py:42')
    })

    it('keeps apart two loops through methods of one name in two classes of a file: no recursion', () => {
      // ShelfSerializer.to_dict (lines 10 and 11) calls BookSerializer.to_dict (line 5), which reads book.author.
      const via = (line: number, view: number) => [...site('shop/serializers.py', 5, 'to_dict'), ...site('shop/serializers.py', line, 'to_dict'), ...site('shop/views.py', view)]
      const shelf = (line: number) => [...site('shop/serializers.py', line, 'to_dict'), ...site('shop/views.py', 40)]
      const unit = unitOf(q(BOOKS, [], { at: shelf(9) }), loopOf(3, AUTHOR_BY_ID, (i) => i + 1, via(10, 40)), q(`${BOOKS} LIMIT 5`, [], { at: shelf(11) }), loopOf(3, AUTHOR_BY_ID, (i) => i + 4, via(11, 40)))
      expect(findingsOf(unit).filter((f) => f.kind === 'n_plus_one').map((f) => [f.count, f.trigger_index])).toEqual([
        [3, 0],
        [3, 4],
      ])
    })

    it('still reports a prefetch of the children made per node (each list follows its own lookup)', () => {
      const childrenOf = 'SELECT "shop_category"."id", "shop_category"."name", "shop_category"."parent_id" FROM "shop_category" WHERE "shop_category"."parent_id" = %s'
      const perNode = times(3, (i) => [q(childrenOf, [i + 1], { at: LOOP }), q(childrenIn(2), [10 + 2 * i, 11 + 2 * i], { at: LOOP })])
      const kinds = findingsOf(unitOf(q(ROOTS, [], { at: VIEW }), perNode.flat()), { schema: TREE }).map((f) => [f.kind, f.count])
      expect(kinds).toEqual([
        ['n_plus_one', 3],
        ['n_plus_one', 3],
      ])
    })

    it('still reports children lists looked up one row at a time, when other queries run between them', () => {
      const perRow = [[3, 4], [5], [6, 7, 8]].map((ids, i) => [q(BOOK_BY_ID, [i + 1], { at: LOOP }), q(childrenIn(ids.length), ids, { at: LOOP })])
      const kinds = findingsOf(unitOf(q(ROOTS, [], { at: VIEW }), perRow.flat()), { schema: TREE }).map((f) => [f.kind, f.count, f.sql.slice(0, 40)])
      expect(kinds.map(([kind, count]) => [kind, count])).toContainEqual(['n_plus_one', 3])
      expect(kinds.some(([, , sql]) => String(sql).includes('shop_category'))).toBe(true)
    })
  })

  it('does not report chunks whose keys Django writes out as an OR of equalities (a forward prefetch on SQLite)', () => {
    const authorsOr = 'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" WHERE ("shop_author"."id" = %s OR "shop_author"."id" = %s)'
    const chunks = [[1, 2], [3, 4], [5, 6]].map((ids) => q(authorsOr, ids, { at: LOOP }))
    expect(findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), chunks))).toEqual([])
    // Lists sharing keys are per row: still an N+1.
    const perRow = [[1, 2], [2, 3], [3, 1]].map((ids) => q(authorsOr, ids, { at: LOOP }))
    expect(findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), perRow)).map((f) => f.kind)).toContain('n_plus_one')
  })

  it('does not report the same helper called from two different lines with different values', () => {
    const helper = (line: number, id: number) =>
      q(AUTHOR_BY_ID, [id], { at: site('shop/helpers.py', 8, 'author_of', ...site('shop/views.py', line)) })
    expect(findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), helper(50, 1), helper(51, 2)))).toEqual([])
  })

  it('does not report keyset pagination in a loop', () => {
    const page =
      'SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE "shop_book"."id" > %s ORDER BY "shop_book"."id" ASC LIMIT 100'
    expect(findingsOf(unitOf(times(5, (i) => q(page, [i * 100], { at: LOOP }))))).toEqual([])
  })

  it('does not report keyset pagination that also filters by a fixed key', () => {
    const page =
      'SELECT "shop_book"."id" FROM "shop_book" WHERE ("shop_book"."author_id" = %s AND "shop_book"."id" > %s) ORDER BY "shop_book"."id" ASC LIMIT 100'
    expect(findingsOf(unitOf(times(4, (i) => q(page, [7, i * 100], { at: LOOP }))))).toEqual([])
  })

  it("reports a key per row with a bound that changes each turn too (timezone.now(), the row's own threshold)", () => {
    const recent =
      'SELECT "shop_review"."id", "shop_review"."rating" FROM "shop_review" WHERE ("shop_review"."book_id" = %s AND "shop_review"."created" <= %s)'
    const perBook = times(4, (i) => q(recent, [i + 1, `2026-12-06 10:00:0${i}`], { at: LOOP }))
    expect(findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), perBook))).toMatchObject([{ kind: 'n_plus_one', count: 4 }])
    // The same with a LIMIT is a page per parent: keyset pages of each author's books.
    const page =
      'SELECT "shop_book"."id" FROM "shop_book" WHERE ("shop_book"."author_id" = %s AND "shop_book"."id" > %s) ORDER BY "shop_book"."id" ASC LIMIT 100'
    expect(findingsOf(unitOf(times(4, (i) => q(page, [i + 1, i * 100], { at: LOOP }))))).toEqual([])
    // .first() of the price valid now, per product: one row, not a page.
    const validNow =
      'SELECT "shop_price"."id", "shop_price"."amount" FROM "shop_price" WHERE ("shop_price"."book_id" = %s AND "shop_price"."valid_from" <= %s) ORDER BY "shop_price"."valid_from" DESC LIMIT 1'
    expect(findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), times(3, (i) => q(validNow, [i + 1, `2026-12-06 10:00:0${i}`], { at: LOOP }))))).toMatchObject([{ kind: 'n_plus_one', count: 3 }])
    const getNow = 'SELECT "shop_price"."id" FROM "shop_price" WHERE ("shop_price"."book_id" = %s AND "shop_price"."valid_from" <= %s) LIMIT 21'
    expect(findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), times(3, (i) => q(getNow, [i + 1, `2026-12-06 10:00:0${i}`], { at: LOOP }))))).toMatchObject([{ kind: 'n_plus_one', count: 3 }])
    // Without captured values the key cannot be seen to vary: a period per month for one customer stays no N+1.
    const perMonth = 'SELECT COUNT(*) AS "__count" FROM "shop_order" WHERE ("shop_order"."customer_id" = %s AND "shop_order"."created" >= %s)'
    expect(findingsOf(unitOf(times(3, () => q(perMonth, null, { at: LOOP }))))).toEqual([])
    // A range alone is a page or a period, per day or per month: no key.
    const perDay = 'SELECT COUNT(*) AS "__count" FROM "shop_order" WHERE ("shop_order"."created" >= %s AND "shop_order"."created" < %s)'
    expect(findingsOf(unitOf(times(4, (i) => q(perDay, [`2026-12-0${i + 1}`, `2026-12-0${i + 2}`], { at: LOOP }))))).toEqual([])
  })

  it('does not report offset pagination in a loop', () => {
    const pages = times(4, (i) => q(`SELECT "shop_book"."id" FROM "shop_book" ORDER BY "shop_book"."id" ASC LIMIT 100 OFFSET ${i * 100}`, [], { at: LOOP }))
    expect(findingsOf(unitOf(pages))).toEqual([])
  })

  it('does not report a search per row (LIKE) as an N+1', () => {
    const search = 'SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."title" LIKE %s ESCAPE \'\\\''
    expect(findingsOf(unitOf(times(3, (i) => q(search, [`%${i}%`], { at: LOOP }))))).toEqual([])
  })

  it('keeps loops on two databases apart: one lookup on each is no N+1 and no duplicate', () => {
    const unit = unitOf(
      q(BOOKS, [], { at: VIEW }),
      q(AUTHOR_BY_ID, [1], { at: LOOP, db: 'default' }),
      q(AUTHOR_BY_ID, [1], { at: LOOP, db: 'replica' }),
    )
    expect(findingsOf(unit)).toEqual([])
  })

  it('reports a loop on the replica on its own, without the default database queries', () => {
    const unit = unitOf(
      q(BOOKS, [], { at: VIEW }),
      times(6, (i) => q(AUTHOR_BY_ID, [i + 1], { at: LOOP, db: i % 2 ? 'replica' : 'default' })),
    )
    const findings = findingsOf(unit)
    expect(findings.map((f) => f.query_indexes)).toEqual([
      [1, 3, 5],
      [2, 4, 6],
    ])
  })

  it('never reports savepoints, transaction control or connection setup in a loop', () => {
    const unit = unitOf(
      q('SET search_path TO "public"', [], { at: VIEW }),
      q('SELECT VERSION()', [], { at: VIEW }),
      times(4, (i) => [
        q(`SAVEPOINT "s140245_x${i + 1}"`, null, { at: LOOP }),
        q(`RELEASE SAVEPOINT "s140245_x${i + 1}"`, null, { at: LOOP }),
        q('SHOW TRANSACTION ISOLATION LEVEL', [], { at: LOOP }),
        q('SELECT 1', [], { at: LOOP }),
        q('BEGIN', null, { at: LOOP }),
        q('COMMIT', null, { at: LOOP, ms: 150 }),
      ]).flat(),
    )
    expect(findingsOf(unit)).toEqual([])
  })
})

describe('raw SQL and units without schema', () => {
  it('reports a raw SQL loop with the values written into the text', () => {
    const unit = unitOf(
      q('SELECT id, title, author_id FROM shop_book', [], { at: VIEW }),
      times(3, (i) => q(`SELECT id, name FROM shop_author WHERE id = ${i + 1}`, [], { at: LOOP })),
    )
    const [finding] = findingsOf(unit)
    expect(finding).toMatchObject({ kind: 'n_plus_one', count: 3, trigger_index: 0, sql: 'select id, name from shop_author where id = ?' })
  })

  it("tells a raw SQL loop to fetch every key at once or join, not to add a loader to a queryset it has not got", () => {
    const unit = unitOf(
      q('SELECT id, author_id FROM shop_book', [], { at: site('shop/views.py', 62) }),
      times(3, (i) => q('SELECT name FROM shop_author WHERE id = %s', [i + 1], { at: site('shop/views.py', 65) })),
    )
    const [finding] = findingsOf(unit)
    expect(finding.suggestion).toEqual({
      text: 'Fetch the "shop_author" rows for every key in one query (WHERE "shop_author"."id" IN (...)), or join it in the query at shop/views.py:62, instead of 3 queries by "shop_author"."id", one per row at shop/views.py:65',
      code: null,
    })
  })

  it('reports a raw SQL loop with placeholders', () => {
    const unit = unitOf(times(3, (i) => q('SELECT name FROM shop_author WHERE id = %s', [i + 1], { at: LOOP })))
    expect(findingsOf(unit)).toMatchObject([{ kind: 'n_plus_one', count: 3 }])
  })

  it('names the table and column of a forward foreign key without the schema', () => {
    const [finding] = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, AUTHOR_BY_ID)), { schema: null })
    expect(finding).toMatchObject({ kind: 'n_plus_one', trigger_index: 0 })
    expect(finding.suggestion.text).toContain('select_related("author")')
    expect(finding.suggestion.text).toContain('iterated at shop/views.py:40')
  })

  it('names the table and column of a reverse foreign key without the schema', () => {
    const [finding] = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, REVIEWS_OF_BOOK)), { schema: null })
    expect(finding).toMatchObject({ kind: 'n_plus_one', trigger_index: 0 })
    expect(finding.suggestion.text).toContain('"shop_review"."book_id"')
    expect(finding.suggestion.text).toContain('"shop_book"')
    expect(finding.suggestion.code).toBeNull()
  })

  it('reports a loop whose parameters were not captured', () => {
    const unit = unitOf(q(BOOKS, [], { at: VIEW }), times(3, () => q(AUTHOR_BY_ID, null, { at: LOOP })))
    expect(findingsOf(unit)).toMatchObject([{ kind: 'n_plus_one', count: 3 }])
  })
})

describe('SQLAlchemy units', () => {
  const BOOKS_SA = 'SELECT books.id AS books_id, books.title AS books_title, books.author_id AS books_author_id FROM books'
  const AUTHORS_SA = 'SELECT authors.id AS authors_id, authors.name AS authors_name FROM authors'
  const LAZY_BOOKS = 'SELECT books.id AS books_id, books.title AS books_title, books.author_id AS books_author_id FROM books WHERE ? = books.author_id'
  const LAZY_AUTHOR = 'SELECT authors.id AS authors_id, authors.name AS authors_name FROM authors WHERE authors.id = ?'
  const SCHEMA = {
    models: [
      { model: 'Author', table: 'authors', pk: 'id', relations: [{ field: 'books', kind: 'reverse_fk' as const, target: 'Book', target_column: 'author_id' }] },
      { model: 'Book', table: 'books', pk: 'id', relations: [{ field: 'author', kind: 'fk' as const, column: 'author_id', target: 'Author' }] },
    ],
  }

  it('suggests selectinload for a lazy-loaded collection', () => {
    const unit = unitOf(q(AUTHORS_SA, [], { at: VIEW }), loopOf(3, LAZY_BOOKS))
    const [finding] = findingsOf(unit, { app: FLASK, schema: SCHEMA })
    expect(finding).toMatchObject({ kind: 'n_plus_one', trigger_index: 0 })
    expect(finding.suggestion.code).toBe('select(Author).options(selectinload(Author.books))')
    // A select(Book).where(Book.author_id == a.id) per author is the same SQL, and no loader serves it.
    expect(finding.suggestion.text).toContain('read them through Author.books in the loop: a select(Book) of its own is not served by it')
  })

  it('selects the rows of a collection the schema does not name (dynamic, write_only) with .in_(), never an eager load', () => {
    // The agent leaves dynamic and write_only relationships out of the schema: selectinload() of them raises.
    const unnamedSchema = { models: SCHEMA.models.map((m) => ({ ...m, relations: [] })) }
    const [finding] = findingsOf(unitOf(q(AUTHORS_SA, [], { at: VIEW }), loopOf(3, LAZY_BOOKS)), { app: FLASK, schema: unnamedSchema })
    expect(finding.suggestion.code).toBe('session.scalars(select(Book).where(Book.author_id.in_(values))).all()')
    // Book.author described but not Author.books: the loop is over the authors' books, which cannot be named, and
    // the text says what to do for either kind of relationship.
    const backOnly = { models: SCHEMA.models.map((m) => (m.model === 'Author' ? { ...m, relations: [] } : m)) }
    const [unnamed] = findingsOf(unitOf(q(AUTHORS_SA, [], { at: VIEW }), loopOf(3, LAZY_BOOKS)), { app: FLASK, schema: backOnly })
    expect(unnamed).toMatchObject({ trigger_index: 0, suggestion: { code: null } })
    expect(unnamed.suggestion.text).toContain('a dynamic or write_only one cannot be eager-loaded: select the rows with .in_() and group them')
  })

  it("keeps a loop's own conditions on the load with .and_(), and gives no code for a LIMIT per row", () => {
    const pricey = 'SELECT books.id, books.title, books.author_id FROM books WHERE books.author_id = ? AND books.price > ?'
    const [filtered] = findingsOf(unitOf(q(AUTHORS_SA, [], { at: VIEW }), times(3, (i) => q(pricey, [i + 1, 5], { at: LOOP }))), { app: FLASK, schema: SCHEMA })
    expect(filtered.suggestion.code).toBe('select(Author).options(selectinload(Author.books.and_(Book.price > 5)))')
    const anyPricey = 'SELECT EXISTS (SELECT * FROM books WHERE books.author_id = ? AND books.price > ?) AS anon_1'
    const [exists] = findingsOf(unitOf(q(AUTHORS_SA, [], { at: VIEW }), times(3, (i) => q(anyPricey, [i + 1, 5], { at: LOOP }))), { app: FLASK, schema: SCHEMA })
    // (Inside EXISTS the conditions are not read: named, with no code, rather than a count of every book.)
    expect(exists.suggestion.code).toBeNull()
    expect(exists.suggestion.text).toContain("Add .options(selectinload(Author.books)) to the query iterated at shop/views.py:40 (with the loop's other conditions on it: .and_(...))")
    const countPricey = 'SELECT count(*) AS count_1 FROM books WHERE books.author_id = ? AND books.price > ?'
    const [counted] = findingsOf(unitOf(q(AUTHORS_SA, [], { at: VIEW }), times(3, (i) => q(countPricey, [i + 1, 5], { at: LOOP }))), { app: FLASK, schema: SCHEMA })
    expect(counted.suggestion.code).toBe('select(Author, func.count(Book.id)).outerjoin(Author.books.and_(Book.price > 5)).group_by(Author.id)')
    // select(Book).where(Book.author_id == a.id).order_by(Book.price.desc()).limit(1): each author's dearest book.
    const dearest = 'SELECT books.id, books.title, books.author_id FROM books WHERE books.author_id = ? ORDER BY books.price DESC LIMIT ? OFFSET ?'
    const [first] = findingsOf(unitOf(q(AUTHORS_SA, [], { at: VIEW }), times(3, (i) => q(dearest, [i + 1, 1, 0], { at: LOOP }))), { app: FLASK, schema: SCHEMA })
    expect(first.suggestion.code).toBeNull()
    expect(first.suggestion.text).toContain('in the loop\'s order, and take each row\'s first ones from them in the loop instead of 3 queries with a LIMIT, one per row')
    // A condition that cannot be written exactly (a LIKE): no code.
    const titled = 'SELECT books.id, books.title, books.author_id FROM books WHERE books.author_id = ? AND books.title LIKE ?'
    const [like] = findingsOf(unitOf(q(AUTHORS_SA, [], { at: VIEW }), times(3, (i) => q(titled, [i + 1, '%war%'], { at: LOOP }))), { app: FLASK, schema: SCHEMA })
    expect(like.suggestion.code).toBeNull()
    expect(like.suggestion.text).toContain("(with the loop's other conditions on it: .and_(...))")
  })

  it('keeps the rows fetched for a session.get() loop in a dict: a result thrown away saves no get()', () => {
    const [finding] = findingsOf(unitOf(loopOf(3, LAZY_AUTHOR)), { app: FLASK, schema: SCHEMA })
    expect(finding.suggestion.code).toBe('author_by_id = {row.id: row for row in session.scalars(select(Author).where(Author.id.in_(ids)))}')
    expect(finding.suggestion.text).toContain('and read author_by_id[...] in the loop instead of 3 lookups by primary key')
    // Flask's views run a Session; under FastAPI the SQL does not say whether a Session or an AsyncSession ran it.
    expect(finding.suggestion.text).not.toContain('AsyncSession')
    const [fastapi] = findingsOf(unitOf(loopOf(3, LAZY_AUTHOR)), { app: { name: 'api', framework: 'fastapi' }, schema: SCHEMA })
    expect(fastapi.suggestion.text).toContain(" (on an AsyncSession, await the session's calls: await session.scalars(...))")
  })

  it('takes no count as the rows of a loop: authors got one by one after a count of the books', () => {
    // await asyncio.gather(count(Book), count(Review)); then await asyncio.gather(*(s.get(Author, i) for i in ids))
    const counts = [q('SELECT count(*) AS count_1 FROM books', [], { at: VIEW }), q('SELECT count(*) AS count_1 FROM reviews', [], { at: VIEW })]
    const [finding] = findingsOf(unitOf(...counts, loopOf(5, LAZY_AUTHOR)), { app: FLASK, schema: SCHEMA })
    expect(finding.trigger_index).toBeNull()
    expect(finding.suggestion.code).toBe('author_by_id = {row.id: row for row in session.scalars(select(Author).where(Author.id.in_(ids)))}')
    expect(finding.suggestion.text).not.toContain('Book.author')
  })

  it("undefers a deferred column read per row even after the children's selectin query (which holds the FK)", () => {
    const authors = 'SELECT authors.id AS authors_id, authors.name AS authors_name FROM authors'
    const selectin = 'SELECT books.author_id AS books_author_id, books.id AS books_id FROM books WHERE books.author_id IN (?, ?, ?)'
    const bio = 'SELECT authors.bio AS authors_bio FROM authors WHERE authors.id = ?'
    const unit = unitOf(q(authors, [], { at: VIEW }), q(selectin, [1, 2, 3], { at: VIEW }), loopOf(3, bio))
    const [finding] = findingsOf(unit, { app: FLASK, schema: SCHEMA })
    expect(finding.suggestion.code).toBe('select(Author).options(undefer(Author.bio))')
  })

  it('computes an average per row in the same query as the parent rows', () => {
    const avgOf = 'SELECT avg(books.price) AS avg_1 FROM books WHERE ? = books.author_id'
    const [finding] = findingsOf(unitOf(q(AUTHORS_SA, [], { at: VIEW }), loopOf(3, avgOf)), { app: FLASK, schema: SCHEMA })
    expect(finding.suggestion.code).toBe('select(Author, func.avg(Book.price)).outerjoin(Author.books).group_by(Author.id)')
    expect(finding.suggestion.text).toContain('Compute the AVG in the same query')
  })

  it("keeps a select by primary key's other conditions in the dict it fetches at once", () => {
    const published = 'SELECT authors.id, authors.name FROM authors WHERE authors.id = ? AND authors.active = ?'
    const [finding] = findingsOf(unitOf(times(3, (i) => q(published, [i + 1, true], { at: LOOP }))), { app: FLASK, schema: SCHEMA })
    expect(finding.suggestion.code).toBe('author_by_id = {row.id: row for row in session.scalars(select(Author).where(Author.active == True, Author.id.in_(ids)))}')
  })

  it('tells a deferred column_property loaded per row to be undeferred, not its rows fetched at once', () => {
    const books = 'SELECT books.id AS books_id, books.title AS books_title FROM books'
    const reviewCount =
      'SELECT (SELECT count(reviews.id) AS count_1 FROM reviews WHERE reviews.book_id = books.id) AS anon_1 FROM books WHERE books.id = ?'
    const [finding] = findingsOf(unitOf(q(books, [], { at: VIEW }), loopOf(3, reviewCount)), { app: FLASK, schema: SCHEMA })
    expect(finding.suggestion.code).toBeNull()
    expect(finding.suggestion.text).toContain('loads a deferred expression of a Book row (a column_property or query_expression), not the row')
    expect(finding.suggestion.text).toContain('.options(undefer(Book.<its attribute>))')
  })

  it('tells rows read back after a commit() per row (expire_on_commit) to commit once, not to be fetched at once', () => {
    // for b in books: b.stock -= 1; session.commit(): each next book is expired, reloaded, updated.
    const update = 'UPDATE books SET stock=? WHERE books.id = ?'
    const reload = 'SELECT books.id AS books_id, books.title AS books_title, books.stock AS books_stock FROM books WHERE books.id = ?'
    const rows = times(3, (i) => [q(reload, [i + 2], { at: site('app/stock.py', 13, 'sell') }), q(update, [4, i + 2], { at: site('app/stock.py', 14, 'sell') })])
    const unit = unitOf(q('SELECT books.id, books.title, books.stock FROM books', [], { at: site('app/stock.py', 12, 'sell') }), q(update, [4, 1], { at: site('app/stock.py', 14, 'sell') }), rows.flat())
    const [finding] = findingsOf(unit, { app: FLASK, schema: SCHEMA }).filter((f) => f.kind === 'n_plus_one')
    expect(finding.suggestion.code).toBeNull()
    expect(finding.suggestion.text).toContain('a commit() expires the session\'s objects (expire_on_commit) and each is reloaded by its key; commit once after the writes')
  })

  it('tells rows got for the first time, a commit after each, to be fetched at once, and their later read-back to commit once', () => {
    // for i in ids: b = session.get(Book, i); b.title = ...; session.commit()   then   [session.get(Book, i) for i in ids]
    const get = 'SELECT books.id AS books_id, books.title AS books_title, books.stock AS books_stock FROM books WHERE books.id = ?'
    const update = 'UPDATE books SET title=? WHERE books.id = ?'
    const first = times(3, (i) => [q(get, [i + 1], { at: site('app/api.py', 28, 'bump') }), q(update, ['new', i + 1], { at: site('app/api.py', 30, 'bump') })])
    const again = times(3, (i) => q(get, [i + 1], { at: site('app/api.py', 31, 'bump') }))
    const findings = findingsOf(unitOf(first.flat(), again), { app: FLASK, schema: SCHEMA }).filter((f) => f.kind === 'n_plus_one')
    const at = (line: number) => findings.find((f) => f.callsite?.line === line)!
    expect(at(28).suggestion.text).not.toContain('expire_on_commit')
    expect(at(28).suggestion.code).toBe('book_by_id = {row.id: row for row in session.scalars(select(Book).where(Book.id.in_(ids)))}')
    expect(at(31).suggestion.text).toContain('(expire_on_commit) and each is reloaded by its key; commit once after the writes')
  })

  it('keeps the row locks of a with_for_update() loop in the fix', () => {
    const [finding] = findingsOf(unitOf(loopOf(3, `${LAZY_AUTHOR} FOR UPDATE`)), { app: FLASK, schema: SCHEMA })
    expect(finding.suggestion.code).toBe('author_by_id = {row.id: row for row in session.scalars(select(Author).where(Author.id.in_(ids)).with_for_update())}')
  })

  it("keeps the loop's other conditions beside the keys it fetches at once, and groups the rows by the key", () => {
    const unnamedSchema = { models: SCHEMA.models.map((m) => ({ ...m, relations: [] })) }
    const published = 'SELECT books.id AS books_id, books.title AS books_title FROM books WHERE ? = books.author_id AND books.published = ?'
    const loop = times(3, (i) => q(published, [i + 1, true], { at: LOOP }))
    const [finding] = findingsOf(unitOf(q(AUTHORS_SA, [], { at: VIEW }), loop), { app: FLASK, schema: unnamedSchema })
    expect(finding.suggestion.code).toBe('session.scalars(select(Book).where(Book.published == True, Book.author_id.in_(values))).all()')
    expect(finding.suggestion.text).toContain('then group them by Book.author_id and read each row\'s from that in the loop')
  })

  describe('a loop over rows the parent query loaded eagerly', () => {
    const schema = {
      models: [
        { model: 'Author', table: 'authors', pk: 'id', relations: [{ field: 'books', kind: 'reverse_fk' as const, target: 'Book', target_column: 'author_id' }] },
        {
          model: 'Book',
          table: 'books',
          pk: 'id',
          relations: [
            { field: 'author', kind: 'fk' as const, column: 'author_id', target: 'Author' },
            { field: 'reviews', kind: 'reverse_fk' as const, target: 'Review', target_column: 'book_id' },
          ],
        },
        { model: 'Review', table: 'reviews', pk: 'id', relations: [{ field: 'book', kind: 'fk' as const, column: 'book_id', target: 'Book' }] },
      ],
    }
    const LAZY_REVIEWS = 'SELECT reviews.id AS reviews_id, reviews.book_id AS reviews_book_id FROM reviews WHERE ? = reviews.book_id'
    const reviewsPerBook = times(4, (i) => q(LAZY_REVIEWS, [i + 1], { at: LOOP }))

    it('chains the fix from the parent query that joined them in: joinedload(Author.books).selectinload(Book.reviews)', () => {
      const joined =
        'SELECT authors.id AS authors_id, authors.name AS authors_name, books_1.id AS books_1_id, books_1.author_id AS books_1_author_id FROM authors LEFT OUTER JOIN books AS books_1 ON authors.id = books_1.author_id ORDER BY authors.id'
      const [finding] = findingsOf(unitOf(q(joined, [], { at: VIEW }), reviewsPerBook), { app: FLASK, schema })
      expect(finding.suggestion.code).toBe('select(Author).options(joinedload(Author.books).selectinload(Book.reviews))')
    })

    it("keeps the criteria of a selectinload(Author.books.and_(...)) the loop's rows came from", () => {
      const authors = 'SELECT authors.id AS authors_id, authors.name AS authors_name FROM authors'
      const selectin = 'SELECT books.author_id AS books_author_id, books.id AS books_id FROM books WHERE books.author_id IN (?, ?, ?)'
      const plain = findingsOf(unitOf(q(authors, [], { at: VIEW }), q(selectin, [1, 2, 3], { at: VIEW }), reviewsPerBook), { app: FLASK, schema })
      expect(plain[0].suggestion.code).toBe('select(Author).options(selectinload(Author.books).selectinload(Book.reviews))')
      const cheap = `${selectin} AND books.price < ?`
      const [finding] = findingsOf(unitOf(q(authors, [], { at: VIEW }), q(cheap, [1, 2, 3, 10], { at: VIEW }), reviewsPerBook), { app: FLASK, schema })
      expect(finding.suggestion.code).toBeNull()
      expect(finding.suggestion.text).toContain(
        'Add .options(selectinload(Author.books).selectinload(Book.reviews)) to the query iterated at shop/views.py:40, keeping the criteria of the load of Author.books the query has (its .and_(...))',
      )
    })

    it('keeps contains_eager for a join the query selects the rows from, and leaves a join that only filters alone', () => {
      const eager =
        'SELECT books.id AS books_id, books.author_id AS books_author_id, authors.id AS authors_id FROM authors JOIN books ON authors.id = books.author_id WHERE books.year > ?'
      const [finding] = findingsOf(unitOf(q(eager, [2005], { at: VIEW }), reviewsPerBook), { app: FLASK, schema })
      expect(finding.suggestion.code).toBe('select(Author).options(contains_eager(Author.books).selectinload(Book.reviews))')
      // Filtered by the join, the collection still loads lazily: no chain through it.
      const filtered = 'SELECT authors.id AS authors_id, authors.name AS authors_name FROM authors JOIN books ON authors.id = books.author_id WHERE books.year > ?'
      const lazyBooks = 'SELECT books.id AS books_id, books.author_id AS books_author_id FROM books WHERE ? = books.author_id'
      const unit = unitOf(q(filtered, [2005], { at: VIEW }), times(2, (i) => [q(lazyBooks, [i + 1], { at: LOOP }), q(LAZY_REVIEWS, [i + 1], { at: LOOP })]).flat())
      expect(findingsOf(unit, { app: FLASK, schema }).map((f) => f.suggestion.code)).not.toContain('select(Author).options(contains_eager(Author.books).selectinload(Book.reviews))')
    })

    it("chains it from the parent's selectinload when the children's query joins their own eager loads too", () => {
      const selectin =
        'SELECT books.author_id AS books_author_id, books.id AS books_id, publishers_1.id AS publishers_1_id FROM books LEFT OUTER JOIN publishers AS publishers_1 ON publishers_1.id = books.publisher_id WHERE books.author_id IN (?, ?)'
      const unit = unitOf(q('SELECT authors.id AS authors_id FROM authors', [], { at: VIEW }), q(selectin, [1, 2], { at: VIEW }), reviewsPerBook)
      const [finding] = findingsOf(unit, { app: FLASK, schema })
      expect(finding.suggestion.code).toBe('select(Author).options(selectinload(Author.books).selectinload(Book.reviews))')
    })
  })

  it('suggests joinedload for a lazy-loaded many-to-one', () => {
    const unit = unitOf(q(BOOKS_SA, [], { at: VIEW }), loopOf(3, LAZY_AUTHOR))
    const [finding] = findingsOf(unit, { app: FLASK, schema: SCHEMA })
    expect(finding.suggestion.code).toBe('select(Book).options(joinedload(Book.author))')
    expect(finding.suggestion.text).toContain('read it through Book.author in the loop: a select(Author) of its own is not served by it')
  })

  const tagsOf = 'SELECT tags.id, tags.name \nFROM tags, book_tags \nWHERE ? = book_tags.book_id AND tags.id = book_tags.tag_id'
  /** Authors, their books, and the books' tags (many-to-many through book_tags), the models named under `module`. */
  const schemaWithTags = (module: string) => ({
    models: [
      { model: `${module}Author`, table: 'authors', pk: 'id', relations: [{ field: 'books', kind: 'reverse_fk' as const, target: `${module}Book`, target_column: 'author_id' }] },
      {
        model: `${module}Book`,
        table: 'books',
        pk: 'id',
        relations: [
          { field: 'author', kind: 'fk' as const, column: 'author_id', target: `${module}Author` },
          { field: 'tags', kind: 'm2m' as const, target: `${module}Tag`, through_table: 'book_tags', source_column: 'book_id', target_column: 'tag_id' },
        ],
      },
      { model: `${module}Tag`, table: 'tags', pk: 'id', relations: [] },
    ],
  })

  it('chains loader options for nested lazy loads, many-to-many included', () => {
    const authors = 'SELECT authors.id AS authors_id, authors.name AS authors_name \nFROM authors'
    const booksOf = 'SELECT books.id, books.title, books.author_id \nFROM books \nWHERE ? = books.author_id'
    const schema = schemaWithTags('app.models.')
    const perAuthor = times(3, (a) => [
      q(booksOf, [a + 1], { at: site('run.py', 33) }),
      times(2, (b) => q(tagsOf, [a * 2 + b + 1], { at: site('run.py', 34) })),
    ])
    const unit = unitOf(q(authors, [], { at: site('run.py', 32) }), perAuthor.flat(2))
    const findings = findingsOf(unit, { app: { name: 'script', framework: 'sqlalchemy' }, schema })
    // The outer level's fix is the inner one's too: its chained option loads both levels (pasted one after the other,
    // the second select would replace the first).
    const chained = 'select(Author).options(selectinload(Author.books).selectinload(Book.tags))'
    expect(findings.map((f) => [f.count, f.trigger_index, f.suggestion.code])).toEqual([
      [3, 0, chained],
      [6, 1, chained],
    ])
    expect(findings[0].suggestion.text).toContain(`One select loads what this N+1 and the other one over the same rows need: ${chained}`)
  })

  it("puts the fix of a loop over one object's relationship on the query that loaded the object, one hop further", () => {
    // user = session.get(User, 1) (line 17); for post in user.posts (18, a lazy load); for c in post.comments (19):
    // the fix was select(Post).options(selectinload(Post.comments)) "to the query iterated at script.py:18", a lazy
    // load with no select to change (a probe).
    const schema: Schema = {
      models: [
        { model: 'User', table: 'users', pk: 'id', relations: [{ field: 'posts', kind: 'reverse_fk', target: 'Post', target_column: 'user_id' }] },
        {
          model: 'Post',
          table: 'posts',
          pk: 'id',
          relations: [
            { field: 'user', kind: 'fk', target: 'User', column: 'user_id' },
            { field: 'comments', kind: 'reverse_fk', target: 'Comment', target_column: 'post_id' },
          ],
        },
        { model: 'Comment', table: 'comments', pk: 'id', relations: [{ field: 'post', kind: 'fk', target: 'Post', column: 'post_id' }] },
      ],
    }
    const postsOf = 'SELECT posts.id AS posts_id, posts.title AS posts_title, posts.user_id AS posts_user_id \nFROM posts \nWHERE ? = posts.user_id'
    const commentsOf = 'SELECT comments.id AS comments_id, comments.post_id AS comments_post_id \nFROM comments \nWHERE ? = comments.post_id'
    const unitWith = (user: WireQuery) =>
      unitOf(user, q(postsOf, [1], { at: site('script.py', 18) }), ...[1, 2, 3].map((id) => q(commentsOf, [id], { at: site('script.py', 19) })))
    const byId = q('SELECT users.id AS users_id, users.name AS users_name \nFROM users \nWHERE users.id = ?', [1], { at: site('script.py', 17) })
    const [got] = findingsOf(unitWith(byId), { app: FLASK, schema })
    expect(got.suggestion.code).toBe('session.get(User, id, options=[selectinload(User.posts).selectinload(Post.comments)])')
    expect(got.suggestion.text).toContain('Load the User at script.py:17 with its related rows up front, session.get(User, id, options=[selectinload(User.posts).selectinload(Post.comments)])')
    const byName = q('SELECT users.id AS users_id, users.name AS users_name \nFROM users \nWHERE users.name = ?', ['ann'], { at: site('script.py', 17) })
    const [selected] = findingsOf(unitWith(byName), { app: FLASK, schema })
    expect(selected.suggestion.code).toBe('select(User).options(selectinload(User.posts).selectinload(Post.comments))')
    expect(selected.suggestion.text).toContain('to the query iterated at script.py:17')
    // Posts the code selected itself (WHERE posts.user_id = ?, not a lazy load): the fix stays on that select.
    const ownSelect = unitOf(byId, q(postsOf.replace('? = posts.user_id', 'posts.user_id = ?'), [1], { at: site('script.py', 18) }), ...[1, 2, 3].map((id) => q(commentsOf, [id], { at: site('script.py', 19) })))
    expect(findingsOf(ownSelect, { app: FLASK, schema })[0].suggestion.code).toBe('select(Post).options(selectinload(Post.comments))')
  })

  it('gives SQLAlchemy N+1s over the same rows one select with every loader option, unless two load one relationship differently', () => {
    // Each book's author and its tags, two lines of one loop: two select(Book).options(...) fixes, each replacing the
    // other when pasted (a probe).
    const books = 'SELECT books.id, books.title, books.author_id \nFROM books'
    const authorOf = 'SELECT authors.id, authors.name \nFROM authors \nWHERE authors.id = ?'
    const schema = schemaWithTags('app.models.')
    const perBook = times(3, (b) => [q(authorOf, [b + 1], { at: site('run.py', 33) }), q(tagsOf, [b + 1], { at: site('run.py', 34) })])
    const findings = findingsOf(unitOf(q(books, [], { at: site('run.py', 32) }), perBook.flat()), { app: { name: 'script', framework: 'sqlalchemy' }, schema })
    const pooled = 'select(Book).options(joinedload(Book.author), selectinload(Book.tags))'
    expect(findings.map((f) => f.suggestion.code)).toEqual([pooled, pooled])
  })

  it('puts the loop over rows a selectinload loaded on the parent query, one hop further', () => {
    // select(Author).options(selectinload(Author.books)), then book.tags for each book of each author.
    const authors = 'SELECT authors.id, authors.name \nFROM authors'
    const booksIn = 'SELECT books.author_id AS books_author_id, books.id AS books_id, books.title AS books_title \nFROM books \nWHERE books.author_id IN (?, ?, ?)'
    const schema = schemaWithTags('')
    const loaded = site('run.py', 139)
    const unit = unitOf(q(authors, [], { at: loaded }), q(booksIn, [1, 2, 3], { at: loaded }), times(6, (b) => q(tagsOf, [b + 1], { at: site('run.py', 141) })))
    const [finding] = findingsOf(unit, { app: FLASK, schema })
    expect(finding.suggestion.code).toBe('select(Author).options(selectinload(Author.books).selectinload(Book.tags))')
    expect(finding.suggestion.text).toContain('to the query iterated at run.py:139')
  })

  it('recognises SQLAlchemy SQL when the app does not name its framework', () => {
    const unit = unitOf(q(AUTHORS_SA, [], { at: VIEW }), loopOf(3, LAZY_BOOKS))
    const [finding] = findingsOf(unit, { app: { name: 'script' }, schema: SCHEMA })
    expect(finding.suggestion.code).toContain('selectinload(Author.books)')
  })
})

describe('severity', () => {
  it('is a warning below 10 repeats and 20 ms wasted, an error from 10 repeats', () => {
    const nine = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(9, AUTHOR_BY_ID)))
    const ten = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(10, AUTHOR_BY_ID)))
    expect(nine[0].severity).toBe('warning')
    expect(ten[0].severity).toBe('error')
  })

  it('is an error from 20 ms wasted, counting every repeat but the first', () => {
    const slowLoop = (ms: number) => times(3, (i) => q(AUTHOR_BY_ID, [i + 1], { at: LOOP, ms }))
    const under = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), slowLoop(9.99)))
    const over = findingsOf(unitOf(q(BOOKS, [], { at: VIEW }), slowLoop(10)))
    expect(under[0]).toMatchObject({ severity: 'warning', wasted_ms: 19.98 })
    expect(over[0]).toMatchObject({ severity: 'error', wasted_ms: 20 })
  })

  it('follows the thresholds given in the options', () => {
    const unit = unitOf(q(BOOKS, [], { at: VIEW }), loopOf(4, AUTHOR_BY_ID))
    expect(findingsOf(unit, { options: { nPlusOneErrorRepeats: 4 } })[0].severity).toBe('error')
    expect(findingsOf(unit, { options: { nPlusOneErrorRepeats: 50, nPlusOneErrorWastedMs: 1 } })[0].severity).toBe('error')
    expect(findingsOf(unit, { options: { nPlusOneErrorRepeats: 50, nPlusOneErrorWastedMs: 100 } })[0].severity).toBe('warning')
  })
})

it('reports the normalized SQL and fingerprint of the repeated query', () => {
  const result = analyse(unitOf(q(BOOKS, [], { at: VIEW }), loopOf(3, AUTHOR_BY_ID)))
  const [finding] = result.findings
  expect(finding.sql).toBe(result.fingerprints[finding.fingerprint])
  expect(finding.sql).toContain('where "shop_author"."id" = ?')
  expect(result.queries[1].fingerprint).toBe(finding.fingerprint)
})
