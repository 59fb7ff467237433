/**
 * `--format` templates: the part of Go's text/template that `docker inspect -f` is used with.
 *
 *   {{.State.Pid}}                       a field, by its path (a missing one: <no value>, as Go says for a map)
 *   {{.}}                                the whole value
 *   {{json .Config.Env}}                 the value as JSON
 *   {{index .NetworkSettings.Ports "80/tcp"}}   a key that is not a name (one with a "/" or a ".")
 *
 * Values print as Go's fmt prints what JSON decodes to: text as is, [a b] for a list, map[k:v] (keys
 * sorted) for an object, <nil> for null. Anything else — range, if, pipes, functions — is refused in one
 * line, not half done.
 */

export class TemplateError extends Error {
  override name = 'TemplateError';
}

/** `template` filled in from `value`. */
export function renderTemplate(template: string, value: unknown): string {
  let out = '';
  let rest = template;
  for (;;) {
    const open = rest.indexOf('{{');
    if (open < 0) return out + rest;
    const close = rest.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateError(`template: unclosed action in "${template}"`);
    out += rest.slice(0, open) + evaluate(rest.slice(open + 2, close).trim(), value);
    rest = rest.slice(close + 2);
  }
}

function evaluate(action: string, value: unknown): string {
  const words = action.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
  if (words.length === 1 && words[0]!.startsWith('.')) return show(lookup(value, words[0]!));
  if (words.length === 2 && words[0] === 'json' && words[1]!.startsWith('.')) {
    const found = lookup(value, words[1]!);
    return JSON.stringify(found === NO_VALUE ? null : found);
  }
  if (words[0] === 'index' && words.length >= 3 && words[1]!.startsWith('.') && words.slice(2).every((word) => word.startsWith('"'))) {
    const keys = words.slice(2).map((word) => JSON.parse(word) as string);
    return show(keys.reduce<unknown>((inner, key) => field(inner, key), lookup(value, words[1]!)));
  }
  throw new TemplateError(`template: "{{${action}}}" is not supported: use {{.Field.Path}}, {{json .Field}} or {{index .Field "key"}}`);
}

const NO_VALUE = Symbol('no value');

/** `.A.B.C` in `value`; `.` is the value itself. */
function lookup(value: unknown, path: string): unknown {
  if (path === '.') return value;
  return path.slice(1).split('.').reduce<unknown>((inner, name) => field(inner, name), value);
}

function field(value: unknown, name: string): unknown {
  if (value === NO_VALUE || value === null || typeof value !== 'object' || !(name in value)) return NO_VALUE;
  return (value as Record<string, unknown>)[name];
}

/** As Go's fmt prints a decoded JSON value with %v. */
function show(value: unknown): string {
  if (value === NO_VALUE || value === undefined) return '<no value>';
  if (value === null) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(show).join(' ')}]`;
  if (typeof value === 'object') return `map[${Object.keys(value).sort().map((key) => `${key}:${show((value as Record<string, unknown>)[key])}`).join(' ')}]`;
  return String(value);
}
