/**
 * The pull part of `npm run bench`: a ~100 MB image pulled from a local registry (Debian's docker-registry,
 * started here on 127.0.0.1 with its own storage), by `minidocker pull` and by `skopeo copy` into an OCI
 * layout — interleaved, each round into a fresh folder, so both start cold and a busy machine slows both.
 *
 * Time is wall time from spawn to exit. Peak memory is the process's VmHWM (its resident high-water mark,
 * /proc/PID/status), read every 10 ms while it runs: the last reading before exit. The two do not do the
 * same work: minidocker also extracts every layer (and keeps the blob), skopeo only writes the blobs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { findProgram } from '../sys/programs.js';

export interface PullSample {
  ms: number;
  peakKiB: number;
}

export interface PullBench {
  minidocker: PullSample[];
  skopeo: PullSample[];
  imageBytes: number;
}

/** Why the pull bench cannot run here, or null. */
export function pullBenchUnavailable(): string | null {
  const missing = ['docker-registry', 'skopeo'].filter((tool) => !findProgram(tool));
  return missing.length ? `not installed (apt install ${missing.join(' ')})` : null;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function vmHwmKiB(pid: number): number {
  try {
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Runs a command to its end: wall time, and the highest VmHWM seen. */
function measured(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<PullSample> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let peakKiB = 0;
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setInterval(() => (peakKiB = Math.max(peakKiB, vmHwmKiB(child.pid!))), 10);
    child.on('close', (code) => {
      clearInterval(timer);
      const ms = performance.now() - started;
      if (code !== 0) reject(new Error(`${path.basename(command)} ${args.join(' ')} failed (${code}): ${stderr.trim().split('\n').at(-1)}`));
      else resolve({ ms, peakKiB });
    });
  });
}

/** Starts docker-registry on 127.0.0.1; the caller stops it. */
async function startRegistry(dir: string): Promise<{ host: string; child: ChildProcess }> {
  const host = `127.0.0.1:${await freePort()}`;
  writeFileSync(path.join(dir, 'config.yml'), [
    'version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`,
    'http:', `  addr: ${host}`, `  secret: ${randomBytes(16).toString('hex')}`, '',
  ].join('\n'));
  const log = openSync(path.join(dir, 'registry.log'), 'a');
  const child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', log, log] });
  closeSync(log);
  for (let attempt = 0; attempt < 100; attempt++) {
    const up = await new Promise<boolean>((resolve) => {
      http.get(`http://${host}/v2/`, (answer) => (answer.resume(), resolve(true))).on('error', () => resolve(false));
    });
    if (up) return { host, child };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`docker-registry did not start: ${readFileSync(path.join(dir, 'registry.log'), 'utf8').trim().split('\n').at(-1)}`);
}

/**
 * Pushes `reference` (from the state folder in `env`) to a fresh local registry, then pulls it `rounds`
 * times with each client in turn.
 */
export async function benchPull(options: {
  cli: string; env: NodeJS.ProcessEnv; workDir: string; reference: string; imageBytes: number; rounds: number;
  /** The bench's progress line (one updating line on a terminal, nothing without one); null ends it. */
  progress: (text: string | null) => void;
}): Promise<PullBench> {
  const dir = mkdtempSync(path.join(options.workDir, 'registry-'));
  const { host, child } = await startRegistry(dir);
  try {
    const remote = `${host}/bench/large:v1`;
    const md = (env: NodeJS.ProcessEnv, ...args: string[]) => {
      const result = spawnSync(process.execPath, [options.cli, ...args], { env, encoding: 'utf8', timeout: 600_000 });
      if (result.status !== 0) throw new Error(`minidocker ${args.join(' ')}: ${result.stderr.trim()}`);
    };
    md(options.env, 'tag', options.reference, remote);
    md(options.env, 'push', remote);
    const results: PullBench = { minidocker: [], skopeo: [], imageBytes: options.imageBytes };
    for (let round = -1; round < options.rounds; round++) {
      // Round -1 warms the page cache (the registry's files) and is not counted.
      const state = mkdtempSync(path.join(options.workDir, 'pull-state-'));
      const layout = mkdtempSync(path.join(options.workDir, 'pull-layout-'));
      try {
        const ours = await measured(process.execPath, [options.cli, 'pull', '-q', remote], { ...options.env, LAB_STATE_DIR: state });
        const theirs = await measured('skopeo', ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${remote}`, `oci:${layout}/image`], options.env);
        if (round >= 0) {
          results.minidocker.push(ours);
          results.skopeo.push(theirs);
        }
      } finally {
        rmSync(state, { recursive: true, force: true });
        rmSync(layout, { recursive: true, force: true });
      }
      options.progress(`bench: pull, round ${round + 2}/${options.rounds + 1}`);
    }
    options.progress(null);
    return results;
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    rmSync(dir, { recursive: true, force: true });
  }
}
