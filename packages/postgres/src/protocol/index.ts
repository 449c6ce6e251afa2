/**
 * The PostgreSQL wire codec: framing, parsing and writing of the frontend/
 * backend protocol (3.0 and 3.2), zero-copy where nothing changes.
 */
export { ProtocolError } from './errors.js';
export * from './codes.js';
export { BufferReader } from './reader.js';
export { BufferWriter } from './writer.js';
export { BackendFramer, FramedMessage, type FramerOptions } from './framer.js';
export { FrontendFramer, isStartupPacket, type FrontendFramerOptions, type FrontendItem } from './frontend-framer.js';
export * from './startup.js';
export * from './frontend-messages.js';
export * from './backend-messages.js';
export { DataRowCursor, parseDataRow, validateDataRow } from './data-row.js';
export { ERROR_FIELD_CODES, errorFieldsFromNotice, type ErrorFields } from './error-fields.js';
export { BackendWriter, type Cell, type FieldDescriptionInput } from './backend-writer.js';
export { FrontendWriter } from './frontend-writer.js';
export { md5Password } from './md5.js';
