/**
 * The line above the key bar: a spinner while something runs, otherwise the latest notice
 * ("no container running yet", "lesson complete — ...", a failed live read).
 */
import { useEffect, useState } from 'react';
import { Text } from 'ink';
import type { Activity, Notice } from './controller.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

const BUSY_TEXT: Partial<Record<Activity, string>> = {
  starting: 'starting the lesson…',
  running: 'running…',
  restarting: 'closing the session and starting over…',
  shell: 'in the shell…',
  closing: 'closing the session…',
};

function Spinner() {
  const [frame, setFrame] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setFrame((n) => (n + 1) % SPINNER.length), 80);
    return () => clearInterval(timer);
  }, []);
  return <Text color="cyan">{SPINNER[frame]}</Text>;
}

export function StatusLine({ activity, notice }: { activity: Activity; notice: Notice | null }) {
  const busyText = BUSY_TEXT[activity];
  return (
    <>
      {busyText && (
        <Text>
          <Spinner /> {busyText}
        </Text>
      )}
      {activity === 'closed' && !notice && <Text dimColor>session closed.</Text>}
      {notice && (
        <Text color={notice.tone === 'error' ? 'red' : 'green'} wrap="wrap">
          {notice.text}
        </Text>
      )}
    </>
  );
}
