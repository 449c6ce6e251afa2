/**
 * Numbers of the MySQL / MariaDB client/server protocol (protocol 41).
 * Const enums: they vanish at compile time.
 *
 * Capability and status words are handled as unsigned 32-bit numbers
 * (`x >>> 0`); test bits with `(caps & Capability.X) !== 0`.
 */

/** Limits and fixed sizes of the framing layer. */
export const enum Limits {
  /** Largest physical payload; a payload of exactly this size means "more follows". */
  MaxPacketPayload = 0xffffff,
  /** Packet header: 3-byte little-endian length + 1-byte sequence id. */
  HeaderSize = 4,
  /** Default cap on a reassembled logical payload (64 MiB). */
  DefaultMaxLogicalPayload = 64 * 1024 * 1024,
  /** Length of the scramble (auth plugin data) in Initial Handshake v10. */
  ScrambleLength = 20,
  /** Size of an SSLRequest payload (the truncated HandshakeResponse41). */
  SslRequestSize = 32,
}

/** Client/server capability flags (the low and high 16-bit halves combined). */
export const enum Capability {
  /** CLIENT_LONG_PASSWORD; MariaDB reads a cleared bit 0 as "MariaDB peer, extended caps present" (CLIENT_MYSQL). */
  LongPassword = 0x00000001,
  FoundRows = 0x00000002, //               CLIENT_FOUND_ROWS
  LongFlag = 0x00000004, //                CLIENT_LONG_FLAG
  ConnectWithDb = 0x00000008, //           CLIENT_CONNECT_WITH_DB
  NoSchema = 0x00000010, //                CLIENT_NO_SCHEMA
  /** CLIENT_COMPRESS: Sluice never offers it (compression is refused). */
  Compress = 0x00000020,
  Odbc = 0x00000040, //                    CLIENT_ODBC
  /** CLIENT_LOCAL_FILES: LOAD DATA LOCAL INFILE. */
  LocalFiles = 0x00000080,
  IgnoreSpace = 0x00000100, //             CLIENT_IGNORE_SPACE
  Protocol41 = 0x00000200, //              CLIENT_PROTOCOL_41
  Interactive = 0x00000400, //             CLIENT_INTERACTIVE
  Ssl = 0x00000800, //                     CLIENT_SSL
  IgnoreSigpipe = 0x00001000, //           CLIENT_IGNORE_SIGPIPE
  Transactions = 0x00002000, //            CLIENT_TRANSACTIONS
  Reserved = 0x00004000, //                CLIENT_RESERVED
  /** CLIENT_SECURE_CONNECTION (RESERVED2): 1-byte-length auth response. */
  SecureConnection = 0x00008000,
  MultiStatements = 0x00010000, //         CLIENT_MULTI_STATEMENTS
  MultiResults = 0x00020000, //            CLIENT_MULTI_RESULTS
  PsMultiResults = 0x00040000, //          CLIENT_PS_MULTI_RESULTS
  PluginAuth = 0x00080000, //              CLIENT_PLUGIN_AUTH
  ConnectAttrs = 0x00100000, //            CLIENT_CONNECT_ATTRS
  PluginAuthLenencClientData = 0x00200000, // CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
  CanHandleExpiredPasswords = 0x00400000, // CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS
  SessionTrack = 0x00800000, //            CLIENT_SESSION_TRACK
  DeprecateEof = 0x01000000, //            CLIENT_DEPRECATE_EOF
  OptionalResultsetMetadata = 0x02000000, // CLIENT_OPTIONAL_RESULTSET_METADATA (MySQL 8)
  ZstdCompression = 0x04000000, //         CLIENT_ZSTD_COMPRESSION_ALGORITHM (MySQL 8)
  /** CLIENT_QUERY_ATTRIBUTES (MySQL 8.0.23+; MariaDB never sets it). */
  QueryAttributes = 0x08000000,
  MultiFactorAuth = 0x10000000, //         MULTI_FACTOR_AUTHENTICATION (MySQL 8.0.27+)
  CapabilityExtension = 0x20000000, //     CLIENT_CAPABILITY_EXTENSION
  SslVerifyServerCert = 0x40000000, //     CLIENT_SSL_VERIFY_SERVER_CERT
  RememberOptions = 0x80000000, //         CLIENT_REMEMBER_OPTIONS
}

/**
 * MariaDB extended capabilities: the 4 bytes in the handshake filler, present
 * when bit 0 (CLIENT_MYSQL) is clear in the basic capabilities. Here shifted
 * down by 32 bits (MARIADB_CLIENT_PROGRESS is 1 << 32 in MariaDB's headers).
 */
export const enum MariaDbCapability {
  Progress = 0x01, //            MARIADB_CLIENT_PROGRESS
  ComMulti = 0x02, //            MARIADB_CLIENT_COM_MULTI
  StmtBulkOperations = 0x04, //  MARIADB_CLIENT_STMT_BULK_OPERATIONS
  ExtendedTypeInfo = 0x08, //    MARIADB_CLIENT_EXTENDED_METADATA
  CacheMetadata = 0x10, //       MARIADB_CLIENT_CACHE_METADATA
  BulkUnitResults = 0x20, //     MARIADB_CLIENT_BULK_UNIT_RESULTS
}

/** SERVER_STATUS_* bits of OK / EOF packets and the handshake. */
export const enum ServerStatus {
  InTrans = 0x0001, //              SERVER_STATUS_IN_TRANS
  Autocommit = 0x0002, //           SERVER_STATUS_AUTOCOMMIT
  MoreResultsExist = 0x0008, //     SERVER_MORE_RESULTS_EXISTS
  NoGoodIndexUsed = 0x0010, //      SERVER_QUERY_NO_GOOD_INDEX_USED
  NoIndexUsed = 0x0020, //          SERVER_QUERY_NO_INDEX_USED
  CursorExists = 0x0040, //         SERVER_STATUS_CURSOR_EXISTS
  LastRowSent = 0x0080, //          SERVER_STATUS_LAST_ROW_SENT
  DbDropped = 0x0100, //            SERVER_STATUS_DB_DROPPED
  NoBackslashEscapes = 0x0200, //   SERVER_STATUS_NO_BACKSLASH_ESCAPES
  MetadataChanged = 0x0400, //      SERVER_STATUS_METADATA_CHANGED
  QueryWasSlow = 0x0800, //         SERVER_QUERY_WAS_SLOW
  PsOutParams = 0x1000, //          SERVER_PS_OUT_PARAMS
  InTransReadonly = 0x2000, //      SERVER_STATUS_IN_TRANS_READONLY
  SessionStateChanged = 0x4000, //  SERVER_SESSION_STATE_CHANGED
}

/** Command bytes: the first payload byte of every packet a client sends after auth. */
export const enum Command {
  Sleep = 0x00, //              COM_SLEEP (server internal)
  Quit = 0x01, //               COM_QUIT
  InitDb = 0x02, //             COM_INIT_DB
  Query = 0x03, //              COM_QUERY
  FieldList = 0x04, //          COM_FIELD_LIST
  CreateDb = 0x05, //           COM_CREATE_DB (deprecated)
  DropDb = 0x06, //             COM_DROP_DB (deprecated)
  Refresh = 0x07, //            COM_REFRESH
  Shutdown = 0x08, //           COM_SHUTDOWN
  Statistics = 0x09, //         COM_STATISTICS
  ProcessInfo = 0x0a, //        COM_PROCESS_INFO
  Connect = 0x0b, //            COM_CONNECT (server internal)
  ProcessKill = 0x0c, //        COM_PROCESS_KILL
  Debug = 0x0d, //              COM_DEBUG
  Ping = 0x0e, //               COM_PING
  Time = 0x0f, //               COM_TIME (server internal)
  DelayedInsert = 0x10, //      COM_DELAYED_INSERT (server internal)
  ChangeUser = 0x11, //         COM_CHANGE_USER
  BinlogDump = 0x12, //         COM_BINLOG_DUMP
  TableDump = 0x13, //          COM_TABLE_DUMP
  ConnectOut = 0x14, //         COM_CONNECT_OUT
  RegisterSlave = 0x15, //      COM_REGISTER_SLAVE
  StmtPrepare = 0x16, //        COM_STMT_PREPARE
  StmtExecute = 0x17, //        COM_STMT_EXECUTE
  StmtSendLongData = 0x18, //   COM_STMT_SEND_LONG_DATA
  StmtClose = 0x19, //          COM_STMT_CLOSE
  StmtReset = 0x1a, //          COM_STMT_RESET
  SetOption = 0x1b, //          COM_SET_OPTION
  StmtFetch = 0x1c, //          COM_STMT_FETCH
  Daemon = 0x1d, //             COM_DAEMON (server internal)
  BinlogDumpGtid = 0x1e, //     COM_BINLOG_DUMP_GTID
  ResetConnection = 0x1f, //    COM_RESET_CONNECTION
  Clone = 0x20, //              COM_CLONE (MySQL 8)
  StmtBulkExecute = 0xfa, //    COM_STMT_BULK_EXECUTE (MariaDB)
  Multi = 0xfe, //              COM_MULTI (MariaDB)
}

/** Header bytes of server responses. */
export const enum ResponseHeader {
  Ok = 0x00, //                 OK packet / COM_STMT_PREPARE_OK / binary row
  AuthMoreData = 0x01, //       AuthMoreData (caching_sha2, sha256 …)
  /** LOCAL INFILE request (0xFB, NULL_LENGTH as a header). */
  LocalInfile = 0xfb,
  /** EOF packet, AuthSwitchRequest, or OK ending a result set under DEPRECATE_EOF. */
  Eof = 0xfe,
  Err = 0xff, //                ERR packet
}

/** COM_SET_OPTION values. */
export const enum SetOption {
  MultiStatementsOn = 0, //   MYSQL_OPTION_MULTI_STATEMENTS_ON
  MultiStatementsOff = 1, //  MYSQL_OPTION_MULTI_STATEMENTS_OFF
}

/** COM_STMT_EXECUTE flags byte. */
export const enum CursorFlag {
  NoCursor = 0x00, //                CURSOR_TYPE_NO_CURSOR
  ReadOnly = 0x01, //                CURSOR_TYPE_READ_ONLY
  ForUpdate = 0x02, //               CURSOR_TYPE_FOR_UPDATE
  Scrollable = 0x04, //              CURSOR_TYPE_SCROLLABLE
  /** PARAMETER_COUNT_AVAILABLE (MySQL 8 query attributes). */
  ParameterCountAvailable = 0x08,
}

/** Column / parameter types (enum_field_types). */
export const enum ColumnType {
  Decimal = 0x00, //        MYSQL_TYPE_DECIMAL
  Tiny = 0x01, //           MYSQL_TYPE_TINY (1 byte)
  Short = 0x02, //          MYSQL_TYPE_SHORT (2 bytes)
  Long = 0x03, //           MYSQL_TYPE_LONG (4 bytes)
  Float = 0x04, //          MYSQL_TYPE_FLOAT (4 bytes)
  Double = 0x05, //         MYSQL_TYPE_DOUBLE (8 bytes)
  Null = 0x06, //           MYSQL_TYPE_NULL
  Timestamp = 0x07, //      MYSQL_TYPE_TIMESTAMP
  LongLong = 0x08, //       MYSQL_TYPE_LONGLONG (8 bytes)
  Int24 = 0x09, //          MYSQL_TYPE_INT24 (4 bytes in the binary protocol)
  Date = 0x0a, //           MYSQL_TYPE_DATE
  Time = 0x0b, //           MYSQL_TYPE_TIME
  DateTime = 0x0c, //       MYSQL_TYPE_DATETIME
  Year = 0x0d, //           MYSQL_TYPE_YEAR (2 bytes)
  NewDate = 0x0e, //        MYSQL_TYPE_NEWDATE (internal)
  VarChar = 0x0f, //        MYSQL_TYPE_VARCHAR
  Bit = 0x10, //            MYSQL_TYPE_BIT
  Timestamp2 = 0x11, //     MYSQL_TYPE_TIMESTAMP2 (internal)
  DateTime2 = 0x12, //      MYSQL_TYPE_DATETIME2 (internal)
  Time2 = 0x13, //          MYSQL_TYPE_TIME2 (internal)
  Vector = 0xf2, //         MYSQL_TYPE_VECTOR (MySQL 9)
  Json = 0xf5, //           MYSQL_TYPE_JSON
  NewDecimal = 0xf6, //     MYSQL_TYPE_NEWDECIMAL
  Enum = 0xf7, //           MYSQL_TYPE_ENUM
  Set = 0xf8, //            MYSQL_TYPE_SET
  TinyBlob = 0xf9, //       MYSQL_TYPE_TINY_BLOB
  MediumBlob = 0xfa, //     MYSQL_TYPE_MEDIUM_BLOB
  LongBlob = 0xfb, //       MYSQL_TYPE_LONG_BLOB
  Blob = 0xfc, //           MYSQL_TYPE_BLOB
  VarString = 0xfd, //      MYSQL_TYPE_VAR_STRING
  String = 0xfe, //         MYSQL_TYPE_STRING
  Geometry = 0xff, //       MYSQL_TYPE_GEOMETRY
}

/** Column definition flags. */
export const enum ColumnFlag {
  NotNull = 0x0001, //        NOT_NULL_FLAG
  PriKey = 0x0002, //         PRI_KEY_FLAG
  UniqueKey = 0x0004, //      UNIQUE_KEY_FLAG
  MultipleKey = 0x0008, //    MULTIPLE_KEY_FLAG
  Blob = 0x0010, //           BLOB_FLAG
  Unsigned = 0x0020, //       UNSIGNED_FLAG
  Zerofill = 0x0040, //       ZEROFILL_FLAG
  Binary = 0x0080, //         BINARY_FLAG
  Enum = 0x0100, //           ENUM_FLAG
  AutoIncrement = 0x0200, //  AUTO_INCREMENT_FLAG
  Timestamp = 0x0400, //      TIMESTAMP_FLAG
  Set = 0x0800, //            SET_FLAG
  NoDefaultValue = 0x1000, // NO_DEFAULT_VALUE_FLAG
  OnUpdateNow = 0x2000, //    ON_UPDATE_NOW_FLAG
  Num = 0x8000, //            NUM_FLAG
}

/** Collation ids the gateway uses. */
export const enum Charset {
  Latin1SwedishCi = 8, //     latin1_swedish_ci
  Utf8GeneralCi = 33, //      utf8mb3_general_ci
  Utf8mb4GeneralCi = 45, //   utf8mb4_general_ci (MariaDB default)
  Binary = 63, //             binary
  Utf8mb4_0900AiCi = 255, //  utf8mb4_0900_ai_ci (MySQL 8 default)
}

/** The high byte of a parameter's 2-byte type in COM_STMT_EXECUTE: unsigned. */
export const PARAM_UNSIGNED = 0x80;

/** Authentication plugin names. */
export const AuthPlugin = {
  NativePassword: 'mysql_native_password',
  CachingSha2Password: 'caching_sha2_password',
  Sha256Password: 'sha256_password',
  ClearPassword: 'mysql_clear_password',
  Ed25519: 'client_ed25519',
} as const;

/** caching_sha2_password AuthMoreData status bytes. */
export const enum CachingSha2 {
  /** Client → server: "send me your RSA public key". */
  RequestPublicKey = 0x02,
  /** Server → client: the fast-auth scramble matched the cache. */
  FastAuthSuccess = 0x03,
  /** Server → client: fall back to full authentication. */
  PerformFullAuthentication = 0x04,
}
