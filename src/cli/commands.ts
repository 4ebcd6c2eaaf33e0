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
  operator: {
    summary: 'run the Kubernetes operator (XmppWebGateway resources to gateway nodes)',
    run: async (argv) => (await import('./operator.ts')).runOperator(argv),
  },
  render: {
    summary: 'print the objects the operator would apply for XmppWebGateway resources, offline',
    run: async (argv) => (await import('./render.ts')).runRender(argv),
  },
  validate: {
    summary: 'check XmppWebGateway resources against the CRD schema and rules, offline',
    run: async (argv) => (await import('./validate.ts')).runValidate(argv),
  },
};
