/**
 * Message type bytes and magic numbers of the PostgreSQL frontend/backend
 * protocol (versions 3.0 and 3.2). Const enums: they vanish at compile time.
 */

/** Client → server message types. */
export const enum FrontendCode {
  Bind = 0x42, //            'B'
  Close = 0x43, //           'C'
  Describe = 0x44, //        'D'
  Execute = 0x45, //         'E'
  FunctionCall = 0x46, //    'F'
  Flush = 0x48, //           'H'
  Parse = 0x50, //           'P'
  Query = 0x51, //           'Q'
  Sync = 0x53, //            'S'
  Terminate = 0x58, //       'X'
  CopyDone = 0x63, //        'c'
  CopyData = 0x64, //        'd'
  CopyFail = 0x66, //        'f'
  /** PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse share 'p'. */
  Password = 0x70, //        'p'
}

/** Server → client message types. */
export const enum BackendCode {
  ParseComplete = 0x31, //            '1'
  BindComplete = 0x32, //             '2'
  CloseComplete = 0x33, //            '3'
  NotificationResponse = 0x41, //     'A'
  CommandComplete = 0x43, //          'C'
  DataRow = 0x44, //                  'D'
  ErrorResponse = 0x45, //            'E'
  CopyInResponse = 0x47, //           'G'
  CopyOutResponse = 0x48, //          'H'
  EmptyQueryResponse = 0x49, //       'I'
  BackendKeyData = 0x4b, //           'K'
  NoticeResponse = 0x4e, //           'N'
  Authentication = 0x52, //           'R'
  ParameterStatus = 0x53, //          'S'
  RowDescription = 0x54, //           'T'
  FunctionCallResponse = 0x56, //     'V'
  CopyBothResponse = 0x57, //         'W'
  ReadyForQuery = 0x5a, //            'Z'
  CopyDone = 0x63, //                 'c'
  CopyData = 0x64, //                 'd'
  NoData = 0x6e, //                   'n'
  PortalSuspended = 0x73, //          's'
  ParameterDescription = 0x74, //     't'
  NegotiateProtocolVersion = 0x76, // 'v'
}

/** The int32 after the length in a startup-phase packet (no type byte). */
export const enum StartupCode {
  CancelRequest = 80877102, // 1234.5678
  SSLRequest = 80877103, //    1234.5679
  GSSENCRequest = 80877104, // 1234.5680
}

/** Protocol versions: major in the high 16 bits, minor in the low 16. */
export const enum ProtocolVersion {
  V3_0 = 196608, // 3.0
  V3_2 = 196610, // 3.2: variable-length cancel keys
  /** The newest minor this codec understands for major 3. */
  LatestMinor = 2,
}

/** Subtypes of an Authentication ('R') message. */
export const enum AuthCode {
  Ok = 0,
  KerberosV5 = 2,
  CleartextPassword = 3,
  MD5Password = 5,
  GSS = 7,
  GSSContinue = 8,
  SSPI = 9,
  SASL = 10,
  SASLContinue = 11,
  SASLFinal = 12,
}

/** Field codes of ErrorResponse / NoticeResponse. */
export const enum ErrorFieldCode {
  Severity = 0x53, //         'S' (localized)
  SeverityV = 0x56, //        'V' (never localized)
  Code = 0x43, //             'C' SQLSTATE
  Message = 0x4d, //          'M'
  Detail = 0x44, //           'D'
  Hint = 0x48, //             'H'
  Position = 0x50, //         'P'
  InternalPosition = 0x70, // 'p'
  InternalQuery = 0x71, //    'q'
  Where = 0x57, //            'W'
  Schema = 0x73, //           's'
  Table = 0x74, //            't'
  Column = 0x63, //           'c'
  DataType = 0x64, //         'd'
  Constraint = 0x6e, //       'n'
  File = 0x46, //             'F'
  Line = 0x4c, //             'L'
  Routine = 0x52, //          'R'
}

/** ReadyForQuery transaction status bytes. */
export const enum TransactionStatus {
  Idle = 0x49, //          'I'
  InTransaction = 0x54, // 'T'
  Failed = 0x45, //        'E'
}

/** Limits, as PostgreSQL itself applies them. */
export const enum Limits {
  /** Max body (after the length word) of a startup packet: MAX_STARTUP_PACKET_LENGTH. */
  StartupBody = 10000,
  /** PQ_SMALL_MESSAGE_LIMIT: Sync, Flush, Close, Describe, Execute, Terminate, CopyDone, CopyFail. */
  SmallMessage = 10000,
  /** PG_MAX_AUTH_TOKEN_LENGTH: password / SASL / GSS messages. */
  AuthMessage = 65535,
  /** PQ_LARGE_MESSAGE_LIMIT = MaxAllocSize - 1 (1 GiB - 1): Query, Parse, Bind, CopyData, FunctionCall. */
  LargeMessage = 0x3fffffff,
  /** Cancel keys in protocol 3.2: 4 to 256 bytes. */
  MinCancelKey = 4,
  MaxCancelKey = 256,
}
