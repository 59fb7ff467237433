/** Shared by the course machinery's tests: fixture paths, throwaway folders, a child vitest. */
import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repo = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
export const fixtures = path.join(repo, 'test', 'course', 'fixtures');
export const fixtureLessons = path.join(fixtures, 'lessons');
export const gradedFixture = (slug: string): string => path.join(fixtures, 'graded', `${slug}.graded.ts`);

/** Runs `work` in a fresh temp folder, removed afterwards even when `work` throws. */
export async function inTempDir<T>(work: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(realpathSync(os.tmpdir()), 'course-test-'));
  try {
    return await work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A workshop outside the repository still needs what the repository gives one inside it: the packages,
 * and a package.json saying "type": "module" (else TypeScript takes the copies for CommonJS).
 */
export function makeStandalone(workshopDir: string): void {
  symlinkSync(path.join(repo, 'node_modules'), path.join(workshopDir, 'node_modules'), 'dir');
  writeFileSync(path.join(workshopDir, 'package.json'), '{ "private": true, "type": "module" }\n');
}

export const plain = (text: string): string => stripVTControlCharacters(text);

export interface ChildRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Grades `workshopDir` like a student's `npm test` does (gradingConfig), using the fixture graded tests. */
export function runGradingVitest(workshopDir: string, configDir: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<ChildRun> {
  const source = `import { gradingConfig } from ${JSON.stringify(pathToFileURL(path.join(repo, 'src/course/grading-config.ts')).href)};
export default {
  root: ${JSON.stringify(repo)},
  test: gradingConfig({ workshopDir: ${JSON.stringify(workshopDir)}, testFile: (lesson) => ${JSON.stringify(path.join(fixtures, 'graded'))} + '/' + lesson.slug + '.graded.ts' }),
};
`;
  return runVitest(path.join(configDir, 'vitest.config.mjs'), source, extraEnv);
}

/** Runs `vitest run` in a child process with the given config file contents. */
export function runVitest(configFile: string, configSource: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<ChildRun> {
  writeFileSync(configFile, configSource);
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(VITEST|LAB_)/.test(key) && key !== 'NODE_ENV'));
  return runNode([path.join(repo, 'node_modules/vitest/vitest.mjs'), 'run', '--config', configFile], { ...env, NO_COLOR: '1', FORCE_COLOR: '0', ...extraEnv });
}

/** Runs node with `args` from the repository root; resolves with the exit code and the output, colours removed. */
export function runNode(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: plain(stdout), stderr: plain(stderr) }));
  });
}
