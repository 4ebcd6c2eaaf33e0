// The subcommands; each module is loaded only when its command runs.
export interface Command {
  summary: string;
  run(argv: string[]): Promise<number | void>;
}

export const commands: Record<string, Command> = {
  gateway: {
    summary: 'run a gateway node (WebSocket and BOSH to an upstream XMPP server)',
    run: async (argv) => (await import('./gateway.ts')).runGateway(argv),
  },
};
