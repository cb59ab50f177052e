/** The database schema as an ordered list of migrations; `PRAGMA user_version` records how many have run. @module */
import type Database from 'better-sqlite3'
import { DatabaseVersionError } from '../errors.js'

/** Each entry moves the database from version i to i + 1. Never edit a shipped entry: append a new one. */
export const MIGRATIONS: readonly string[] = [
  // 1: units (summary columns for listing and filtering + the analysed unit as JSON) and the apps that sent them.
  `
  CREATE TABLE units (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    app TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    method TEXT,
    path TEXT,
    route TEXT,
    status INTEGER,
    started_at REAL NOT NULL,
    duration_ms REAL NOT NULL,
    queries INTEGER NOT NULL,
    db_ms REAL NOT NULL,
    duplicates INTEGER NOT NULL,
    n_plus_one INTEGER NOT NULL,
    findings INTEGER NOT NULL,
    severity TEXT,
    has_n_plus_one INTEGER NOT NULL,
    has_duplicate INTEGER NOT NULL,
    has_repeated_write INTEGER NOT NULL,
    has_slow_query INTEGER NOT NULL,
    unit_json TEXT NOT NULL
  );
  CREATE INDEX units_newest ON units (started_at DESC, seq DESC);
  CREATE INDEX units_route ON units (route, started_at DESC);
  CREATE TABLE apps (
    name TEXT PRIMARY KEY,
    framework TEXT,
    schema_json TEXT,
    updated_at REAL NOT NULL
  );
  `,
  // 2: where each fingerprint was seen (for /api/v1/fingerprints/:id) and the page origins agents report (CORS).
  `
  CREATE TABLE fingerprints (
    id TEXT PRIMARY KEY,
    sql TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE fingerprint_sites (
    fingerprint TEXT NOT NULL,
    unit_seq INTEGER NOT NULL REFERENCES units (seq) ON DELETE CASCADE,
    unit_name TEXT NOT NULL,
    route TEXT,
    file TEXT,
    line INTEGER,
    function TEXT,
    queries INTEGER NOT NULL,
    started_at REAL NOT NULL
  );
  CREATE INDEX fingerprint_sites_by_fingerprint ON fingerprint_sites (fingerprint);
  CREATE INDEX fingerprint_sites_by_unit ON fingerprint_sites (unit_seq);
  CREATE TABLE origins (
    origin TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    last_seen REAL NOT NULL
  ) WITHOUT ROWID;
  `,
]

/** Runs the migrations `db` has not seen yet, each in its own transaction; returns the resulting version. */
export function migrate(db: Database.Database, { path = db.name, migrations = MIGRATIONS }: { path?: string; migrations?: readonly string[] } = {}): number {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > migrations.length) throw new DatabaseVersionError(path, current, migrations.length)
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version])
      db.pragma(`user_version = ${version + 1}`)
    })()
  }
  return migrations.length
}
