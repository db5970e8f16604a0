/**
 * One connection's prepared statements by SQL text: each is prepared once and reused (preparing
 * costs more than most of the statements it prepares). Every class that runs SQL on a connection
 * keeps one.
 *
 * @example
 * const stmt = statementCache(db);
 * stmt("SELECT json FROM documents WHERE id = ?").get(id);
 */
import type Database from "better-sqlite3";

export function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const statements = new Map<string, Database.Statement>();
  return (sql) => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
}
