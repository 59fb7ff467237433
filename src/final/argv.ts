/** Reading command lines: what every CLI of the final runtime shares (minidocker, oci, the API service, bench). */

/**
 * "--flag=value" → ["--flag", "value"]; "--flag" → ["--flag", undefined]. Only the first "=" divides:
 * the value may hold more (`--env=A=B`, `--userns=auto:size=N`).
 */
export function splitFlag(arg: string): [string, string | undefined] {
  const equals = arg.indexOf('=');
  return equals < 0 ? [arg, undefined] : [arg.slice(0, equals), arg.slice(equals + 1)];
}
