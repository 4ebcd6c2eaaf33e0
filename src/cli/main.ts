#!/usr/bin/env node
// xmpp-web-gateway <subcommand>: one entry point for the gateway, the operator and the tools.
import { commands } from './commands.ts';
import { printError, printUnexpected } from './errors.ts';

const [name, ...rest] = process.argv.slice(2);
const usage = `usage: xmpp-web-gateway <command> [options]

commands:
${Object.entries(commands)
  .map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run "xmpp-web-gateway <command> --help" for a command's options.`;

if (!name || name === '--help' || name === '-h' || name === 'help') {
  console.log(usage);
  process.exit(name ? 0 : 2);
}
const command = commands[name];
if (!command) {
  printError('XWG_CLI_UNKNOWN_COMMAND', `unknown command ${JSON.stringify(name)}\n\n${usage}`);
  process.exit(2);
}
// A number means the command is done; nothing means it keeps running (servers) until a signal.
let code: number | void;
try {
  code = await command.run(rest);
} catch (e) {
  printUnexpected(e);
  code = 1;
}
if (typeof code === 'number') process.exit(code);
