export * from './constants.js';
export { SyscallError, errnoName, errorChain, exitCodeInChain, formatErrorDebug, formatErrorLine, takeDebugFlag } from './errors.js';
export type { SeccompFilter, SeccompRule, Syscalls, SyscallRecord } from './syscalls.js';
export { RecordingSyscalls } from './recording.js';
export {
  foregroundGroup,
  getWindowSize,
  makeControllingTerminal,
  ptyNumber,
  setForegroundGroup,
  setWindowSize,
  stopOutputProcessing,
  unlockPty,
  type WindowSize,
} from './terminal.js';
import { LinuxSyscalls } from './linux.js';
import type { Syscalls } from './syscalls.js';

let linux: Syscalls | undefined;
/** The process-wide real Syscalls; libc is bound on first use, so importing this module is free. */
export function linuxSyscalls(): Syscalls {
  return (linux ??= new LinuxSyscalls());
}
