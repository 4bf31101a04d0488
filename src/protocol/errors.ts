/**
 * Typed errors of the wire protocol and of links (DESIGN §4, §5). One class per condition; code
 * branches on `err.name` (or `instanceof`), never on the message text.
 *
 * Everything the decoder can throw on bad input is a {@link ProtocolError}; the link closes the
 * connection with it and the process keeps running.
 */
import type { ErrorCode } from './messages.ts';

/** Base of every error caused by bytes that are not a valid frame or message. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
  /** Where in the message the problem is, e.g. `search-result.tracks[3].title`, when known. */
  field?: string;

  constructor(message: string, options?: { field?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.field !== undefined) this.field = options.field;
  }
}

/** A frame's length prefix exceeds the limit (`config.maxFrameBytes`); checked before buffering. */
export class FrameTooLargeError extends ProtocolError {
  override name = 'FrameTooLargeError';
  constructor(
    /** The length the frame claims, bytes. */
    readonly length: number,
    /** The limit, bytes. */
    readonly limit: number,
  ) {
    super(`frame of ${length} bytes exceeds the limit of ${limit} bytes`);
  }
}

/** A frame whose header is impossible (length shorter than the header, unknown priority class). */
export class MalformedFrameError extends ProtocolError {
  override name = 'MalformedFrameError';
}

/** The payload ended before a field did (a read past the end of the buffer). */
export class TruncatedError extends ProtocolError {
  override name = 'TruncatedError';
}

/** The payload has bytes left over after the last field of its message. */
export class TrailingBytesError extends ProtocolError {
  override name = 'TrailingBytesError';
}

/** The frame's message type id is not in the type table. */
export class UnknownMessageTypeError extends ProtocolError {
  override name = 'UnknownMessageTypeError';
  constructor(readonly typeId: number) {
    super(`unknown message type id ${typeId}`);
  }
}

/**
 * A field has a value the protocol does not allow: an unknown enum value, a string or array over
 * its bound, an integer out of range, invalid UTF-8, a non-canonical varint. Also thrown when
 * encoding a message whose fields are out of range.
 */
export class InvalidFieldError extends ProtocolError {
  override name = 'InvalidFieldError';
}

/** The remote side answered a request with an `error` message. */
export class RemoteError extends Error {
  override name = 'RemoteError';
  constructor(
    /** The reason code from the `error` message; branch on this. */
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The link closed (orderly or not) while a request was pending, or a send was tried after close. */
export class LinkClosedError extends Error {
  override name = 'LinkClosedError';
}

/** A request got no answer within its timeout. */
export class RequestTimeoutError extends Error {
  override name = 'RequestTimeoutError';
}

/** The peer was silent for longer than `config.linkTimeoutMs`; the link was closed. */
export class LinkTimeoutError extends Error {
  override name = 'LinkTimeoutError';
}

/** A TLS connection could not be set up within its timeout. */
export class ConnectTimeoutError extends Error {
  override name = 'ConnectTimeoutError';
}

/** The server's certificate is not the pinned one; the connection was dropped before any data. */
export class FingerprintMismatchError extends Error {
  override name = 'FingerprintMismatchError';
  constructor(
    /** The pinned fingerprint (lowercase hex SHA-256 of the DER certificate). */
    readonly expected: string,
    /** The fingerprint the server presented. */
    readonly actual: string,
  ) {
    super(`server certificate fingerprint ${actual} does not match the pinned ${expected}`);
  }
}

/** A server address string (`host:port#fingerprint`) that cannot be parsed. */
export class InvalidAddressError extends Error {
  override name = 'InvalidAddressError';
}

/** The TLS identity on disk is unusable (key and certificate do not match, unreadable PEM). */
export class IdentityError extends Error {
  override name = 'IdentityError';
}
