/**
 * The command line of `minidocker run`, read the way Docker's does: flags until the image, combined
 * one-letter switches (-dit) taken apart, a value after its flag or joined with "=" — each flag turned
 * into its RunOptions field here, before anything is created.
 */
import { parseLimitFlags } from '../../lessons/04-cgroups/limits.js';
import { parseVolume, type RunOptions } from './docker.js';
import { parseNetworkFlag, parsePublishFlag } from './network.js';
import { splitFlag } from './argv.js';
import { OciError } from './oci/spec.js';
import { addSysctl, applySecurityOpt, capabilityName, parseDevice, parseUlimit, type SecurityOptions } from './security.js';
import { parseIdMapFlag, parseUsernsFlag } from './userns.js';
import type { OciIdMapping } from '../container/config.js';

/** A command line Docker would refuse: exit 125, like every error of the engine's own. */
export class UsageError extends OciError {}

/** Lesson 04's limit flags: collected as typed, parsed once by parseLimitFlags. */
const LIMIT_FLAGS = new Set(['-m', '--memory', '--memory-swap', '--cpus', '--cpu-shares', '--pids-limit']);

/** `-it`, `-dit`: Docker's combined one-letter switches, taken apart (only those that take no value). */
export function splitShortFlags(args: string[], letters: string): string[] {
  const combined = new RegExp(`^-[${letters}]{2,}$`);
  const end = args.findIndex((arg) => !arg.startsWith('-')); // the image or container: flags stop there
  return args.flatMap((arg, index) => ((end < 0 || index < end) && combined.test(arg) ? [...arg.slice(1)].map((letter) => `-${letter}`) : [arg]));
}

export function parseRun(rawArgs: string[]): RunOptions {
  const args = splitShortFlags(rawArgs, 'dit');
  const options: RunOptions = { image: '', args: [], env: [], volumes: [], publish: [] };
  const limits: string[] = [];
  const security: SecurityOptions = {};
  const idMaps: { uid?: OciIdMapping[]; gid?: OciIdMapping[] } = {};
  let i = 0;
  const value = (flag: string) => {
    const next = args[++i];
    if (next === undefined) throw new UsageError(`flag needs an argument: ${flag}`);
    return next;
  };
  for (; i < args.length && args[i]!.startsWith('-'); i++) {
    const [flag, inline] = splitFlag(args[i]!);
    const flagValue = () => inline ?? value(flag);
    switch (flag) {
      case '--rm': options.autoRemove = true; break;
      case '-i': case '--interactive': options.interactive = true; break;
      case '-t': case '--tty': options.tty = true; break;
      case '-d': case '--detach': options.detach = true; break;
      case '--name': options.name = flagValue(); break;
      case '-h': case '--hostname': options.hostname = flagValue(); break;
      case '-e': case '--env': options.env!.push(flagValue()); break;
      case '-w': case '--workdir': options.workdir = flagValue(); break;
      case '-u': case '--user': options.user = flagValue(); break;
      case '--init': options.init = true; break;
      case '--read-only': options.readOnly = true; break;
      case '-v': case '--volume': options.volumes!.push(parseVolume(flagValue())); break;
      case '--network': case '--net': options.network = parseNetworkFlag(flagValue()); break;
      case '-p': case '--publish': options.publish!.push(parsePublishFlag(flagValue())); break;
      case '--privileged': security.privileged = true; break;
      case '--cap-add': (security.capAdd ??= []).push(capabilityName(flagValue(), flag)); break;
      case '--cap-drop': (security.capDrop ??= []).push(capabilityName(flagValue(), flag)); break;
      case '--security-opt': applySecurityOpt(flagValue(), security); break;
      case '--ulimit': (security.ulimits ??= []).push(parseUlimit(flagValue())); break;
      case '--device': (security.devices ??= []).push(...parseDevice(flagValue())); break;
      case '--sysctl': addSysctl(flagValue(), security); break;
      case '--userns': options.userns = parseUsernsFlag(flagValue()); break;
      case '--uidmap': (idMaps.uid ??= []).push(parseIdMapFlag(flagValue(), flag)); break;
      case '--gidmap': (idMaps.gid ??= []).push(parseIdMapFlag(flagValue(), flag)); break;
      default:
        if (!LIMIT_FLAGS.has(flag)) throw new UsageError(`unknown flag: ${flag}`);
        limits.push(flag, flagValue());
    }
  }
  try {
    options.resources = parseLimitFlags(limits);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (Object.keys(security).length) options.security = security;
  if (idMaps.uid || idMaps.gid) {
    // podman: --uidmap alone maps the groups the same way; --gidmap alone has nothing to go with.
    if (!idMaps.uid) throw new UsageError('--gidmap needs --uidmap too');
    if (options.userns && options.userns.mode !== 'host') throw new UsageError('--uidmap and --userns=auto cannot go together: choose one');
    options.userns = { mode: 'map', uidMappings: idMaps.uid, gidMappings: idMaps.gid ?? idMaps.uid };
  }
  options.image = args[i] ?? '';
  if (!options.image) throw new UsageError('"run" requires at least 1 argument: IMAGE [COMMAND...]');
  options.args = args.slice(i + 1);
  return options;
}
