/**
 * Framing of the one wire protocol (DESIGN §4), shared by AP and peer links:
 *
 * ```
 * u32 BE  length of the rest of the frame (6 + payload bytes)
 * u8      message type id (codec.ts MESSAGE_TYPE_IDS)
 * u8      priority class (0 interactive, 1 bulk)
 * u32 BE  request id (0: not part of a request)
 * ...     payload (codec.ts)
 * ```
 *
 * Bulk data is framed one chunk (`config.chunkSize`, 16 kB) per frame, so an interactive frame
 * waits at most for the bulk frame being written, never for megabytes of audio.
 *
 * {@link FrameDecoder} is pure (no I/O): bytes in, frames out.
 */
import {
  decodeMessage,
  encodeChunkHeadInto,
  encodeMessageInto,
  preencodeChunkHead,
  preencodeMessage,
  typeIdOf,
  type State,
} from './codec.ts';
import { FrameTooLargeError, MalformedFrameError } from './errors.ts';
import { Priority, priorityOf, type Message } from './messages.ts';

/** Bytes of a frame before its payload: length, type id, priority, request id. */
export const FRAME_HEADER_BYTES = 10;

/** Smallest value of the length prefix: type id, priority and request id. */
const MIN_FRAME_LENGTH = FRAME_HEADER_BYTES - 4;

/** Largest request id (u32). */
export const MAX_REQUEST_ID = 0xffffffff;

/** One decoded frame. */
export interface Frame {
  /** Request id the frame belongs to; 0 when it is not part of a request. */
  requestId: number;
  /** Priority class the sender gave the frame. */
  priority: Priority;
  message: Message;
}

/** Options of {@link encodeFrame}. */
export interface EncodeFrameOptions {
  /** Priority class; defaults to {@link priorityOf} the message. */
  priority?: Priority;
  /** Refuse (FrameTooLargeError) a frame whose length prefix would exceed this. @default no limit */
  maxFrameBytes?: number;
}

/**
 * Encodes `msg` as one frame with request id `requestId`. Throws InvalidFieldError for a
 * message that cannot be encoded, FrameTooLargeError above `options.maxFrameBytes`.
 */
export function encodeFrame(msg: Message, requestId = 0, options: EncodeFrameOptions = {}): Uint8Array {
  checkRequestId(requestId);
  const state: State = { start: FRAME_HEADER_BYTES, end: FRAME_HEADER_BYTES, buffer: EMPTY };
  preencodeMessage(state, msg);
  const buf = allocFrame(state, state.end - 4, msg, requestId, options);
  encodeMessageInto(state, msg);
  return buf;
}

/** Chunks with at least this much data are framed without copying it ({@link encodeFrameParts}). */
const ZERO_COPY_MIN_BYTES = 1024;

/**
 * Like {@link encodeFrame}, but returns the frame as consecutive parts to be written in order.
 * A `chunk`'s audio is not copied: the last part is `chunk.data` itself, so the caller must not
 * change that buffer until the frame is written. Other messages come back as one part.
 */
export function encodeFrameParts(msg: Message, requestId = 0, options: EncodeFrameOptions = {}): Uint8Array[] {
  if (msg.type !== 'chunk' || !(msg.data instanceof Uint8Array) || msg.data.byteLength < ZERO_COPY_MIN_BYTES) {
    return [encodeFrame(msg, requestId, options)];
  }
  checkRequestId(requestId);
  const state: State = { start: FRAME_HEADER_BYTES, end: FRAME_HEADER_BYTES, buffer: EMPTY };
  preencodeChunkHead(state, msg);
  const head = allocFrame(state, state.end - 4 + msg.data.byteLength, msg, requestId, options);
  encodeChunkHeadInto(state, msg);
  return [head, msg.data];
}

function checkRequestId(requestId: number): void {
  if (!Number.isInteger(requestId) || requestId < 0 || requestId > MAX_REQUEST_ID) {
    throw new RangeError(`request id ${requestId} is not a u32`);
  }
}

/** Allocates `state.end` bytes, writes the frame header into them and points `state` at them. */
function allocFrame(state: State, length: number, msg: Message, requestId: number, options: EncodeFrameOptions): Buffer {
  if (options.maxFrameBytes !== undefined && length > options.maxFrameBytes) {
    throw new FrameTooLargeError(length, options.maxFrameBytes);
  }
  const buf = Buffer.allocUnsafe(state.end);
  buf.writeUInt32BE(length, 0);
  buf[4] = typeIdOf(msg.type);
  buf[5] = options.priority ?? priorityOf(msg);
  buf.writeUInt32BE(requestId, 6);
  state.buffer = buf;
  return buf;
}

const EMPTY = new Uint8Array(0);

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest accepted length prefix, bytes (`config.maxFrameBytes`). */
  maxFrameBytes: number;
}

/**
 * Incremental frame decoder: `push` the bytes as they arrive, get the complete frames back.
 *
 * - A frame that lies whole in one pushed buffer is decoded in place: its byte fields are views
 *   into that buffer, so the caller must not reuse the buffer it pushed (socket reads are fresh).
 * - A frame split across pushes is assembled in a buffer of exactly its size, allocated only after
 *   its length prefix passed the limit; nothing else is buffered, so memory stays under one frame.
 * - Bad input throws a ProtocolError subclass (FrameTooLargeError before any of the frame is
 *   buffered). The decoder is then failed: every later `push` throws the same error. Frames decoded
 *   earlier in the same `push` are dropped with it; the link closes anyway.
 */
export class FrameDecoder {
  private readonly maxFrameBytes: number;
  /** Bytes of a length prefix split across pushes. */
  private readonly prefix = new Uint8Array(4);
  private prefixFilled = 0;
  /** The frame being assembled (without its length prefix), and how much of it is filled. */
  private partial: Uint8Array | null = null;
  private partialFilled = 0;
  private failure: Error | null = null;

  constructor(options: FrameDecoderOptions) {
    this.maxFrameBytes = options.maxFrameBytes;
  }

  /** Bytes held for an incomplete frame, length prefix included. */
  get bufferedBytes(): number {
    return this.partial === null ? this.prefixFilled : 4 + this.partialFilled;
  }

  /** Decodes every frame completed by `bytes`. Throws a ProtocolError on malformed input. */
  push(bytes: Uint8Array): Frame[] {
    if (this.failure) throw this.failure;
    try {
      return this.consume(bytes);
    } catch (err) {
      this.failure = err as Error;
      this.partial = null;
      throw err;
    }
  }

  private consume(bytes: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    const end = bytes.byteLength;
    let off = 0;
    while (off < end) {
      if (this.partial !== null) {
        const n = Math.min(this.partial.byteLength - this.partialFilled, end - off);
        this.partial.set(bytes.subarray(off, off + n), this.partialFilled);
        this.partialFilled += n;
        off += n;
        if (this.partialFilled === this.partial.byteLength) {
          const body = this.partial;
          this.partial = null;
          this.partialFilled = 0;
          frames.push(parseBody(body));
        }
        continue;
      }
      let length: number;
      if (this.prefixFilled === 0 && end - off >= 4) {
        length = readU32BE(bytes, off);
        off += 4;
      } else {
        const n = Math.min(4 - this.prefixFilled, end - off);
        this.prefix.set(bytes.subarray(off, off + n), this.prefixFilled);
        this.prefixFilled += n;
        off += n;
        if (this.prefixFilled < 4) break;
        this.prefixFilled = 0;
        length = readU32BE(this.prefix, 0);
      }
      if (length > this.maxFrameBytes) throw new FrameTooLargeError(length, this.maxFrameBytes);
      if (length < MIN_FRAME_LENGTH) {
        throw new MalformedFrameError(`frame length ${length} is shorter than the ${MIN_FRAME_LENGTH}-byte header`);
      }
      if (end - off >= length) {
        frames.push(parseBody(bytes.subarray(off, off + length)));
        off += length;
      } else {
        this.partial = Buffer.allocUnsafe(length);
        this.partialFilled = 0;
      }
    }
    return frames;
  }
}

function readU32BE(b: Uint8Array, s: number): number {
  return ((b[s]! << 24) | (b[s + 1]! << 16) | (b[s + 2]! << 8) | b[s + 3]!) >>> 0;
}

/** Decodes a frame without its length prefix. */
function parseBody(body: Uint8Array): Frame {
  const typeId = body[0]!;
  const priority = body[1]!;
  if (priority !== Priority.Interactive && priority !== Priority.Bulk) {
    throw new MalformedFrameError(`unknown priority class ${priority}`);
  }
  const requestId = readU32BE(body, 2);
  const message = decodeMessage(typeId, body.subarray(MIN_FRAME_LENGTH));
  return { requestId, priority, message };
}
