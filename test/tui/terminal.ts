/**
 * A terminal of a given size for rendering the real App in tests: Ink draws every frame into it
 * (debug mode: each frame whole, never as cursor movements), the App reads its columns and rows,
 * and resize() changes them the way a window resize does (SIGWINCH → the stream's 'resize').
 */
import { EventEmitter } from 'node:events';
import { stripVTControlCharacters } from 'node:util';
import type { ReactElement } from 'react';
import { render, type Instance } from 'ink';

class FakeStdout extends EventEmitter {
  frames: string[] = [];
  constructor(
    public columns: number,
    public rows: number,
  ) {
    super();
  }
  write = (frame: string) => {
    this.frames.push(frame);
    return true;
  };
}

/** Keys as a terminal sends them; the shape Ink reads (as in ink-testing-library). */
export class FakeStdin extends EventEmitter {
  isTTY = true;
  /** How often the reader paused it: a shell that takes the terminal over pauses Ink's input. */
  paused = 0;
  private data: string | null = null;
  write(data: string) {
    this.data = data;
    this.emit('readable');
  }
  read = () => {
    const data = this.data;
    this.data = null;
    return data;
  };
  setEncoding() {}
  setRawMode() {}
  ref() {}
  unref() {}
  resume() {}
  pause() {
    this.paused++;
  }
}

export interface TestTerminal {
  ink: Instance;
  /** The last frame drawn, as plain text (no colours). */
  frame(): string;
  /** Types keys one write at a time, with a pause so Ink takes them apart. */
  press(...keys: string[]): Promise<void>;
  resize(columns: number, rows: number): void;
}

export function renderIn(element: ReactElement, columns: number, rows: number): TestTerminal {
  const stdout = new FakeStdout(columns, rows);
  const stdin = new FakeStdin();
  const ink = render(element, {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    stderr: new FakeStdout(columns, rows) as unknown as NodeJS.WriteStream,
    debug: true,
    exitOnCtrlC: false,
    patchConsole: false,
  });
  return {
    ink,
    frame: () => stripVTControlCharacters(stdout.frames.findLast((text) => text.trim() !== '') ?? ''),
    async press(...keys) {
      for (const key of keys) {
        stdin.write(key);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    resize(newColumns, newRows) {
      stdout.columns = newColumns;
      stdout.rows = newRows;
      stdout.emit('resize');
    },
  };
}
