/**
 * How a container's output travels on one connection (Engine API "Stream format", moby's pkg/stdcopy),
 * both ways: the daemon frames it (frame, outputWriter), the client takes it apart (splitFrames). Without a terminal,
 * stdout and stderr as Docker's stdcopy frames: an 8-byte header — the stream (0 stdin, 1 stdout,
 * 2 stderr), three zero bytes, the payload's length as a big-endian uint32 — then the payload. With a
 * terminal there is one stream only (the pty merges them), sent raw.
 */
import type { Writable } from 'node:stream';

/** A container's two output streams. */
export type StreamName = 'stdout' | 'stderr';

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

const STREAM_NUMBER: Record<StreamName, number> = { stdout: 1, stderr: 2 };
/** The header's first byte → the stream (0 is stdin, which a container never sends back). */
export const STREAM_OF_BYTE: Record<number, StreamName | undefined> = { 1: 'stdout', 2: 'stderr' };
export const FRAME_HEADER_BYTES = 8;

export interface Frame {
  stream: StreamName;
  payload: Buffer;
}

/** One stdcopy frame. */
export function frame(stream: StreamName, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = STREAM_NUMBER[stream];
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** Writes a container's output the way the client expects it: framed, or raw for a terminal. */
export function outputWriter(output: Writable, tty: boolean, wanted: Record<StreamName, boolean>) {
  return (stream: StreamName, chunk: Buffer) => {
    if (!wanted[stream] || !output.writable || !chunk.length) return;
    output.write(tty ? chunk : frame(stream, chunk));
  };
}


/** Not a multiplexed stream: the byte where a frame's header should start names no stream. */
export class StreamFormatError extends Error {
  override name = 'StreamFormatError';
}

/**
 * The whole frames at the start of `data`, and what is left of an unfinished one (to be completed by
 * the next chunk). A socket hands data over in chunks of any size: one chunk may hold three frames, or
 * half a header.
 */
export function splitFrames(data: Buffer): { frames: Frame[]; rest: Buffer } {
  // EXERCISE(api.demux): Read frames from the start of data while a whole one is there: the header is FRAME_HEADER_BYTES long, byte 0 names the stream (STREAM_OF_BYTE; any other byte throws a StreamFormatError), bytes 4–7 are the payload's length as a big-endian uint32, and the payload follows. Return the frames in order and the rest: the bytes of an unfinished header or payload at the end.
  // HINT: A loop over an offset: stop when fewer than 8 bytes are left, or when the payload's end (offset + 8 + length) lies beyond data.length.
  // HINT: data.readUInt32BE(offset + 4) reads the length; subarray(start, end) shares the bytes instead of copying them.
  // HINT: A zero-length payload is a frame too.
  const frames: Frame[] = [];
  let offset = 0;
  while (data.length - offset >= FRAME_HEADER_BYTES) {
    const stream = STREAM_OF_BYTE[data[offset]!];
    if (!stream) throw new StreamFormatError(`not a multiplexed stream: a frame header starts with byte ${data[offset]} (1 is stdout, 2 stderr)`);
    const end = offset + FRAME_HEADER_BYTES + data.readUInt32BE(offset + 4);
    if (end > data.length) break;
    frames.push({ stream, payload: data.subarray(offset + FRAME_HEADER_BYTES, end) });
    offset = end;
  }
  return { frames, rest: data.subarray(offset) };
  // END EXERCISE
}

/** A demultiplexer for a stream of chunks: each whole frame's payload goes to its stream's callback. */
export function demultiplexer(onFrame: (frame: Frame) => void): { push(chunk: Buffer): void; pending(): number } {
  let rest = Buffer.alloc(0);
  return {
    push(chunk) {
      const { frames, rest: left } = splitFrames(rest.length ? Buffer.concat([rest, chunk]) : chunk);
      rest = Buffer.from(left); // a copy: the chunk's memory is not kept alive by a few bytes
      for (const found of frames) onFrame(found);
    },
    /** Bytes of an unfinished frame: at the end of the stream, a sign that the connection was cut. */
    pending: () => rest.length,
  };
}
