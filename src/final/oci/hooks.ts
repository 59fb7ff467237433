/**
 * config.json's hooks (config.md "POSIX-platform Hooks"): programs the runtime runs at points of the
 * container's lifecycle, each given the container's state (state.json's JSON) on its standard input —
 * how podman wires a network, how the NVIDIA toolkit adds its devices:
 *
 *   prestart, createRuntime   create, once the container exists and waits   a failure fails create
 *   poststart                 start, once the command runs                   a failure is a warning
 *   poststop                  delete, once the container is gone             a failure is a warning
 *
 * They run here, in the runtime's namespaces, as runc runs them. The spec puts prestart and createRuntime
 * before pivot_root; here init has already pivoted when they run (its steps run before it reports
 * ready), which a hook in the runtime's namespaces does not see. createContainer and startContainer
 * run inside the container's namespaces: this runtime does not run those, and refuses them in one line.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { OciConfig, OciHook, OciHookKind } from '../../container/config.js';
import { OciError } from './spec.js';

/** The hooks this runtime runs. */
export const RUNTIME_HOOKS: readonly OciHookKind[] = ['prestart', 'createRuntime', 'poststart', 'poststop'];
const NOT_RUN: readonly OciHookKind[] = ['createContainer', 'startContainer'];

/** Checks config.json's hooks before anything is made: known kinds, absolute paths, sane timeouts. */
export function checkHooks(config: OciConfig): void {
  for (const [kind, hooks] of Object.entries(config.hooks ?? {})) {
    if (NOT_RUN.includes(kind as OciHookKind)) {
      if (hooks?.length) throw new OciError(`hooks.${kind}: not supported (this runtime does not run hooks inside the container's namespaces)`);
      continue;
    }
    if (!RUNTIME_HOOKS.includes(kind as OciHookKind)) throw new OciError(`hooks.${kind}: not a hook this runtime knows (${[...RUNTIME_HOOKS, ...NOT_RUN].join(', ')})`);
    if (!Array.isArray(hooks)) throw new OciError(`hooks.${kind}: must be a list`);
    hooks.forEach((hook, index) => {
      if (typeof hook?.path !== 'string' || !path.isAbsolute(hook.path)) throw new OciError(`hooks.${kind}[${index}].path must be an absolute path`);
      if (hook.timeout !== undefined && !(Number.isInteger(hook.timeout) && hook.timeout > 0)) throw new OciError(`hooks.${kind}[${index}].timeout must be a whole number of seconds above 0`);
    });
  }
}

/** The container's state as the spec's `state` prints it: what each hook reads on its standard input. */
export interface HookState {
  ociVersion: string;
  id: string;
  status: string;
  pid: number;
  bundle: string;
  annotations: Record<string, string>;
}

/**
 * Runs the hooks of one kind, in order, each to its end. A hook that fails (exit status, signal, timeout,
 * not executable) throws, naming it — or, with `onFailure`, is reported there and the next one runs.
 */
export function runHooks(config: OciConfig, kind: OciHookKind, state: HookState, onFailure?: (error: Error) => void): void {
  (config.hooks?.[kind] ?? []).forEach((hook, index) => {
    try {
      runHook(hook, `hooks.${kind}[${index}] ${hook.path}`, state);
    } catch (error) {
      if (!onFailure) throw error;
      onFailure(error as Error);
    }
  });
}

function runHook(hook: OciHook, name: string, state: HookState): void {
  const [argv0 = hook.path, ...args] = hook.args ?? [];
  const result = spawnSync(hook.path, args, {
    argv0,
    // config.md: env "has the same semantics as IEEE Std 1003.1-2008's environ" — the hook's whole environment.
    env: Object.fromEntries((hook.env ?? []).map((entry) => [entry.split('=')[0]!, entry.slice(entry.indexOf('=') + 1)])),
    input: JSON.stringify(state),
    stdio: ['pipe', 'ignore', 'pipe'],
    timeout: hook.timeout ? hook.timeout * 1000 : undefined,
    killSignal: 'SIGKILL',
  });
  const stderr = result.stderr?.toString().trim().split('\n')[0];
  const code = (result.error as NodeJS.ErrnoException | undefined)?.code;
  // A hook that ends without reading the whole state closes the pipe (EPIPE): its exit status still decides
  // (Go's os/exec, which runc uses, ignores EPIPE on stdin for the same reason).
  if (result.error && code !== 'EPIPE') {
    throw new OciError(`${name}: ${code === 'ETIMEDOUT' ? `did not finish within its timeout of ${hook.timeout} s` : code ?? result.error.message}`);
  }
  if (result.signal) throw new OciError(`${name}: killed by ${result.signal}`);
  if (result.status !== 0) throw new OciError(`${name}: exited with status ${result.status}${stderr ? `: ${stderr}` : ''}`);
}
