/**
 * Moving a TypeScript module to another folder without breaking its imports.
 *
 * The student's copy of a lesson lives one level deeper than the reference (workshop/lessons/NN-slug/
 * instead of lessons/NN-slug/), so `../../src/sys/syscalls.js` has to become `../../../src/sys/syscalls.js`.
 * Imports between lessons (`../01-uts/uts.js`) are left alone on purpose: in the workshop they then
 * resolve to the student's own copy of the earlier lesson.
 *
 * We use the TypeScript parser to find the module specifiers, because import statements can span several
 * lines and also appear as `export ... from`, `import('...')` and `typeof import('...')`.
 */
import path from 'node:path';
import ts from 'typescript';

interface Edit {
  start: number;
  end: number;
  text: string;
}

function parse(source: string, fileName: string): ts.SourceFile {
  return ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

/** The string literals that name modules: static and dynamic imports, re-exports, import types. */
function moduleSpecifiers(file: ts.SourceFile): ts.StringLiteralLike[] {
  const found: ts.StringLiteralLike[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const first = node.arguments[0];
      if (first && ts.isStringLiteralLike(first)) found.push(first);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal);
    } else if (ts.isExternalModuleReference(node) && ts.isStringLiteral(node.expression)) {
      found.push(node.expression);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** The module specifiers a TypeScript source names, in order (used by scripts/deps.ts too). */
export function importedModules(source: string, fileName: string): string[] {
  return moduleSpecifiers(parse(source, fileName)).map((literal) => literal.text);
}

/** The specifier that reaches `target` from a module in `fromDir`: always "./" or "../" and "/" separators. */
export function relativeSpecifier(fromDir: string, target: string): string {
  const relative = path.relative(fromDir, target).split(path.sep).join('/');
  return relative.startsWith('.') ? relative : `./${relative}`;
}

function isInside(file: string, dir: string): boolean {
  const relative = path.relative(dir, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

export interface Move {
  /** Where the module is now (absolute). */
  from: string;
  /** Where it is going (absolute). */
  to: string;
  /** Relative imports that land inside this folder keep their text: the copies sit side by side there too. */
  keepInside: string;
}

/** Plans the edits that keep a module's relative imports pointing at the same files after `move`. */
function relocationEdits(file: ts.SourceFile, move: Move): Edit[] {
  const edits: Edit[] = [];
  for (const literal of moduleSpecifiers(file)) {
    const specifier = literal.text;
    if (!specifier.startsWith('./') && !specifier.startsWith('../')) continue; // packages and node: builtins
    const target = path.resolve(path.dirname(move.from), specifier);
    if (isInside(target, move.keepInside)) continue;
    // Keep the quote characters: replace only what is between them.
    edits.push({ start: literal.getStart(file) + 1, end: literal.getEnd() - 1, text: relativeSpecifier(path.dirname(move.to), target) });
  }
  return edits;
}

/** Where a new import line goes: after the last import of the file, or after a detached header comment. */
function importInsertionOffset(file: ts.SourceFile): number {
  const imports = file.statements.filter((s) => ts.isImportDeclaration(s) || ts.isImportEqualsDeclaration(s));
  const last = imports.at(-1);
  if (last) return endOfLine(file.text, last.getEnd());
  // No imports: keep a file header comment (one followed by a blank line) above the new import.
  let offset = 0;
  for (const comment of ts.getLeadingCommentRanges(file.text, 0) ?? []) {
    const after = file.text.slice(comment.end);
    if (/^[ \t]*\r?\n[ \t]*\r?\n/.test(after)) offset = endOfLine(file.text, comment.end);
  }
  return offset;
}

function endOfLine(text: string, offset: number): number {
  const newline = text.indexOf('\n', offset);
  return newline === -1 ? text.length : newline + 1;
}

/** True when the file already has an import that binds `name` (then adding another would clash). */
function importsName(file: ts.SourceFile, name: string): boolean {
  return file.statements.some((s) => {
    if (!ts.isImportDeclaration(s) || !s.importClause) return false;
    const { name: defaultName, namedBindings } = s.importClause;
    if (defaultName?.text === name) return true;
    if (namedBindings && ts.isNamedImports(namedBindings)) return namedBindings.elements.some((e) => e.name.text === name);
    return namedBindings?.name.text === name;
  });
}

export interface RewriteOptions {
  move?: Move;
  /** An import to add after the file's imports, unless the file already imports `name` from somewhere. */
  addImport?: { name: string; line: string };
}

/** Applies import relocation and/or one added import line to a module's source text. */
export function rewriteModule(source: string, fileName: string, options: RewriteOptions): string {
  const file = parse(source, fileName);
  const edits: Edit[] = options.move ? relocationEdits(file, options.move) : [];
  if (options.addImport && !importsName(file, options.addImport.name)) {
    const offset = importInsertionOffset(file);
    const eol = source.includes('\r\n') ? '\r\n' : '\n';
    // At the very end of a file without a final newline, start a new line first.
    const prefix = offset > 0 && source[offset - 1] !== '\n' ? eol : '';
    edits.push({ start: offset, end: offset, text: `${prefix}${options.addImport.line}${eol}` });
  }
  // Apply from the end so earlier offsets stay valid.
  let text = source;
  for (const edit of edits.sort((a, b) => b.start - a.start)) text = text.slice(0, edit.start) + edit.text + text.slice(edit.end);
  return text;
}
