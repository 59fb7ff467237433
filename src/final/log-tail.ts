/**
 * `logs --tail N` (the CLI) and `GET /containers/{id}/logs?tail=N` (the API service): where the last N
 * lines of a container's log begin. A last line without its "\n" counts as a line, as Docker counts it.
 */
export function startOfLastLines(bytes: Uint8Array, count: number): number {
  if (count === 0) return bytes.length;
  let end = bytes.length;
  if (end && bytes[end - 1] === 0x0a) end--; // the last line's newline does not start another line
  let start = end;
  for (let found = 0; start > 0; start--) {
    if (bytes[start - 1] === 0x0a && ++found === count) break;
  }
  return start;
}
