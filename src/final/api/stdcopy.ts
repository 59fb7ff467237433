/**
 * How a container's output travels on one connection (Engine API "Stream format"). Without a terminal,
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

