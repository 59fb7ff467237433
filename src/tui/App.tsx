/**
 * The Ink app: draws the controller's state and turns keys into controller actions.
 * All decisions about the lesson (what next means, when a key is ignored) live in the controller;
 * what goes on which line of the screen lives in layout.ts. This file keeps what only the screen
 * cares about (which pane has the scroll keys, how far each is scrolled, the terminal's size),
 * renders and forwards.
 *
 *   Lesson 1 · UTS namespace: a host name of its own                      step 2/4
 *   Give the container its own host name
 *   sethostname() inside the new UTS namespace changes only the container's name.
 *   ╭─ ▶ HOST ─────────────────────╮╭─ CONTAINER ──────────────────╮
 *   │ ≠ hostname                    ││ ≠ hostname • changed          │
 *   │ devbox                        ││ lab-3f2a                      │
 *   ╰───────────────────────────────╯╰───────────────────────────────╯
 *   →/n next · ←/b back · r rerun · s shell · q quit · ↑↓ scroll · tab pane · z zoom
 */
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import type { ShellCommand } from '../course/lesson.js';
import type { LessonController } from './controller.js';
import { keyBarLines } from './KeyBar.js';
import { frameHeight, layoutScreen, type Line, type PaneFocus, type Screen, type Side, type TerminalSize } from './layout.js';
import { isBusy, statusLines, useSpinner } from './StatusLine.js';
import { stepView } from './view.js';

export interface AppProps {
  controller: LessonController;
  /** Called when the user asked for a shell; the app then exits so the caller can hand over the terminal. */
  onShell: (command: ShellCommand) => void;
}

/** Used when the output is not a terminal and says nothing of its size. */
const DEFAULT_SIZE: TerminalSize = { columns: 80, rows: 24 };

/** The terminal's size, updated on every resize so the frame is laid out again at once. */
function useTerminalSize(): TerminalSize {
  const { stdout } = useStdout();
  const read = (): TerminalSize => ({ columns: stdout.columns || DEFAULT_SIZE.columns, rows: stdout.rows || DEFAULT_SIZE.rows });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => {
      const next = read();
      setSize((current) => (current.columns === next.columns && current.rows === next.rows ? current : next));
    };
    stdout.on('resize', onResize);
    onResize(); // a resize between the first render and this effect
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return size;
}

const TOP: Record<Side, number> = { host: 0, container: 0 };

export function App({ controller, onShell }: AppProps) {
  const state = useSyncExternalStore(controller.subscribe, controller.getState);
  const { exit } = useApp();
  const size = useTerminalSize();
  const spinner = useSpinner(isBusy(state.activity));
  // Which pane has the scroll keys, zoomed or not, and how far each pane is scrolled: scroll offsets
  // belong to the step they were scrolled on, another step starts at the top.
  const [ui, setUi] = useState<PaneFocus & { step: number }>({ step: -1, focus: 'host', zoom: false, offsets: TOP });
  const screenRef = useRef<Screen | null>(null);

  // Whoever closed the session (q, a signal, a crash), the app is done once it is closed.
  useEffect(() => {
    if (state.activity === 'closed') exit();
  }, [state.activity, exit]);

  const view = stepView(state);
  const step = view?.number ?? -1;
  const panes: PaneFocus = { ...ui, offsets: ui.step === step ? ui.offsets : TOP };
  const { lesson } = controller;
  const screen = layoutScreen({
    size,
    heading: `Lesson ${lesson.number} · ${lesson.title}`,
    stepLabel: view ? `step ${view.number}/${view.total}${view.isNewest ? '' : ' (history)'}` : null,
    view,
    status: (width) => statusLines(state.activity, state.notice, spinner, width),
    keys: (width) => keyBarLines(state.activity, width),
    panes,
  });
  screenRef.current = screen;

  /**
   * Changes what the panes show. Always from the latest state, not this render's: keys that arrive
   * together (Tab, then ↓) are handled before React renders again.
   */
  const changePanes = (change: (current: PaneFocus) => Partial<PaneFocus>) => {
    setUi((previous) => {
      const current = { ...previous, step, offsets: previous.step === step ? previous.offsets : TOP };
      return { ...current, ...change(current) };
    });
  };
  /** Moves the focused pane by `delta` lines (±Infinity: to an end), kept within its content. */
  const scrollBy = (delta: number) =>
    changePanes(({ focus, offsets }) => {
      const extent = screenRef.current?.extents[focus];
      if (!extent) return {};
      const last = Math.max(0, extent.total - extent.visible);
      const from = Math.min(offsets[focus], last);
      return { offsets: { ...offsets, [focus]: Math.min(Math.max(0, from + delta), last) } };
    });
  const page = () => Math.max(1, (screenRef.current?.extents[ui.focus]?.visible ?? 2) - 1);

  /** Handles one key; returns false when the app is ending and later keys must be dropped. */
  const onKey = (char: string): boolean => {
    if (char === 'q') void controller.close();
    else if (char === 'n') void controller.next();
    else if (char === 'b') controller.back();
    else if (char === 'r') void controller.rerun();
    else if (char === 'j') scrollBy(1);
    else if (char === 'k') scrollBy(-1);
    else if (char === 'z') changePanes(({ zoom }) => ({ zoom: !zoom }));
    else if (char === 's') {
      const command = controller.shell();
      if (command) {
        onShell(command);
        exit();
        return false;
      }
    }
    return true;
  };

  useInput((input, key) => {
    if (key.ctrl && input === 'c') void controller.close();
    else if (key.rightArrow) void controller.next();
    else if (key.leftArrow) controller.back();
    // The pane keys change only what is on screen, so they work while a step runs too. A mouse wheel
    // arrives as ↑/↓ where the terminal translates it (alternate scroll mode, see present.ts).
    else if (key.upArrow) scrollBy(-1);
    else if (key.downArrow) scrollBy(1);
    else if (key.pageUp) scrollBy(-page());
    else if (key.pageDown) scrollBy(page());
    else if (key.home) scrollBy(-Infinity);
    else if (key.end) scrollBy(Infinity);
    else if (key.tab) changePanes(({ focus }) => ({ focus: focus === 'host' ? 'container' : 'host' }));
    else if (!key.ctrl && !key.meta) {
      // Keys typed quickly (or held down) can arrive together, as one string.
      for (const char of input) if (!onKey(char)) break;
    }
  });

  return (
    <Box flexDirection="column" height={frameHeight(size)}>
      {screen.lines.map((line, index) => (
        <ScreenLine key={index} line={line} />
      ))}
    </Box>
  );
}

/** One line of the frame. layout.ts made it fit; cutting at the edge is only a safety net. */
function ScreenLine({ line }: { line: Line }) {
  if (line.length === 0) return <Text> </Text>;
  return (
    <Text wrap="truncate-end">
      {line.map((span, index) => (
        <Text key={index} bold={span.bold} dimColor={span.dim} color={span.color}>
          {span.text}
        </Text>
      ))}
    </Text>
  );
}
