/**
 * JSON as the lab writes it: one message per line on a pipe or socket ("JSON lines": how runtime,
 * monitor and init talk, see src/container/protocol.ts), and whole files written atomically and
 * checked when read back.
 */
import { readFileSync, readSync, renameSync, writeFileSync, writeSync } from 'node:fs';

/** One message as one line. */
export function jsonLine(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}

/** Writes one line with blocking writes: a process about to exit must not lose its last words. */
export function writeJsonLineSync(fd: number, message: unknown): void {
  const bytes = Buffer.from(jsonLine(message));
  for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
}

/** Splits a stream of chunks into parsed messages (the asynchronous side: runtime, monitor, clients). */
export function onJsonLines<T>(stream: NodeJS.ReadableStream, handle: (message: T) => void): void {
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

/**
 * A blocking line reader, for a process that must stay on its main thread and so cannot wait for data
 * the asynchronous way (the container's init, see src/container/init.ts).
 */
export class SyncJsonLineReader {
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

/**
 * Writes a JSON file so that a reader sees the old content or the new, never half of it: a temporary
 * file in the same folder, then rename(2), which replaces the name in one step.
 */
export function writeJsonFile(file: string, value: unknown): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(temporary, file);
}

/** A JSON file that is not what it should be: says which file and what is wrong with it. */
export class BadJsonFileError extends Error {
  override name = 'BadJsonFileError';
}

/**
 * Reads a JSON file and checks it with `check`, which returns the value typed or throws with what is
 * wrong. State files are read by later commands, possibly of another version, or after a crash: a
 * broken one must say so in one line, not surface later as "cannot read property of undefined".
 * Returns null when the file does not exist.
 */
export function readJsonFile<T>(file: string, check: (value: unknown) => T): T | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BadJsonFileError(`${file} is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  try {
    return check(value);
  } catch (error) {
    throw new BadJsonFileError(`${file}: ${(error as Error).message}`, { cause: error });
  }
}
