/**
 * The API's logs, without containers: the json-file log's lines per stream, read back whole, and the
 * tail of a raw log.
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lastLines } from '../../src/final/api/attach.js';
import { JsonLogWriter, parseTimeBound, readEntries } from '../../src/final/api/json-log.js';
import { frame } from '../../lessons/09-api/frames.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('the json-file log', () => {
  it('keeps each stream’s lines apart, a line split across chunks whole, the open end at the end', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'api-logs-'));
    dirs.push(dir);
    const file = path.join(dir, 'container-json.log');
    const writer = new JsonLogWriter(file);
    writer.write('stdout', Buffer.from('one\ntw'));
    writer.write('stderr', Buffer.from('oops\n'));
    writer.write('stdout', Buffer.from('o\nthree'));
    expect(readEntries(file, 0).entries.map(({ stream, log }) => [stream, log])).toEqual([['stdout', 'one\n'], ['stderr', 'oops\n'], ['stdout', 'two\n']]);
    writer.end();
    const { entries, end } = readEntries(file, 0);
    expect(entries.at(-1)).toMatchObject({ stream: 'stdout', log: 'three' });
    expect(Number.isNaN(Date.parse(entries[0]!.time))).toBe(false);
    // A line half written (a crash, or read while being appended) is left for the next read.
    appendFileSync(file, '{"log":"par');
    expect(readEntries(file, end)).toEqual({ entries: [], end });
  });

  it('reads since and until as Unix seconds', () => {
    expect(parseTimeBound(null)).toBeNull();
    expect(parseTimeBound('0')).toBeNull();
    expect(parseTimeBound('1733300000.5')).toBe(1733300000500);
    expect(parseTimeBound('yesterday')).toBeNaN();
  });
});

describe('the raw log and the stream format', () => {
  it('takes the last N lines', () => {
    const log = Buffer.from('a\nb\nc\n');
    expect(lastLines(log, '2').toString()).toBe('b\nc\n');
    expect(lastLines(log, '0').toString()).toBe('');
    expect(lastLines(log, 'all').toString()).toBe('a\nb\nc\n');
    expect(lastLines(log, '10').toString()).toBe('a\nb\nc\n');
    expect(lastLines(Buffer.from('a\nno newline'), '1').toString()).toBe('no newline');
    expect(() => lastLines(log, '-1')).toThrow(/invalid tail/);
  });

  it('frames a chunk as stdcopy does: stream, three zeros, a big-endian length', () => {
    expect([...frame('stderr', Buffer.from('hi'))]).toEqual([2, 0, 0, 0, 0, 0, 0, 2, 0x68, 0x69]);
  });
});
