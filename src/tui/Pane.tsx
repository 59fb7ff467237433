/**
 * One side of the machine: HOST or CONTAINER. A titled box of rows; each row is a label, its value
 * and, dimmed, the command or file it came from.
 *
 * Markers are text, not just colour (they must survive a terminal without colours):
 *   ≠        the other pane has this label with another value: the lesson's point
 *   changed  the value is not what the previous step showed
 *   new      the row was not there at the previous step
 */
import { Box, Text } from 'ink';
import type { MarkedRow } from './diff.js';
import { cleanValue } from './text.js';

export function Pane({ title, rows }: { title: string; rows: readonly MarkedRow[] }) {
  return (
    <Box flexDirection="column" width="50%" borderStyle="round" borderColor="gray" paddingX={1}>
      <Text bold>{title}</Text>
      {rows.length === 0 && <Text dimColor>(nothing yet)</Text>}
      {rows.map((row, index) => (
        <Row key={`${index}:${row.label}`} row={row} />
      ))}
    </Box>
  );
}

function Row({ row }: { row: MarkedRow }) {
  const lines = cleanValue(row.value).split('\n');
  const colour = row.differs ? 'yellow' : undefined;
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text wrap="truncate-end">
        <Text bold color={colour}>
          {row.differs ? '≠ ' : ''}
          {cleanValue(row.label)}
        </Text>
        {row.change && <Text color="cyan">{` • ${row.change}`}</Text>}
      </Text>
      {/* One line wraps like prose. Several lines are a table (ps, mountinfo): wrapping would
          scramble its columns, so each line is cut at the pane's edge instead. */}
      {lines.length === 1 ? (
        <Text color={colour} wrap="wrap">
          {lines[0] || ' '}
        </Text>
      ) : (
        lines.map((line, index) => (
          <Text key={index} color={colour} wrap="truncate-end">
            {line || ' '}
          </Text>
        ))
      )}
      {row.source && (
        <Text dimColor wrap="truncate-end">
          {`$ ${cleanValue(row.source)}`}
        </Text>
      )}
    </Box>
  );
}
