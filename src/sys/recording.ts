import { constants } from 'node:os';
import { SyscallError } from './errors.js';
import type { SeccompFilter, SyscallRecord, Syscalls } from './syscalls.js';

/**
 * A Syscalls that changes nothing: it records each call so a unit test can assert what the code
 * asked the kernel for, in order. `failOn` makes a chosen call fail with a chosen errno, to test the
 * error paths (what happens when mount() says EPERM?).
 */
export class RecordingSyscalls implements Syscalls {
  readonly calls: SyscallRecord[] = [];
  /** The next descriptor open() pretends to return: above 0-2, so it never looks like a standard stream. */
  private nextFd = 10;
  private failures = new Map<keyof Syscalls, keyof typeof constants.errno>();

  failOn(call: keyof Syscalls, errno: keyof typeof constants.errno): this {
    this.failures.set(call, errno);
    return this;
  }

  /** The recorded calls of one kind, e.g. names('mount') → their argument lists. */
  argsOf(call: keyof Syscalls): unknown[][] {
    return this.calls.filter((record) => record.call === call).map((record) => record.args);
  }

  private record(call: keyof Syscalls, args: unknown[]): void {
    this.calls.push({ call, args });
    const errno = this.failures.get(call);
    if (errno !== undefined) throw new SyscallError(call, args, constants.errno[errno], 'injected by RecordingSyscalls');
  }

  unshare(flags: number): void {
    this.record('unshare', [flags]);
  }
  setns(fd: number, nstype: number): void {
    this.record('setns', [fd, nstype]);
  }
  sethostname(name: string): void {
    this.record('sethostname', [name]);
  }
  setdomainname(name: string): void {
    this.record('setdomainname', [name]);
  }
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
    this.record('mount', [source, target, fstype, flags, data]);
  }
  umount2(target: string, flags: number): void {
    this.record('umount2', [target, flags]);
  }
  pivotRoot(newRoot: string, putOld: string): void {
    this.record('pivotRoot', [newRoot, putOld]);
  }
  openTreeClone(path: string): number {
    this.record('openTreeClone', [path]);
    return 100;
  }
  idmapTree(treeFd: number, usernsFd: number): void {
    this.record('idmapTree', [treeFd, usernsFd]);
  }
  moveMount(treeFd: number, target: string): void {
    this.record('moveMount', [treeFd, target]);
  }
  chroot(path: string): void {
    this.record('chroot', [path]);
  }
  chdir(path: string): void {
    this.record('chdir', [path]);
  }
  fchdir(fd: number): void {
    this.record('fchdir', [fd]);
  }
  mknod(path: string, mode: number, dev: number): void {
    this.record('mknod', [path, mode, dev]);
  }
  lsetxattr(path: string, name: string, value: string): void {
    this.record('lsetxattr', [path, name, value]);
  }
  /** Every file of the test double has no extended attributes. */
  lgetxattr(path: string, name: string): string | null {
    this.record('lgetxattr', [path, name]);
    return null;
  }
  /** Pretends the mask was 022, the usual default, so code that restores it has something to restore. */
  umask(mask: number): number {
    this.record('umask', [mask]);
    return 0o022;
  }
  execve(path: string, argv: readonly string[], envp: readonly string[]): never {
    this.record('execve', [path, [...argv], [...envp]]);
    throw new Error(`RecordingSyscalls: execve(${JSON.stringify(path)}) recorded; a test double cannot replace the process`);
  }
  prctl(option: number, arg: number, arg3?: number): void {
    this.record('prctl', arg3 === undefined ? [option, arg] : [option, arg, arg3]);
  }
  capset(sets: { effective: bigint; permitted: bigint; inheritable: bigint }): void {
    this.record('capset', [sets]);
  }
  setrlimit(resource: number, soft: number | null, hard: number | null): void {
    this.record('setrlimit', [resource, soft, hard]);
  }
  setgroups(gids: readonly number[]): void {
    this.record('setgroups', [[...gids]]);
  }
  setgid(gid: number): void {
    this.record('setgid', [gid]);
  }
  setuid(uid: number): void {
    this.record('setuid', [uid]);
  }
  seccompLoad(filter: SeccompFilter): string[] {
    this.record('seccompLoad', [filter]);
    return [];
  }
  seccompExport(filter: SeccompFilter): string {
    this.record('seccompExport', [filter]);
    return '';
  }
  bpfLoadProgram(program: { type: number; instructions: Uint8Array; license: string; name: string }): number {
    this.record('bpfLoadProgram', [program]);
    return 100;
  }
  bpfAttachProgram(targetFd: number, programFd: number, attachType: number, flags: number): void {
    this.record('bpfAttachProgram', [targetFd, programFd, attachType, flags]);
  }
  fcntl(fd: number, cmd: number, arg: number): number {
    this.record('fcntl', [fd, cmd, arg]);
    return 0;
  }
  closeRange(first: number, last: number, flags: number): void {
    this.record('closeRange', [first, last, flags]);
  }
  resetSignal(signal: number): void {
    this.record('resetSignal', [signal]);
  }
  unblockAllSignals(): void {
    this.record('unblockAllSignals', []);
  }
  getpid(): number {
    this.record('getpid', []);
    return 4242;
  }
  getppid(): number {
    this.record('getppid', []);
    return 4241;
  }
  sendFileDescriptor(socketPath: string, fd: number, name: string): void {
    this.record('sendFileDescriptor', [socketPath, fd, name]);
  }
  listenUnix(socketPath: string): number {
    this.record('listenUnix', [socketPath]);
    return this.nextFd++;
  }
  socket(domain: number, type: number, protocol: number): number {
    this.record('socket', [domain, type, protocol]);
    return this.nextFd++;
  }
  acceptConnection(fd: number): number {
    this.record('acceptConnection', [fd]);
    return this.nextFd++;
  }
  waitpid(pid: number, options: number): { pid: number; status: number } {
    this.record('waitpid', [pid, options]);
    return { pid, status: 0 };
  }
  flock(fd: number, operation: number): void {
    this.record('flock', [fd, operation]);
  }
  /** Returns made-up descriptors, 10, 11, ...: a test can follow one from open() to close(). */
  open(path: string, flags: number, mode = 0): number {
    this.record('open', [path, flags, mode]);
    return this.nextFd++;
  }
  close(fd: number): void {
    this.record('close', [fd]);
  }
  dup2(oldFd: number, newFd: number): void {
    this.record('dup2', [oldFd, newFd]);
  }
  /** The new session's ID is the caller's PID (4242, as getpid says). */
  setsid(): number {
    this.record('setsid', []);
    return 4242;
  }
  /** Pretends the caller is in its parent's session (4241), as a freshly spawned child is. */
  getsid(pid: number): number {
    this.record('getsid', [pid]);
    return 4241;
  }
  /** The caller leads its own process group, as getpid says (4242). */
  getpgrp(): number {
    this.record('getpgrp', []);
    return 4242;
  }
  setSignalBlocked(signal: number, blocked: boolean): void {
    this.record('setSignalBlocked', [signal, blocked]);
  }
  ioctlInt(fd: number, request: number, value: number): number {
    this.record('ioctlInt', [fd, request, value]);
    return 0;
  }
  /** The buffer is recorded as it was passed (a copy) and left as it is: every value read back is 0. */
  ioctlPtr(fd: number, request: number, buffer: Uint8Array): number {
    this.record('ioctlPtr', [fd, request, [...buffer]]);
    return 0;
  }
}
