// How the command line reports an error: its code from the table (docs/errors.md), then the message.
import { codeOf, formatCoded, type ErrorCode } from '../shared/errors/codes.ts';

export function printError(code: ErrorCode, message: string): void {
  console.error(formatCoded(code, message));
}

/** An error that escaped a command: its own code when it has one, else a bug (with the stack). */
export function printUnexpected(e: unknown): void {
  const code = codeOf(e);
  if (code) printError(code, e instanceof Error ? e.message : String(e));
  else printError('XWG_CLI_INTERNAL', e instanceof Error ? (e.stack ?? e.message) : String(e));
}
