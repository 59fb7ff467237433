/**
 * Finds a test's source code, for the `test_code` field of results.json: the body of the function
 * passed to the `test(...)`/`graded(...)` call that starts on a given line.
 */
import ts from 'typescript';

/** Removes the indentation the lines share, so the code reads as if it stood alone. */
function dedent(text: string): string {
  const lines = text.replace(/^\s*\n/, '').replace(/\s+$/, '').split('\n');
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^\s*/.exec(l)?.[0].length ?? 0);
  const common = Math.min(...indents);
  return lines.map((l) => l.slice(common)).join('\n');
}

/** The test function's body for the call starting on `line` (1-based), or undefined when there is none. */
export function testCodeAt(source: string, line: number, fileName = 'test.ts'): string | undefined {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  let found: string | undefined;
  const visit = (node: ts.Node): void => {
    if (found !== undefined) return;
    if (ts.isCallExpression(node) && file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1 === line) {
      const fn = [...node.arguments].reverse().find((a) => ts.isArrowFunction(a) || ts.isFunctionExpression(a));
      if (fn && (ts.isArrowFunction(fn) || ts.isFunctionExpression(fn))) {
        const body = fn.body;
        found = ts.isBlock(body) ? dedent(source.slice(body.getStart(file) + 1, body.getEnd() - 1)) : body.getText(file);
        return;
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}
