/** A stored row that cannot be decoded (e.g. its JSON was edited by hand). */
export class CorruptRowError extends Error {
  constructor(
    message: string,
    readonly table: string,
    readonly key: string,
  ) {
    super(message);
    this.name = 'CorruptRowError';
  }
}
