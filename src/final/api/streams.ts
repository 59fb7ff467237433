/**
 * A container's standard streams, kept by the service for `docker attach` and `docker run` without -d.
 *
 * The trade-off. minidocker has no daemon: a foreground `minidocker run` keeps its container's stdio (or
 * pty) in the CLI process, and a `-d` container writes stdout and stderr into container.log itself, through
 * a descriptor its monitor was given — nobody needs to stay. An API client that attaches needs the two
 * streams apart, stdin, or a terminal, from a process that outlives each request: the service. So:
 *
 *   - a container created with any of AttachStdin/Stdout/Stderr, OpenStdin or Tty gets pipes (or a pty)
 *     that the service holds (HeldStreams). The service copies what comes out to every attached client,
 *     stdout and stderr apart, and appends it to container.log, so `minidocker logs` still works, and to
 *     a json-file log (json-log.ts), from which `docker logs` gives the streams apart, with times. Such a container does not die with the service, but once the service is gone its
 *     output has no reader: its next write fails (SIGPIPE), as a container of a dockerd that died
 *     without live-restore loses its streams.
 *   - any other container (docker run -d, dockerode's createContainer without Attach*) writes its log
 *     as a `minidocker run -d` one does, and lives on its own. Attaching to it follows its log file:
 *     output only, stdout and stderr as one stream.
 *
 * containerd makes the other choice: its shim holds FIFOs for every container and the daemon reconnects.
 */
import { appendFileSync } from 'node:fs';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { attachTerminal, type Console, type Detach } from '../../container/console.js';
import type { Container } from '../../container/runtime.js';
import { JsonLogWriter, jsonLogPath } from './json-log.js';
import type { StreamName } from '../../../lessons/09-api/frames.js';

/** Where a container's output goes: an attached client. */
export interface OutputSink {
  write(stream: StreamName, chunk: Buffer): void;
  /** The container's output has ended (it exited): the client's stream may close. */
  end(): void;
}

export class HeldStreams {
  private readonly sinks = new Set<OutputSink>();
  private finished = false;
  private readonly terminalInput = new PassThrough();
  private detachTerminal: Detach | undefined;
  private readonly jsonLog: JsonLogWriter;
  /** Resolves when every byte the command wrote has been passed on. */
  readonly done: Promise<void>;

  constructor(
    private readonly container: Container,
    private readonly logPath: string,
    /** The pty, for a Tty container: opened before start, its slave named in the start message. */
    readonly pty: Console | undefined,
  ) {
    this.jsonLog = new JsonLogWriter(jsonLogPath(logPath));
    if (pty) {
      // Raw bytes both ways: the pty's line discipline does the terminal's work, as for `minidocker run -it`.
      const output = new Writable({ write: (chunk: Buffer, _encoding, callback) => (this.fanOut('stdout', chunk), callback()) });
      this.detachTerminal = attachTerminal(pty, { stdin: this.terminalInput, stdout: output });
      this.done = this.container.wait().then(async () => {
        await this.detachTerminal!.outputEnded.catch(() => {});
        this.detachTerminal!();
        pty.close();
      });
    } else {
      this.done = Promise.all([this.copy(container.stdout, 'stdout'), this.copy(container.stderr, 'stderr')]).then(() => {});
    }
    this.done = this.done.finally(() => {
      this.finished = true;
      this.jsonLog.end();
      for (const sink of this.sinks) sink.end();
      this.sinks.clear();
    });
  }

  private copy(stream: Readable | null, name: StreamName): Promise<void> {
    if (!stream) return Promise.resolve();
    return new Promise((resolve) => {
      stream.on('data', (chunk: Buffer) => this.fanOut(name, chunk));
      stream.on('end', resolve);
      stream.on('error', () => resolve());
      stream.on('close', resolve);
    });
  }

  private fanOut(name: StreamName, chunk: Buffer): void {
    try {
      appendFileSync(this.logPath, chunk);
    } catch {
      // removed meanwhile (docker rm -f): the attached clients still get it
    }
    this.jsonLog.write(name, chunk);
    for (const sink of this.sinks) sink.write(name, chunk);
  }

  /** A client's stdin: into the pipe, or typed into the terminal. */
  get stdin(): Writable | null {
    return this.pty ? this.terminalInput : this.container.stdin;
  }

  /** StdinOnce: the first client that attached stdin has closed it, so the command reads its end. */
  closeStdin(): void {
    if (!this.pty) this.container.stdin?.end();
  }

  /** Adds a client; returns the function that removes it. A client that comes after the end is ended at once. */
  attach(sink: OutputSink): () => void {
    if (this.finished) {
      sink.end();
      return () => {};
    }
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }
}
