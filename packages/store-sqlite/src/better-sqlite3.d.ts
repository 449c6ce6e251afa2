/**
 * Minimal type declarations for the parts of better-sqlite3 12 this package
 * uses. @types/better-sqlite3 is not installed in the workspace; if it ever is,
 * delete this file.
 */
declare module 'better-sqlite3' {
  class Database {
    constructor(filename?: string, options?: Database.Options);
    readonly open: boolean;
    readonly inTransaction: boolean;
    readonly name: string;
    readonly readonly: boolean;
    readonly memory: boolean;
    prepare<R = unknown>(source: string): Database.Statement<R>;
    exec(source: string): this;
    pragma(source: string, options?: { simple?: boolean }): unknown;
    transaction<F extends (...args: never[]) => unknown>(fn: F): Database.Transaction<F>;
    close(): this;
  }

  namespace Database {
    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      /** Busy timeout in milliseconds (default 5000). */
      timeout?: number;
      verbose?: (message?: unknown, ...additional: unknown[]) => void;
      nativeBinding?: string;
    }

    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }

    interface Statement<R = unknown> {
      readonly source: string;
      readonly reader: boolean;
      run(...params: unknown[]): RunResult;
      get(...params: unknown[]): R | undefined;
      all(...params: unknown[]): R[];
      iterate(...params: unknown[]): IterableIterator<R>;
      pluck(toggle?: boolean): this;
    }

    interface Transaction<F extends (...args: never[]) => unknown> {
      (...args: Parameters<F>): ReturnType<F>;
      deferred(...args: Parameters<F>): ReturnType<F>;
      immediate(...args: Parameters<F>): ReturnType<F>;
      exclusive(...args: Parameters<F>): ReturnType<F>;
    }
  }

  export = Database;
}
