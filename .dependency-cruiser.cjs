// Import rules for the tree, checked by `npm run depcheck` (the first step of `npm test`).
// docs/development.md explains the layout these rules keep: src/ ships in the image, everything else develops it.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'src-imports-no-dev-code',
      comment: 'src/ is what the image ships; development tooling (dev/, test/, bench/, scripts/) may import src/, never the reverse.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(dev|test|bench|scripts)/' },
    },
    {
      name: 'src-imports-no-dev-dependency',
      comment: 'The image has production dependencies only (npm prune --omit=dev): a devDependency imported from src/ is missing there.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'client-is-browser-only',
      comment: 'src/client ships to browsers as it is: no Node modules, no npm packages, no other src/ folder.',
      severity: 'error',
      from: { path: '^src/client/' },
      to: { pathNot: '^src/client/' },
    },
    {
      name: 'gateway-and-operator-share-only-shared',
      comment: 'The gateway and the operator are two programs in one image: they share src/shared and nothing else.',
      severity: 'error',
      from: { path: '^src/gateway/' },
      to: { path: '^src/(operator|cli|client)/' },
    },
    {
      name: 'operator-and-gateway-share-only-shared',
      comment: 'The gateway and the operator are two programs in one image: they share src/shared and nothing else.',
      severity: 'error',
      from: { path: '^src/operator/' },
      to: { path: '^src/(gateway|cli|client)/' },
    },
    {
      name: 'shared-is-a-leaf',
      comment: 'src/shared is what both programs read (the gateway configuration schema, the error table); it imports no program.',
      severity: 'error',
      from: { path: '^src/shared/' },
      to: { path: '^src/(gateway|operator|cli|client)/' },
    },
    {
      name: 'shared-has-no-io',
      comment: 'src/shared is pure (schemas and tables): no Node modules.',
      severity: 'error',
      from: { path: '^src/shared/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'operator-desired-is-pure',
      comment: 'src/operator/desired builds objects from a spec: no I/O (node:crypto only for hashes and reading certificates).',
      severity: 'error',
      from: { path: '^src/operator/desired/' },
      to: { dependencyTypes: ['core'], pathNot: '^(node:)?crypto$' },
    },
    {
      name: 'operator-desired-generates-no-keys',
      comment: 'Key generation (the X.509 builder and its ASN.1 schema) lives in src/operator/controller/certificates.',
      severity: 'error',
      from: { path: '^src/operator/desired/' },
      to: { path: '(^|/)node_modules/(@peculiar/|reflect-metadata/)' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve fails at run time.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-circular-in-src',
      comment: 'Module cycles in shipped code make load order matter.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
    },
    exclude: { path: '^dist/' },
  },
};
