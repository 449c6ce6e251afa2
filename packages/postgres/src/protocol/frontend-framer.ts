import { FrontendCode, Limits } from './codes.js';
import { FramedMessage, Framer, framerMaxLength, type FramerOptions } from './framer.js';
import type { StartupPacket } from './startup.js';

export interface FrontendFramerOptions extends FramerOptions {
  /** Start in the startup phase (default true); false frames regular messages from the first byte. */
  startup?: boolean;
}

/** What FrontendFramer yields: startup-phase packets (parsed) or regular messages (framed). */
export type FrontendItem = StartupPacket | FramedMessage;

/** Tells a startup-phase packet from a regular message. */
export function isStartupPacket(item: FrontendItem): item is StartupPacket {
  return !(item instanceof FramedMessage);
}

/**
 * Per-type length limits, as PostgreSQL applies them before reading a body:
 * large for Query/Parse/Bind/CopyData/FunctionCall, 64 KiB for authentication
 * messages, 10000 bytes for the rest. Unknown types are refused (0).
 */
function frontendLimits(max: number): Int32Array {
  const t = new Int32Array(256);
  const small = Math.min(max, Limits.SmallMessage);
  const auth = Math.min(max, Limits.AuthMessage);
  for (const c of [FrontendCode.Query, FrontendCode.Parse, FrontendCode.Bind, FrontendCode.CopyData, FrontendCode.FunctionCall]) {
    t[c] = max;
  }
  for (const c of [
    FrontendCode.Sync,
    FrontendCode.Flush,
    FrontendCode.Close,
    FrontendCode.Describe,
    FrontendCode.Execute,
    FrontendCode.Terminate,
    FrontendCode.CopyDone,
    FrontendCode.CopyFail,
  ]) {
    t[c] = small;
  }
  t[FrontendCode.Password] = auth;
  return t;
}

/**
 * Frames what a client sends. Starts in the startup phase, where packets have
 * no type byte and are parsed here (SSLRequest, GSSENCRequest, CancelRequest,
 * StartupMessage); switches to regular framing by itself after a
 * StartupMessage (nothing else can follow one), or when told (`startupDone()`).
 *
 * Keep one framer across a TLS upgrade (push the decrypted bytes into it): it
 * then also refuses a second SSLRequest. Bytes behind an SSLRequest or
 * GSSENCRequest in the same chunk are refused (the client must wait for the
 * answer), as is anything after a CancelRequest.
 *
 * Regular messages of an unknown type, or longer than PostgreSQL accepts for
 * their type (see `maxMessageLength`), are refused as soon as their 5-byte
 * header arrives.
 */
export class FrontendFramer extends Framer {
  constructor(options?: FrontendFramerOptions) {
    super(options?.startup ?? true, frontendLimits(framerMaxLength(options)));
  }

  /** Frames one chunk; returns the packets/messages it completed (pass `out` to reuse an array). */
  push(chunk: Buffer, out: FrontendItem[] = []): FrontendItem[] {
    this.pushAny(chunk, out);
    return out;
  }

  /** Leaves the startup phase: from now on every message has a type byte. */
  startupDone(): void {
    this.enterRegular();
  }
}
