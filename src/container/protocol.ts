/**
 * The messages runtime, monitor and init exchange, one JSON object per line, over the pipe each
 * process finds as fd 3 (CONTROL_FD). runc has the same conversation over its "sync pipe"
 * (libcontainer/sync.go: procReady, procRun, ...).
 *
 *   runtime ──plan──▶ monitor ──plan──▶ init        (init sets the container up)
 *   runtime ◀─ready── monitor ◀─ready── init        (pid known; cgroups/network can be attached now)
 *   runtime ──start─▶ monitor ──start─▶ init        (init takes the console, if any, and execs the command)
 *   runtime ◀started─ monitor   (init's end of the pipe closed on exec: the command is running)
 *   runtime ◀──exit── monitor   (the command ended: its code or signal)
 * Any stage may instead answer with `error` and stop.
 */
import { readSync, writeSync } from 'node:fs';
import type { ContainerPlan } from './plan.js';

export const CONTROL_FD = 3;

export type ToInit =
  | { type: 'plan'; plan: ContainerPlan }
  /**
   * console: a pty slave, "/dev/pts/N" as the container sees it, to become the command's controlling
   * terminal and stdin/stdout/stderr (`docker run -t`; see console.ts). The monitor passes it on as is.
   */
  | { type: 'start'; console?: string };

export type FromInit =
  | { type: 'ready'; pid: number }
  | { type: 'started' }
  | { type: 'exit'; code: number | null; signal: string | null }
  /** exitCode follows Docker: 125 set-up failed, 126 cannot execute, 127 not found. */
  | { type: 'error'; message: string; exitCode: number };

/** Writes one message with a blocking write: init and monitor must not lose their last words. */
export function sendSync(fd: number, message: ToInit | FromInit): void {
  const bytes = Buffer.from(`${JSON.stringify(message)}\n`);
  for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
}

/**
 * A blocking line reader for init, which must stay on its main thread (see init.ts) and so cannot
 * wait for data the asynchronous way.
 */
export class SyncLineReader {
  private buffered = '';
  constructor(private readonly fd: number) {}

  /** The next message, or null at end of file (the other side went away). */
  next<T>(): T | null {
    const chunk = Buffer.alloc(65536);
    while (!this.buffered.includes('\n')) {
      let count: number;
      try {
        count = readSync(this.fd, chunk, 0, chunk.length, null);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        throw error;
      }
      if (count === 0) return null;
      this.buffered += chunk.toString('utf8', 0, count);
    }
    const newline = this.buffered.indexOf('\n');
    const line = this.buffered.slice(0, newline);
    this.buffered = this.buffered.slice(newline + 1);
    return JSON.parse(line) as T;
  }
}

/** Splits a stream of chunks into parsed messages (for the asynchronous side: runtime and monitor). */
export function onMessages<T>(stream: NodeJS.ReadableStream, handle: (message: T) => void): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim()) handle(JSON.parse(line) as T);
    }
  });
}
