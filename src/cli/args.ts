// Parsing a subcommand's options the same way everywhere: a usage error prints its code and the help (exit 2),
// --help prints the help (exit 0).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { printError } from './errors.ts';

/** The parsed options, or the exit code when the command is done (help shown, or a usage error). */
export function parseCommandLine<const T extends ParseArgsConfig>(config: T, help: string): ReturnType<typeof parseArgs<T>> | number {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs(config);
  } catch (e) {
    printError('XWG_CLI_USAGE', `${e instanceof Error ? e.message : String(e)}\n\n${help}`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(help);
    return 0;
  }
  return parsed;
}
