#!/usr/bin/env node
// The `xmpp-web-gateway` command. In a checkout it runs the TypeScript sources as they are (Node 24 strips the
// types; `npm ci` links this command into node_modules/.bin, so `npx xmpp-web-gateway …` works there); the
// installed package ships the compiled dist/ only, and runs that. The image runs dist/cli/main.js directly.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
await import(existsSync(sources) ? sources.href : new URL('../dist/cli/main.js', import.meta.url).href);
