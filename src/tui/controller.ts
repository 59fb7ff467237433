/**
 * The lesson controller: everything the frame does, with no rendering in it.
 *
 * It walks a lesson session step by step, remembers what each step showed (so "back" is free and
 * re-runs nothing), keeps the newest step's panes live, and above all makes sure the session is
 * closed exactly once, because the session owns real kernel objects: containers, mounts, cgroups.
 *
 * The Ink app and the plain renderer are both thin views over this class: they read getState(),
 * listen with subscribe() and call the actions (next, back, rerun, shell, close).
 *
 * One rule keeps it simple: only one operation runs at a time (starting, running a step,
 * restarting, a shell). Actions that arrive meanwhile are ignored, except close().
 */
import type { Lesson, LessonSession, ShellCommand, Snapshot } from '../course/lesson.js';
import { errorLine } from './text.js';

/** What the frame remembers about one step it ran. */
export interface StepRecord {
  /** Index into the session's steps, from 0. */
  step: number;
  status: 'running' | 'done' | 'failed';
  /** Both panes as read after the step (and refreshed while it is the newest one). */
  snapshot?: Snapshot;
  /** The one-line error when the step (or reading the panes after it) failed. */
  error?: string;
}

/** What the controller is busy with. Everything but 'idle' makes the keys (except quit) wait. */
export type Activity = 'idle' | 'starting' | 'running' | 'restarting' | 'shell' | 'closing' | 'closed';

/** A short message under the panes. */
export interface Notice {
  text: string;
  tone: 'info' | 'error';
}

export interface ControllerState {
  /** The session's steps; empty until the session has started. */
  steps: readonly { title: string; narration: string }[];
  /** One record per step run so far, in order. history[i].step === i. */
  history: readonly StepRecord[];
  /** The history entry on screen; -1 before the first step starts. */
  viewing: number;
  activity: Activity;
  notice: Notice | null;
}

export const messages = {
  noContainer: 'no container running yet',
  complete: 'lesson complete — q to quit, r to rerun',
  stepFailed: 'this step failed — r to rerun, q to quit',
  notStarted: 'the lesson did not start — r to retry, q to quit',
  waitingToClose: 'closing: waiting for the running step to finish (q again to stop waiting)',
} as const;

export interface ControllerOptions {
  /** Overrides lesson.refreshMs (the plain renderer passes 0: nobody is watching live values). */
  refreshMs?: number;
}

export class LessonController {
  readonly refreshMs: number;
  /** Set when session.close() failed: something may be left behind, so the exit code says so. */
  closeError: string | null = null;
  /** Resolves once the session is closed. */
  readonly closed: Promise<void>;

  private state: ControllerState = { steps: [], history: [], viewing: -1, activity: 'idle', notice: null };
  private readonly listeners = new Set<() => void>();
  private session: LessonSession | null = null;
  /** Each session is closed once by us, however often close() and rerun() ask. */
  private readonly closings = new WeakMap<LessonSession, Promise<void>>();
  /** The one operation in flight (see exclusive()). */
  private work: Promise<void> | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private refreshNotice: Notice | null = null;
  private closing: Promise<void> | null = null;
  private markClosed!: () => void;
  /** A second close() call stops waiting for a step that may never finish. */
  private stopWaiting!: () => void;
  private readonly stoppedWaiting = new Promise<void>((resolve) => (this.stopWaiting = resolve));

  constructor(
    readonly lesson: Lesson,
    options: ControllerOptions = {},
  ) {
    this.refreshMs = options.refreshMs ?? lesson.refreshMs ?? 0;
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
  }

  // ---- observing -------------------------------------------------------------------------------

  /** The current state. A new object after every change, so views can compare by identity. */
  getState = (): ControllerState => this.state;

  /** Calls `listener` after every change; returns the unsubscribe function. */
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  get isClosing(): boolean {
    return this.closing !== null;
  }

  // ---- actions ---------------------------------------------------------------------------------

  /** Starts a session and runs step 1. */
  start(): Promise<void> {
    return this.exclusive('starting', () => this.openSession());
  }

  /** Forward through history, or run the next step when the newest one is on screen. */
  next(): Promise<void> {
    const { activity, history, viewing, steps } = this.state;
    if (activity !== 'idle') return Promise.resolve();
    if (viewing < history.length - 1) {
      this.show(viewing + 1);
      return Promise.resolve();
    }
    if (!this.session) return this.say(messages.notStarted, 'error');
    if (history[viewing]?.status === 'failed') return this.say(messages.stepFailed, 'error');
    if (viewing >= steps.length - 1) return this.say(messages.complete, 'info');
    return this.exclusive('running', () => this.runStep(viewing + 1));
  }

  /** Shows the previous step as it was recorded. Runs nothing. */
  back(): void {
    const { activity, viewing } = this.state;
    if (activity === 'idle' && viewing > 0) this.show(viewing - 1);
  }

  /** Closes this session and starts a fresh one from step 1. */
  rerun(): Promise<void> {
    return this.exclusive('restarting', async () => {
      if (this.session) {
        await this.closeSession(this.session).catch((error: unknown) => {
          throw new Error(`could not close the session: ${errorLine(error)}`);
        });
        this.session = null;
      }
      this.update({ steps: [], history: [], viewing: -1 });
      await this.openSession();
    });
  }

  /**
   * The shell to open in the container, or null (with a notice) when there is none. The caller
   * runs it inside suspend(), because only the caller can hand the terminal over.
   */
  shell(): ShellCommand | null {
    if (this.state.activity !== 'idle' || !this.session) return null;
    try {
      const command = this.session.shell();
      if (!command) void this.say(messages.noContainer, 'info');
      return command;
    } catch (error) {
      void this.say(errorLine(error), 'error');
      return null;
    }
  }

  /**
   * Runs `work` (a shell) as the one operation in flight: keys wait, live reads pause. Then
   * re-reads the panes, since whatever the user did in the shell may have changed them.
   */
  suspend(work: () => Promise<void>): Promise<void> {
    return this.exclusive('shell', async () => {
      try {
        await work();
      } finally {
        if (this.isNewestDone()) await this.refresh();
      }
    });
  }

  /**
   * Closes the session; safe to call any number of times. It first lets the running step finish
   * (closing under its feet could leave half-made objects behind); a second call stops waiting.
   * Never rejects: a failure to close ends up in closeError.
   */
  close(): Promise<void> {
    if (this.closing) {
      this.stopWaiting();
      return this.closing;
    }
    // Mark "closing" before anything else happens, so no new work can start from here on.
    this.closing = Promise.resolve().then(() => this.shutDown());
    return this.closing;
  }

  // ---- internals -------------------------------------------------------------------------------

  private async shutDown(): Promise<void> {
    this.stopRefresh();
    const busy = this.state.activity !== 'idle';
    this.update({ activity: 'closing', notice: busy ? { text: messages.waitingToClose, tone: 'info' } : null });
    await Promise.race([Promise.all([this.work, this.refreshing]), this.stoppedWaiting]);
    try {
      if (this.session) await this.closeSession(this.session);
    } catch (error) {
      this.closeError = errorLine(error);
    }
    const notice: Notice | null = this.closeError
      ? { text: `could not close the session: ${this.closeError}`, tone: 'error' }
      : null;
    this.update({ activity: 'closed', notice });
    this.markClosed();
  }

  private closeSession(session: LessonSession): Promise<void> {
    let promise = this.closings.get(session);
    if (!promise) {
      // If closing fails, forget it so that a later close() or rerun() may try again.
      promise = Promise.resolve()
        .then(() => session.close())
        .catch((error: unknown) => {
          this.closings.delete(session);
          throw error;
        });
      this.closings.set(session, promise);
    }
    return promise;
  }

  /**
   * Runs `operation` unless another one is in flight. Errors become a notice. The returned promise
   * also settles when the controller closes, so nobody waits forever on a step that hangs.
   */
  private exclusive(activity: Activity, operation: () => Promise<void>): Promise<void> {
    if (this.state.activity !== 'idle') return Promise.resolve();
    this.stopRefresh();
    this.update({ activity, notice: null });
    this.work = (async () => {
      if (this.refreshing) await this.refreshing; // never overlap a live read with a step
      try {
        await operation();
      } catch (error) {
        if (!this.isClosing) this.update({ notice: { text: errorLine(error), tone: 'error' } });
      } finally {
        if (!this.isClosing) {
          this.update({ activity: 'idle' });
          this.scheduleRefresh();
        }
      }
    })();
    return Promise.race([this.work, this.closed]);
  }

  private async openSession(): Promise<void> {
    let session: LessonSession;
    try {
      session = await this.lesson.start();
    } catch (error) {
      throw new Error(`could not start the lesson: ${errorLine(error)}`);
    }
    this.session = session;
    if (this.isClosing) {
      // close() arrived while we were starting, perhaps without waiting for us: close it here too.
      await this.closeSession(session).catch(() => {});
      return;
    }
    this.update({ steps: session.steps.map(({ title, narration }) => ({ title, narration })) });
    if (session.steps.length > 0) await this.runStep(0);
  }

  /** Runs one step, then reads both panes. Either failing ends the step with its error. */
  private async runStep(index: number): Promise<void> {
    const session = this.session;
    const step = session?.steps[index];
    if (!session || !step) return;
    const history = [...this.state.history.slice(0, index), { step: index, status: 'running' } as const];
    this.update({ history, viewing: index });
    let record: StepRecord;
    try {
      await step.run();
      record = { step: index, status: 'done', snapshot: await session.snapshot() };
    } catch (error) {
      record = { step: index, status: 'failed', error: errorLine(error) };
    }
    if (this.session !== session) return; // only the session that ran the step may record it
    this.update({ history: this.state.history.with(index, record) });
  }

  private show(index: number): void {
    this.update({ viewing: index, notice: null });
    this.scheduleRefresh();
  }

  private say(text: string, tone: Notice['tone']): Promise<void> {
    this.update({ notice: { text, tone } });
    return Promise.resolve();
  }

  private update(patch: Partial<ControllerState>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of this.listeners) listener();
  }

  // ---- live values -----------------------------------------------------------------------------

  /** The newest step is on screen and it succeeded: its panes are worth keeping live. */
  private isNewestDone(): boolean {
    const { history, viewing } = this.state;
    return viewing >= 0 && viewing === history.length - 1 && history[viewing]?.status === 'done';
  }

  /** Arms the next live read. A timeout, not an interval: the next read starts after this one ends. */
  private scheduleRefresh(): void {
    this.stopRefresh();
    if (this.refreshMs <= 0 || this.state.activity !== 'idle' || this.isClosing || !this.isNewestDone()) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      if (this.state.activity === 'idle' && this.isNewestDone()) void this.refresh();
    }, this.refreshMs);
  }

  private stopRefresh(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  /** Re-reads the panes of the newest step. Concurrent callers share the read in flight. */
  private refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    const session = this.session;
    const index = this.state.viewing;
    if (!session) return Promise.resolve();
    this.refreshing = (async () => {
      try {
        const snapshot = await session.snapshot();
        const record = this.state.history[index];
        // The world may have moved on while we read: another session, a new step, closing.
        if (this.session !== session || this.isClosing || record?.status !== 'done') return;
        if (index !== this.state.history.length - 1) return;
        const stale = this.refreshNotice !== null && this.state.notice === this.refreshNotice;
        this.update({ history: this.state.history.with(index, { ...record, snapshot }), ...(stale && { notice: null }) });
      } catch (error) {
        if (this.session !== session || this.isClosing) return;
        this.refreshNotice = { text: `live read failed: ${errorLine(error)}`, tone: 'error' };
        this.update({ notice: this.refreshNotice });
      } finally {
        this.refreshing = null;
        this.scheduleRefresh();
      }
    })();
    return this.refreshing;
  }
}
