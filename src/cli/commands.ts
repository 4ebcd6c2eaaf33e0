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
  sandbox: {
    summary: 'the whole product on this machine (no cluster needed), or installed into the kubeconfig\'s cluster',
    run: async (argv) => {
      // A source-checkout tool (it drives the test harness): not part of the built package, so not a literal import.
      const module = './sandbox.ts';
      const sandbox = (await import(module).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes('/cli/sandbox.')) return undefined;
        throw e;
      })) as { runSandbox(argv: string[]): Promise<number> } | undefined;
      if (!sandbox) {
        console.error('the sandbox runs from a source checkout: git clone, then `npm ci && npm run sandbox`');
        return 2;
      }
      return sandbox.runSandbox(argv);
    },
  },
};
