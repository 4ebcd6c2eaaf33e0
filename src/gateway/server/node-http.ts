// node:http and node:https as CommonJS modules. An ESM `import ... from 'node:http'` builds the module's
// namespace, which reads every export, among them the lazy WebSocket, CloseEvent and MessageEvent getters that
// load undici: about 13 MiB of RSS in every gateway process for a WebSocket client it never uses.
// Types still come from `import type` of the modules themselves.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const nodeHttp = require('node:http') as typeof import('node:http');
export const nodeHttps = require('node:https') as typeof import('node:https');
