/**
 * The log of a container whose streams the service holds, kept as Docker's json-file driver keeps it:
 * one JSON object a line, {"log": "hello\n", "stream": "stdout", "time": "2026-12-04T09:44:43.123Z"}.
 * With it `docker logs` gives stdout and stderr apart, and `-t`, `--since`, `--until` work. The raw
 * container.log beside it stays what `minidocker logs` reads. A `-d` container's output never passes
 * through the service (streams.ts), so it has only the raw log.
 */
import { appendFileSync, closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import type { StreamName } from '../../../lessons/09-api/frames.js';

export interface LogEntry {
  log: string;
  stream: StreamName;
  time: string;
}

/** <state>/minidocker/<id>/container-json.log, beside container.log. */
export function jsonLogPath(logPath: string): string {
  return path.join(path.dirname(logPath), 'container-json.log');
}

/** Splits each stream into lines, as json-file does; a line still open when the stream ends is written as it is. */
export class JsonLogWriter {
  private readonly partial: Record<StreamName, string> = { stdout: '', stderr: '' };

  constructor(private readonly file: string) {}

  write(stream: StreamName, chunk: Buffer): void {
    const text = this.partial[stream] + chunk.toString('utf8');
    const lines = text.split(/(?<=\n)/);
    this.partial[stream] = lines.at(-1)!.endsWith('\n') ? '' : lines.pop()!;
    this.append(lines.map((log) => ({ log, stream, time: new Date().toISOString() })));
  }

  end(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream]) this.append([{ log: this.partial[stream], stream, time: new Date().toISOString() }]);
      this.partial[stream] = '';
    }
  }

  private append(entries: LogEntry[]): void {
    if (!entries.length) return;
    try {
      appendFileSync(this.file, entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
    } catch {
      // removed meanwhile (docker rm -f)
    }
  }
}

/** The complete entries from byte `offset` on, and where the last complete one ended. */
export function readEntries(file: string, offset: number): { entries: LogEntry[]; end: number } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { entries: [], end: offset };
  }
  try {
    const bytes = Buffer.alloc(Math.max(0, statSync(file).size - offset));
    let read = 0;
    while (read < bytes.length) {
      const count = readSync(fd, bytes, read, bytes.length - read, offset + read);
      if (count === 0) break;
      read += count;
    }
    const complete = bytes.subarray(0, bytes.lastIndexOf(0x0a, read - 1) + 1);
    const entries = complete.toString('utf8').split('\n').filter(Boolean).flatMap((line) => {
      try {
        return [JSON.parse(line) as LogEntry];
      } catch {
        return []; // a line cut by a crash: skipped, as json-file's reader does
      }
    });
    return { entries, end: offset + complete.length };
  } finally {
    closeSync(fd);
  }
}

/** since/until as the API sends them: Unix seconds, maybe with a fraction ("1733300000.123456789"); 0 or absent: no bound. */
export function parseTimeBound(text: string | null): number | null {
  if (!text || text === '0') return null;
  const seconds = Number(text);
  return Number.isFinite(seconds) ? seconds * 1000 : NaN;
}
