/**
 * The bundles (src/build/bundle.ts, src/build/fresh.js): minidocker's is split into a small entry and
 * chunks. A split build is published chunks first, chunks no build uses any more are pruned (not the
 * ones of the last minutes: a process may still be about to load them), and a bundle whose chunk has
 * gone is stale. Built into a workshop folder of the test's own, as `--mine` does.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, bundlePath, REPO_ROOT } from '../../src/build/bundle.js';
import { isStale } from '../../src/build/fresh.js';

const workshop = mkdtempSync(path.join(tmpdir(), 'bundle-'));
const target = { workshop };
const chunksOf = (output: string): string[] => JSON.parse(readFileSync(`${output}.inputs.json`, 'utf8')).chunks;

describe('a split bundle (minidocker)', () => {
  let output: string;
  beforeAll(async () => {
    mkdirSync(path.join(workshop, 'lessons')); // the student's lessons: none changed, so the reference ones
    output = await buildBundle('minidocker', target);
  }, 120_000);
  afterAll(() => rmSync(workshop, { recursive: true, force: true }));

  it('is an entry that imports its chunks, which are all there, and it is fresh', () => {
    expect(output).toBe(bundlePath('minidocker', target));
    const chunks = chunksOf(output);
    expect(chunks.length).toBeGreaterThanOrEqual(2); // what the entry needs first, and the commands
    for (const chunk of chunks) expect(existsSync(path.join(path.dirname(output), chunk))).toBe(true);
    const imported = [...readFileSync(output, 'utf8').matchAll(/(?:from |import\()"\.\/(chunks\/[^"]+)"/g)].map((match) => match[1]);
    expect(imported.length).toBeGreaterThanOrEqual(2);
    for (const chunk of imported) expect(chunks).toContain(chunk);
    expect(isStale(output, REPO_ROOT)).toBe(false);
  });

  it('is stale once one of its chunks is missing', () => {
    const chunk = path.join(path.dirname(output), chunksOf(output)[0]!);
    const text = readFileSync(chunk);
    rmSync(chunk);
    try {
      expect(isStale(output, REPO_ROOT)).toBe(true);
    } finally {
      writeFileSync(chunk, text);
    }
  });

  it('a rebuild prunes the chunks nothing uses, but not the recent ones', async () => {
    const chunkDir = path.join(path.dirname(output), 'chunks');
    const old = path.join(chunkDir, 'chunk-OLD.js');
    const recent = path.join(chunkDir, 'chunk-RECENT.js');
    writeFileSync(old, '');
    writeFileSync(recent, '');
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(old, hourAgo, hourAgo);
    await buildBundle('minidocker', target);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(recent)).toBe(true);
    for (const chunk of chunksOf(output)) expect(existsSync(path.join(path.dirname(output), chunk))).toBe(true);
    expect(isStale(output, REPO_ROOT)).toBe(false);
  }, 120_000);
});
