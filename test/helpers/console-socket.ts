/**
 * The engine's end of runc's --console-socket, for tests: a unix socket that listens, and after the
 * runtime has connected and sent its message, the descriptor that came with it (SCM_RIGHTS). conmon
 * and containerd-shim do this in C; Node cannot receive descriptors, so this uses libc through koffi.
 * The runtime's connect and send complete against the listen backlog, so the test may accept after the
 * `oci` command has returned.
 */
import { createRequire } from 'node:module';
import { readSync, rmSync } from 'node:fs';

const require = createRequire(import.meta.url);
const koffi = require('koffi') as typeof import('koffi');
const libc = koffi.load('libc.so.6');
const socket = libc.func('int socket(int domain, int type, int protocol)');
const bind = libc.func('int bind(int fd, const uint8_t *address, uint32_t length)');
const listen = libc.func('int listen(int fd, int backlog)');
const accept = libc.func('int accept4(int fd, void *address, void *length, int flags)');
const recvmsg = libc.func('intptr_t recvmsg(int fd, void *message, int flags)');
const close = libc.func('int close(int fd)');
const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)');
const iovec = koffi.struct({ iov_base: 'void *', iov_len: 'size_t' });
const msghdr = koffi.struct({
  msg_name: 'void *', msg_namelen: 'uint32_t', msg_iov: 'void *', msg_iovlen: 'size_t',
  msg_control: 'void *', msg_controllen: 'size_t', msg_flags: 'int',
});

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOCK_NONBLOCK = 0o4000;

/** What a pty master has for reading now ('' when nothing yet; it never blocks). */
export function readAvailable(fd: number): string {
  const F_GETFL = 3;
  const F_SETFL = 4;
  const O_NONBLOCK = 0o4000;
  fcntl(fd, F_SETFL, (fcntl(fd, F_GETFL, 0) as number) | O_NONBLOCK);
  const buffer = Buffer.alloc(4096);
  let text = '';
  for (;;) {
    try {
      const length = readSync(fd, buffer, 0, buffer.length, null);
      if (length === 0) return text;
      text += buffer.subarray(0, length).toString();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EIO') return text; // nothing more now; EIO: the slave side is closed
      throw error;
    }
  }
}

export interface ConsoleSocket {
  path: string;
  /** The descriptor the runtime sent and the name it sent with it; null when nothing came. */
  receive(): { fd: number; name: string } | null;
  close(): void;
}

export function listenConsoleSocket(path: string): ConsoleSocket {
  const fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) as number;
  if (fd < 0) throw new Error(`socket: errno ${koffi.errno()}`);
  const address = Buffer.alloc(110);
  address.writeUInt16LE(AF_UNIX, 0);
  Buffer.from(path).copy(address, 2);
  if (bind(fd, address, 2 + Buffer.byteLength(path) + 1) < 0 || listen(fd, 4) < 0) {
    const errno = koffi.errno();
    close(fd);
    throw new Error(`bind/listen ${path}: errno ${errno}`);
  }
  return {
    path,
    receive() {
      const connection = accept(fd, null, null, SOCK_CLOEXEC | SOCK_NONBLOCK) as number;
      if (connection < 0) return null;
      const data = koffi.alloc('uint8_t', 256);
      const iov = koffi.alloc(iovec, 1);
      const control = koffi.alloc('uint8_t', 24);
      try {
        koffi.encode(iov, iovec, { iov_base: data, iov_len: 256 });
        const message = { msg_name: null, msg_namelen: 0, msg_iov: iov, msg_iovlen: 1, msg_control: control, msg_controllen: 24, msg_flags: 0 };
        const length = Number(recvmsg(connection, koffi.as(message, koffi.pointer(msghdr)), 0));
        if (length < 0) return null;
        const cmsg = Buffer.from(koffi.decode(control, koffi.array('uint8_t', 24)) as number[]);
        // cmsg_level SOL_SOCKET (1), cmsg_type SCM_RIGHTS (1): then the descriptor.
        if (cmsg.readInt32LE(8) !== 1 || cmsg.readInt32LE(12) !== 1) return null;
        const received = cmsg.readInt32LE(16);
        fcntl(received, 2 /* F_SETFD */, 1 /* FD_CLOEXEC */);
        return { fd: received, name: Buffer.from(koffi.decode(data, koffi.array('uint8_t', Math.max(1, length))) as number[]).subarray(0, length).toString() };
      } finally {
        close(connection);
        koffi.free(data);
        koffi.free(iov);
        koffi.free(control);
      }
    },
    close() {
      close(fd);
      rmSync(path, { force: true });
    },
  };
}
