/**
 * The MySQL / MariaDB wire codec: packet framing (16 MB reassembly, sequence
 * ids), the connection phase (handshake v10, HandshakeResponse41, SSLRequest,
 * auth switch), command parsing, result sets in the text and binary
 * protocols, and password scrambles. Zero-copy where nothing changes.
 */
export { ProtocolError } from './errors.js';
export * from './codes.js';
export { BufferReader } from './reader.js';
export { BufferWriter } from './writer.js';
export { encodeLenencInt, lenencIntSize, lenencPrefixSize, readLenencInt, writeLenencInt } from './lenenc.js';
export { Packet, PacketFramer, SequenceChecker, type PacketFramerOptions } from './framer.js';
export * from './handshake.js';
export * from './responses.js';
export * from './commands.js';
export * from './resultset.js';
export { binaryFixedSize, binaryValueSize, formatFloat32, readBinaryValue, writeBinaryValue, type BinaryInput } from './binary.js';
export * from './auth.js';
