/**
 * The Ink app: draws the controller's state and turns keys into controller actions.
 * All decisions (what next means, when a key is ignored) live in the controller; this file only
 * renders and forwards.
 *
 *   Lesson 1 · UTS namespace: a host name of its own                      step 2/4
 *   Give the container its own host name
 *   sethostname() inside the new UTS namespace changes only the container's name.
 *   ╭ HOST ─────────────────────────╮╭ CONTAINER ────────────────────╮
 *   │ ≠ hostname                    ││ ≠ hostname • changed          │
 *   │ devbox                        ││ lab-3f2a                      │
 *   ╰───────────────────────────────╯╰───────────────────────────────╯
 *   →/n next · ←/b back · r rerun · s shell · q quit
 */
import { useEffect, useSyncExternalStore } from 'react';
import { Box, Text, useApp, useInput } from 'ink';
import type { ShellCommand } from '../course/lesson.js';
import type { LessonController } from './controller.js';
import { KeyBar } from './KeyBar.js';
import { Pane } from './Pane.js';
import { StatusLine } from './StatusLine.js';
import { stepView, type StepView } from './view.js';

export interface AppProps {
  controller: LessonController;
  /** Called when the user asked for a shell; the app then exits so the caller can hand over the terminal. */
  onShell: (command: ShellCommand) => void;
}

export function App({ controller, onShell }: AppProps) {
  const state = useSyncExternalStore(controller.subscribe, controller.getState);
  const { exit } = useApp();

  // Whoever closed the session (q, a signal, a crash), the app is done once it is closed.
  useEffect(() => {
    if (state.activity === 'closed') exit();
  }, [state.activity, exit]);

  /** Handles one key; returns false when the app is ending and later keys must be dropped. */
  const onKey = (char: string): boolean => {
    if (char === 'q') void controller.close();
    else if (char === 'n') void controller.next();
    else if (char === 'b') controller.back();
    else if (char === 'r') void controller.rerun();
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
    else if (!key.ctrl && !key.meta) {
      // Keys typed quickly (or held down) can arrive together, as one string.
      for (const char of input) if (!onKey(char)) break;
    }
  });

  const view = stepView(state);
  const { lesson } = controller;
  return (
    <Box flexDirection="column">
      <Box justifyContent="space-between">
        <Text bold wrap="truncate-end">{`Lesson ${lesson.number} · ${lesson.title}`}</Text>
        {view && <Text>{` step ${view.number}/${view.total}${view.isNewest ? '' : ' (history)'}`}</Text>}
      </Box>
      {view && <StepBody view={view} />}
      <StatusLine activity={state.activity} notice={state.notice} />
      <KeyBar activity={state.activity} />
    </Box>
  );
}

function StepBody({ view }: { view: StepView }) {
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text bold color="cyan">
        {view.title}
      </Text>
      <Text wrap="wrap">{view.narration}</Text>
      {view.record.status === 'failed' ? (
        <Box marginY={1}>
          <Text color="red" wrap="wrap">{`✗ ${view.record.error ?? 'unknown error'}`}</Text>
        </Box>
      ) : (
        view.panes && (
          <Box>
            <Pane title="HOST" rows={view.panes.host} />
            <Pane title="CONTAINER" rows={view.panes.container} />
          </Box>
        )
      )}
    </Box>
  );
}
