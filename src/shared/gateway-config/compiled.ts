// @ts-nocheck
// Generated from schema.ts by compile.ts (`npm run gen`): do not edit. The check functions are TypeBox's
// TypeCompiler.Code output; they need nothing but the language.
import type { JsonSchema } from './defaults.ts';

export const GATEWAY_CONFIG_SCHEMA: JsonSchema = {
  "additionalProperties": false,
  "type": "object",
  "required": [
    "nodeName",
    "domains",
    "listen",
    "admin",
    "allowedOrigins",
    "websocket",
    "bosh",
    "upstream",
    "limits",
    "discovery",
    "drain",
    "log"
  ],
  "properties": {
    "nodeName": {
      "default": "",
      "description": "this node's name in the node list (used to point draining clients elsewhere)",
      "type": "string"
    },
    "domains": {
      "default": [],
      "description": "XMPP domains served; a stream to any other domain gets host-unknown. Empty: every domain goes to the default upstream (development)",
      "type": "array",
      "items": {
        "minLength": 1,
        "type": "string"
      }
    },
    "listen": {
      "additionalProperties": false,
      "default": {},
      "type": "object",
      "required": [
        "host",
        "port",
        "tlsPort",
        "certDir",
        "defaultCert",
        "proxyProtocol",
        "trustedProxies",
        "headerTimeoutMs",
        "requestTimeoutMs"
      ],
      "properties": {
        "host": {
          "default": "127.0.0.1",
          "description": "address of the HTTP listener",
          "type": "string"
        },
        "port": {
          "minimum": 0,
          "maximum": 65535,
          "default": 5280,
          "description": "plain HTTP port (0: none)",
          "type": "integer"
        },
        "tlsPort": {
          "minimum": 0,
          "maximum": 65535,
          "default": 0,
          "description": "HTTPS/WSS port (0: none)",
          "type": "integer"
        },
        "certDir": {
          "default": "",
          "description": "directory of certificates chosen by SNI: <name>.crt + <name>.key files, or sub-directories holding tls.crt + tls.key (a mounted Kubernetes TLS Secret); reloaded on change",
          "type": "string"
        },
        "defaultCert": {
          "default": "",
          "description": "certificate served when SNI matches none (file or directory base name); default: the first",
          "type": "string"
        },
        "proxyProtocol": {
          "default": false,
          "description": "expect a PROXY protocol v1/v2 header on every connection",
          "type": "boolean"
        },
        "trustedProxies": {
          "default": [],
          "description": "addresses or CIDRs whose X-Forwarded-For / Forwarded headers are believed",
          "type": "array",
          "items": {
            "type": "string"
          }
        },
        "headerTimeoutMs": {
          "minimum": 0,
          "default": 10000,
          "description": "time allowed for a request head (slowloris protection)",
          "type": "integer"
        },
        "requestTimeoutMs": {
          "minimum": 0,
          "default": 120000,
          "description": "time allowed for a whole request body",
          "type": "integer"
        }
      }
    },
    "admin": {
      "additionalProperties": false,
      "default": {},
      "type": "object",
      "required": [
        "host",
        "port",
        "publicProbes"
      ],
      "properties": {
        "host": {
          "default": "127.0.0.1",
          "description": "address of the admin listener (plain HTTP: /metrics, /healthz, /readyz); the operator sets 0.0.0.0 in pods, for the kubelet and Prometheus",
          "type": "string"
        },
        "port": {
          "minimum": 0,
          "maximum": 65535,
          "default": 9280,
          "description": "admin HTTP port, never the public ones (0: none)",
          "type": "integer"
        },
        "publicProbes": {
          "default": false,
          "description": "also answer /healthz and /readyz on the public listeners, for load balancers that can probe only the service port; /metrics is never served there",
          "type": "boolean"
        }
      }
    },
    "allowedOrigins": {
      "default": [],
      "description": "Origins allowed to open WebSockets and BOSH sessions (\"*\" or exact origins); empty: allow all, logged",
      "type": "array",
      "items": {
        "type": "string"
      }
    },
    "websocket": {
      "additionalProperties": false,
      "default": {},
      "type": "object",
      "required": [
        "enabled",
        "paths",
        "pingIntervalMs"
      ],
      "properties": {
        "enabled": {
          "default": true,
          "type": "boolean"
        },
        "paths": {
          "default": [
            "/xmpp-websocket",
            "/ws"
          ],
          "type": "array",
          "items": {
            "pattern": "^/",
            "type": "string"
          }
        },
        "pingIntervalMs": {
          "minimum": 0,
          "default": 25000,
          "description": "WebSocket ping toward the client; a peer that misses one is dropped (0: off)",
          "type": "integer"
        }
      }
    },
    "bosh": {
      "additionalProperties": false,
      "default": {},
      "type": "object",
      "required": [
        "enabled",
        "paths",
        "maxWait",
        "maxHold",
        "inactivity",
        "maxPause",
        "polling",
        "maxBodyBytes",
        "maxSessions",
        "maxSessionsPerAddress",
        "maxBufferedBytes",
        "gzip"
      ],
      "properties": {
        "enabled": {
          "default": true,
          "type": "boolean"
        },
        "paths": {
          "default": [
            "/http-bind",
            "/bosh"
          ],
          "type": "array",
          "items": {
            "pattern": "^/",
            "type": "string"
          }
        },
        "maxWait": {
          "minimum": 1,
          "default": 60,
          "description": "longest wait (seconds) granted to a client (XEP-0124 §7.1)",
          "type": "integer"
        },
        "maxHold": {
          "minimum": 1,
          "default": 1,
          "description": "most requests held at once",
          "type": "integer"
        },
        "inactivity": {
          "minimum": 1,
          "default": 60,
          "description": "seconds without a request before a session ends (§10)",
          "type": "integer"
        },
        "maxPause": {
          "minimum": 0,
          "default": 120,
          "description": "longest pause (seconds) a client may ask for (§10)",
          "type": "integer"
        },
        "polling": {
          "minimum": 0,
          "default": 2,
          "description": "shortest interval (seconds) between empty requests when none is held (§12)",
          "type": "integer"
        },
        "maxBodyBytes": {
          "minimum": 1,
          "default": 262144,
          "description": "largest request body",
          "type": "integer"
        },
        "maxSessions": {
          "minimum": 1,
          "default": 100000,
          "type": "integer"
        },
        "maxSessionsPerAddress": {
          "minimum": 1,
          "default": 100,
          "type": "integer"
        },
        "maxBufferedBytes": {
          "minimum": 1,
          "default": 1048576,
          "description": "data from upstream buffered for a session before it is ended",
          "type": "integer"
        },
        "gzip": {
          "default": true,
          "description": "gzip responses when the client accepts it",
          "type": "boolean"
        }
      }
    },
    "upstream": {
      "additionalProperties": false,
      "default": {},
      "type": "object",
      "required": [
        "domains",
        "connectTimeoutMs",
        "failedServerBackoffMs",
        "dns",
        "whitespaceKeepaliveMs"
      ],
      "properties": {
        "default": {
          "additionalProperties": false,
          "type": "object",
          "properties": {
            "host": {
              "minLength": 1,
              "description": "XMPP server host name or address (c2s); neither host nor servers: the domain's _xmpp-client._tcp / _xmpps-client._tcp SRV records (RFC 6120 §3.2.1, XEP-0368)",
              "type": "string"
            },
            "port": {
              "minimum": 1,
              "maximum": 65535,
              "description": "c2s port; default 5222, or 5223 with directTLS",
              "type": "integer"
            },
            "servers": {
              "minItems": 1,
              "description": "several servers instead of host: a failed connect moves on to the next, and a failed server is tried last for upstream.failedServerBackoffMs",
              "type": "array",
              "items": {
                "additionalProperties": false,
                "type": "object",
                "required": [
                  "host"
                ],
                "properties": {
                  "host": {
                    "minLength": 1,
                    "description": "XMPP server host name or address (c2s)",
                    "type": "string"
                  },
                  "port": {
                    "minimum": 1,
                    "maximum": 65535,
                    "description": "c2s port; default 5222, or 5223 with directTLS",
                    "type": "integer"
                  },
                  "priority": {
                    "minimum": 0,
                    "maximum": 65535,
                    "description": "lower is tried first; default 0",
                    "type": "integer"
                  },
                  "weight": {
                    "minimum": 0,
                    "maximum": 65535,
                    "description": "share among servers of one priority; all 0 (default): in list order",
                    "type": "integer"
                  }
                }
              }
            },
            "tls": {
              "description": "starttls: negotiate TLS inside the XMPP stream (RFC 6120 §5); directTLS: TLS from the first byte (XEP-0368); none: plain TCP, for loopback development only",
              "anyOf": [
                {
                  "const": "starttls",
                  "type": "string"
                },
                {
                  "const": "directTLS",
                  "type": "string"
                },
                {
                  "const": "none",
                  "type": "string"
                }
              ]
            },
            "proxyProtocol": {
              "description": "PROXY protocol header written as the first bytes of every upstream connection, carrying the client address the gateway determined: none (default), v1 (text) or v2 (binary, with the SNI/Host as PP2_TYPE_AUTHORITY and PP2_TYPE_SSL for TLS clients); the server must expect it",
              "anyOf": [
                {
                  "const": "none",
                  "type": "string"
                },
                {
                  "const": "v1",
                  "type": "string"
                },
                {
                  "const": "v2",
                  "type": "string"
                }
              ]
            },
            "caFile": {
              "description": "PEM file of CA certificates that sign the upstream certificate; default: system CAs",
              "type": "string"
            },
            "serverName": {
              "description": "name checked in the upstream certificate; default: the XMPP domain",
              "type": "string"
            },
            "insecureSkipVerify": {
              "description": "accept any upstream certificate: development only",
              "type": "boolean"
            }
          }
        },
        "domains": {
          "default": {},
          "description": "per-domain upstream, overriding the default",
          "type": "object",
          "patternProperties": {
            "^(.*)$": {
              "additionalProperties": false,
              "type": "object",
              "properties": {
                "host": {
                  "minLength": 1,
                  "description": "XMPP server host name or address (c2s); neither host nor servers: the domain's _xmpp-client._tcp / _xmpps-client._tcp SRV records (RFC 6120 §3.2.1, XEP-0368)",
                  "type": "string"
                },
                "port": {
                  "minimum": 1,
                  "maximum": 65535,
                  "description": "c2s port; default 5222, or 5223 with directTLS",
                  "type": "integer"
                },
                "servers": {
                  "minItems": 1,
                  "description": "several servers instead of host: a failed connect moves on to the next, and a failed server is tried last for upstream.failedServerBackoffMs",
                  "type": "array",
                  "items": {
                    "additionalProperties": false,
                    "type": "object",
                    "required": [
                      "host"
                    ],
                    "properties": {
                      "host": {
                        "minLength": 1,
                        "description": "XMPP server host name or address (c2s)",
                        "type": "string"
                      },
                      "port": {
                        "minimum": 1,
                        "maximum": 65535,
                        "description": "c2s port; default 5222, or 5223 with directTLS",
                        "type": "integer"
                      },
                      "priority": {
                        "minimum": 0,
                        "maximum": 65535,
                        "description": "lower is tried first; default 0",
                        "type": "integer"
                      },
                      "weight": {
                        "minimum": 0,
                        "maximum": 65535,
                        "description": "share among servers of one priority; all 0 (default): in list order",
                        "type": "integer"
                      }
                    }
                  }
                },
                "tls": {
                  "description": "starttls: negotiate TLS inside the XMPP stream (RFC 6120 §5); directTLS: TLS from the first byte (XEP-0368); none: plain TCP, for loopback development only",
                  "anyOf": [
                    {
                      "const": "starttls",
                      "type": "string"
                    },
                    {
                      "const": "directTLS",
                      "type": "string"
                    },
                    {
                      "const": "none",
                      "type": "string"
                    }
                  ]
                },
                "proxyProtocol": {
                  "description": "PROXY protocol header written as the first bytes of every upstream connection, carrying the client address the gateway determined: none (default), v1 (text) or v2 (binary, with the SNI/Host as PP2_TYPE_AUTHORITY and PP2_TYPE_SSL for TLS clients); the server must expect it",
                  "anyOf": [
                    {
                      "const": "none",
                      "type": "string"
                    },
                    {
                      "const": "v1",
                      "type": "string"
                    },
                    {
                      "const": "v2",
                      "type": "string"
                    }
                  ]
                },
                "caFile": {
                  "description": "PEM file of CA certificates that sign the upstream certificate; default: system CAs",
                  "type": "string"
                },
                "serverName": {
                  "description": "name checked in the upstream certificate; default: the XMPP domain",
                  "type": "string"
                },
                "insecureSkipVerify": {
                  "description": "accept any upstream certificate: development only",
                  "type": "boolean"
                }
              }
            }
          }
        },
        "connectTimeoutMs": {
          "minimum": 0,
          "default": 10000,
          "description": "limit for one server from TCP connect (with TLS) to its first stream features",
          "type": "integer"
        },
        "failedServerBackoffMs": {
          "minimum": 0,
          "default": 10000,
          "description": "a server whose connect failed is tried after the others for this long",
          "type": "integer"
        },
        "dns": {
          "additionalProperties": false,
          "default": {},
          "type": "object",
          "required": [
            "servers",
            "timeoutMs",
            "tries",
            "cacheMs"
          ],
          "properties": {
            "servers": {
              "default": [],
              "description": "DNS servers (\"192.0.2.53\", \"192.0.2.53:5353\", \"[2001:db8::53]:53\") for SRV records and upstream host names; empty: the system resolver",
              "type": "array",
              "items": {
                "minLength": 1,
                "type": "string"
              }
            },
            "timeoutMs": {
              "minimum": 0,
              "default": 2000,
              "description": "time for one DNS query before it is retried",
              "type": "integer"
            },
            "tries": {
              "minimum": 1,
              "default": 2,
              "description": "DNS queries per lookup and server",
              "type": "integer"
            },
            "cacheMs": {
              "minimum": 0,
              "default": 30000,
              "description": "time an SRV answer (or its failure) is reused for the same domain (0: every connection looks up)",
              "type": "integer"
            }
          }
        },
        "whitespaceKeepaliveMs": {
          "minimum": 0,
          "default": 60000,
          "description": "whitespace keepalive toward the upstream (0: off)",
          "type": "integer"
        }
      }
    },
    "limits": {
      "additionalProperties": false,
      "default": {},
      "type": "object",
      "required": [
        "maxStanzaBytes",
        "maxDepth",
        "maxAttributes",
        "maxConnections",
        "maxConnectionsPerAddress",
        "maxBufferedBytes",
        "openTimeoutMs"
      ],
      "properties": {
        "maxStanzaBytes": {
          "minimum": 1,
          "default": 262144,
          "description": "largest stanza either way; larger gets policy-violation",
          "type": "integer"
        },
        "maxDepth": {
          "minimum": 2,
          "default": 64,
          "description": "deepest element nesting inside a stanza",
          "type": "integer"
        },
        "maxAttributes": {
          "minimum": 1,
          "default": 256,
          "description": "most attributes on one element",
          "type": "integer"
        },
        "maxConnections": {
          "minimum": 1,
          "default": 100000,
          "type": "integer"
        },
        "maxConnectionsPerAddress": {
          "minimum": 1,
          "default": 200,
          "type": "integer"
        },
        "maxBufferedBytes": {
          "minimum": 1,
          "default": 4194304,
          "description": "bytes queued toward a client that does not read before it is dropped",
          "type": "integer"
        },
        "openTimeoutMs": {
          "minimum": 0,
          "default": 10000,
          "description": "time from the WebSocket handshake to the client's <open/> before the connection is dropped",
          "type": "integer"
        }
      }
    },
    "discovery": {
      "additionalProperties": false,
      "default": {},
      "type": "object",
      "required": [
        "nodesFile",
        "nodes",
        "publicScheme"
      ],
      "properties": {
        "nodesFile": {
          "default": "",
          "description": "JSON node list (the operator mounts it); reloaded on change",
          "type": "string"
        },
        "nodes": {
          "default": [],
          "description": "node list for standalone use, when no nodesFile",
          "type": "array",
          "items": {
            "additionalProperties": false,
            "type": "object",
            "required": [
              "name",
              "host",
              "ready"
            ],
            "properties": {
              "name": {
                "minLength": 1,
                "type": "string"
              },
              "host": {
                "minLength": 1,
                "description": "public host name under which browsers reach this node",
                "type": "string"
              },
              "websocketUrl": {
                "type": "string"
              },
              "boshUrl": {
                "type": "string"
              },
              "ready": {
                "default": true,
                "type": "boolean"
              }
            }
          }
        },
        "publicScheme": {
          "default": "auto",
          "description": "scheme of published URLs: secure (wss/https), plain (ws/http), auto: secure when a TLS port is configured",
          "anyOf": [
            {
              "const": "auto",
              "type": "string"
            },
            {
              "const": "secure",
              "type": "string"
            },
            {
              "const": "plain",
              "type": "string"
            }
          ]
        }
      }
    },
    "drain": {
      "additionalProperties": false,
      "default": {},
      "type": "object",
      "required": [
        "deadlineMs"
      ],
      "properties": {
        "deadlineMs": {
          "minimum": 0,
          "default": 20000,
          "description": "time to close every stream on SIGTERM before exiting",
          "type": "integer"
        }
      }
    },
    "log": {
      "additionalProperties": false,
      "default": {},
      "type": "object",
      "required": [
        "level"
      ],
      "properties": {
        "level": {
          "default": "info",
          "anyOf": [
            {
              "const": "fatal",
              "type": "string"
            },
            {
              "const": "error",
              "type": "string"
            },
            {
              "const": "warn",
              "type": "string"
            },
            {
              "const": "info",
              "type": "string"
            },
            {
              "const": "debug",
              "type": "string"
            },
            {
              "const": "trace",
              "type": "string"
            },
            {
              "const": "silent",
              "type": "string"
            }
          ]
        }
      }
    }
  }
};

export const checkGatewayConfig: (value: unknown) => boolean = (() => {
const local_0 = /^\//;
const local_1 = /^\//;
const local_2 = /^(.*)$/
return function check(value) {
  return (
    (typeof value === 'object' && value !== null && !Array.isArray(value)) &&
    (typeof value['nodeName'] === 'string') &&
    Array.isArray(value['domains']) &&
    ((array) => { for(const value of array) if(!(((typeof value === 'string') && value.length >= 1))) { return false }; return true; })(value['domains']) &&
    (typeof value['listen'] === 'object' && value['listen'] !== null && !Array.isArray(value['listen'])) &&
    (typeof value['listen']['host'] === 'string') &&
    Number.isInteger(value['listen']['port']) &&
    value['listen']['port'] <= 65535 &&
    value['listen']['port'] >= 0 &&
    Number.isInteger(value['listen']['tlsPort']) &&
    value['listen']['tlsPort'] <= 65535 &&
    value['listen']['tlsPort'] >= 0 &&
    (typeof value['listen']['certDir'] === 'string') &&
    (typeof value['listen']['defaultCert'] === 'string') &&
    (typeof value['listen']['proxyProtocol'] === 'boolean') &&
    Array.isArray(value['listen']['trustedProxies']) &&
    ((array) => { for(const value of array) if(!(((typeof value === 'string')))) { return false }; return true; })(value['listen']['trustedProxies']) &&
    Number.isInteger(value['listen']['headerTimeoutMs']) &&
    value['listen']['headerTimeoutMs'] >= 0 &&
    Number.isInteger(value['listen']['requestTimeoutMs']) &&
    value['listen']['requestTimeoutMs'] >= 0 &&
    Object.getOwnPropertyNames(value['listen']).length === 9 &&
    (typeof value['admin'] === 'object' && value['admin'] !== null && !Array.isArray(value['admin'])) &&
    (typeof value['admin']['host'] === 'string') &&
    Number.isInteger(value['admin']['port']) &&
    value['admin']['port'] <= 65535 &&
    value['admin']['port'] >= 0 &&
    (typeof value['admin']['publicProbes'] === 'boolean') &&
    Object.getOwnPropertyNames(value['admin']).length === 3 &&
    Array.isArray(value['allowedOrigins']) &&
    ((array) => { for(const value of array) if(!(((typeof value === 'string')))) { return false }; return true; })(value['allowedOrigins']) &&
    (typeof value['websocket'] === 'object' && value['websocket'] !== null && !Array.isArray(value['websocket'])) &&
    (typeof value['websocket']['enabled'] === 'boolean') &&
    Array.isArray(value['websocket']['paths']) &&
    ((array) => { for(const value of array) if(!(((typeof value === 'string') && local_0.test(value)))) { return false }; return true; })(value['websocket']['paths']) &&
    Number.isInteger(value['websocket']['pingIntervalMs']) &&
    value['websocket']['pingIntervalMs'] >= 0 &&
    Object.getOwnPropertyNames(value['websocket']).length === 3 &&
    (typeof value['bosh'] === 'object' && value['bosh'] !== null && !Array.isArray(value['bosh'])) &&
    (typeof value['bosh']['enabled'] === 'boolean') &&
    Array.isArray(value['bosh']['paths']) &&
    ((array) => { for(const value of array) if(!(((typeof value === 'string') && local_1.test(value)))) { return false }; return true; })(value['bosh']['paths']) &&
    Number.isInteger(value['bosh']['maxWait']) &&
    value['bosh']['maxWait'] >= 1 &&
    Number.isInteger(value['bosh']['maxHold']) &&
    value['bosh']['maxHold'] >= 1 &&
    Number.isInteger(value['bosh']['inactivity']) &&
    value['bosh']['inactivity'] >= 1 &&
    Number.isInteger(value['bosh']['maxPause']) &&
    value['bosh']['maxPause'] >= 0 &&
    Number.isInteger(value['bosh']['polling']) &&
    value['bosh']['polling'] >= 0 &&
    Number.isInteger(value['bosh']['maxBodyBytes']) &&
    value['bosh']['maxBodyBytes'] >= 1 &&
    Number.isInteger(value['bosh']['maxSessions']) &&
    value['bosh']['maxSessions'] >= 1 &&
    Number.isInteger(value['bosh']['maxSessionsPerAddress']) &&
    value['bosh']['maxSessionsPerAddress'] >= 1 &&
    Number.isInteger(value['bosh']['maxBufferedBytes']) &&
    value['bosh']['maxBufferedBytes'] >= 1 &&
    (typeof value['bosh']['gzip'] === 'boolean') &&
    Object.getOwnPropertyNames(value['bosh']).length === 12 &&
    (typeof value['upstream'] === 'object' && value['upstream'] !== null && !Array.isArray(value['upstream'])) &&
    (value['upstream']['default'] !== undefined ? ((typeof value['upstream']['default'] === 'object' && value['upstream']['default'] !== null && !Array.isArray(value['upstream']['default'])) && (value['upstream']['default']['host'] !== undefined ? ((typeof value['upstream']['default']['host'] === 'string') && value['upstream']['default']['host'].length >= 1) : true) && (value['upstream']['default']['port'] !== undefined ? (Number.isInteger(value['upstream']['default']['port']) && value['upstream']['default']['port'] <= 65535 && value['upstream']['default']['port'] >= 1) : true) && (value['upstream']['default']['servers'] !== undefined ? (Array.isArray(value['upstream']['default']['servers']) && value['upstream']['default']['servers'].length >= 1 && ((array) => { for(const value of array) if(!(((typeof value === 'object' && value !== null && !Array.isArray(value)) && (typeof value['host'] === 'string') && value['host'].length >= 1 && (value['port'] !== undefined ? (Number.isInteger(value['port']) && value['port'] <= 65535 && value['port'] >= 1) : true) && (value['priority'] !== undefined ? (Number.isInteger(value['priority']) && value['priority'] <= 65535 && value['priority'] >= 0) : true) && (value['weight'] !== undefined ? (Number.isInteger(value['weight']) && value['weight'] <= 65535 && value['weight'] >= 0) : true) && Object.getOwnPropertyNames(value).every(key => ['host', 'port', 'priority', 'weight'].includes(key))))) { return false }; return true; })(value['upstream']['default']['servers'])) : true) && (value['upstream']['default']['tls'] !== undefined ? ((((value['upstream']['default']['tls'] === 'starttls')) || ((value['upstream']['default']['tls'] === 'directTLS')) || ((value['upstream']['default']['tls'] === 'none')))) : true) && (value['upstream']['default']['proxyProtocol'] !== undefined ? ((((value['upstream']['default']['proxyProtocol'] === 'none')) || ((value['upstream']['default']['proxyProtocol'] === 'v1')) || ((value['upstream']['default']['proxyProtocol'] === 'v2')))) : true) && (value['upstream']['default']['caFile'] !== undefined ? ((typeof value['upstream']['default']['caFile'] === 'string')) : true) && (value['upstream']['default']['serverName'] !== undefined ? ((typeof value['upstream']['default']['serverName'] === 'string')) : true) && (value['upstream']['default']['insecureSkipVerify'] !== undefined ? ((typeof value['upstream']['default']['insecureSkipVerify'] === 'boolean')) : true) && Object.getOwnPropertyNames(value['upstream']['default']).every(key => ['host', 'port', 'servers', 'tls', 'proxyProtocol', 'caFile', 'serverName', 'insecureSkipVerify'].includes(key))) : true) &&
    (typeof value['upstream']['domains'] === 'object' && value['upstream']['domains'] !== null && !Array.isArray(value['upstream']['domains']) && !(value['upstream']['domains'] instanceof Date) && !(value['upstream']['domains'] instanceof Uint8Array)) &&
    (Object.entries(value['upstream']['domains']).every(([key, value]) => (local_2.test(key) ? ((typeof value === 'object' && value !== null && !Array.isArray(value)) && (value['host'] !== undefined ? ((typeof value['host'] === 'string') && value['host'].length >= 1) : true) && (value['port'] !== undefined ? (Number.isInteger(value['port']) && value['port'] <= 65535 && value['port'] >= 1) : true) && (value['servers'] !== undefined ? (Array.isArray(value['servers']) && value['servers'].length >= 1 && ((array) => { for(const value of array) if(!(((typeof value === 'object' && value !== null && !Array.isArray(value)) && (typeof value['host'] === 'string') && value['host'].length >= 1 && (value['port'] !== undefined ? (Number.isInteger(value['port']) && value['port'] <= 65535 && value['port'] >= 1) : true) && (value['priority'] !== undefined ? (Number.isInteger(value['priority']) && value['priority'] <= 65535 && value['priority'] >= 0) : true) && (value['weight'] !== undefined ? (Number.isInteger(value['weight']) && value['weight'] <= 65535 && value['weight'] >= 0) : true) && Object.getOwnPropertyNames(value).every(key => ['host', 'port', 'priority', 'weight'].includes(key))))) { return false }; return true; })(value['servers'])) : true) && (value['tls'] !== undefined ? ((((value['tls'] === 'starttls')) || ((value['tls'] === 'directTLS')) || ((value['tls'] === 'none')))) : true) && (value['proxyProtocol'] !== undefined ? ((((value['proxyProtocol'] === 'none')) || ((value['proxyProtocol'] === 'v1')) || ((value['proxyProtocol'] === 'v2')))) : true) && (value['caFile'] !== undefined ? ((typeof value['caFile'] === 'string')) : true) && (value['serverName'] !== undefined ? ((typeof value['serverName'] === 'string')) : true) && (value['insecureSkipVerify'] !== undefined ? ((typeof value['insecureSkipVerify'] === 'boolean')) : true) && Object.getOwnPropertyNames(value).every(key => ['host', 'port', 'servers', 'tls', 'proxyProtocol', 'caFile', 'serverName', 'insecureSkipVerify'].includes(key))) : true))) &&
    Number.isInteger(value['upstream']['connectTimeoutMs']) &&
    value['upstream']['connectTimeoutMs'] >= 0 &&
    Number.isInteger(value['upstream']['failedServerBackoffMs']) &&
    value['upstream']['failedServerBackoffMs'] >= 0 &&
    (typeof value['upstream']['dns'] === 'object' && value['upstream']['dns'] !== null && !Array.isArray(value['upstream']['dns'])) &&
    Array.isArray(value['upstream']['dns']['servers']) &&
    ((array) => { for(const value of array) if(!(((typeof value === 'string') && value.length >= 1))) { return false }; return true; })(value['upstream']['dns']['servers']) &&
    Number.isInteger(value['upstream']['dns']['timeoutMs']) &&
    value['upstream']['dns']['timeoutMs'] >= 0 &&
    Number.isInteger(value['upstream']['dns']['tries']) &&
    value['upstream']['dns']['tries'] >= 1 &&
    Number.isInteger(value['upstream']['dns']['cacheMs']) &&
    value['upstream']['dns']['cacheMs'] >= 0 &&
    Object.getOwnPropertyNames(value['upstream']['dns']).length === 4 &&
    Number.isInteger(value['upstream']['whitespaceKeepaliveMs']) &&
    value['upstream']['whitespaceKeepaliveMs'] >= 0 &&
    Object.getOwnPropertyNames(value['upstream']).every(key => ['default', 'domains', 'connectTimeoutMs', 'failedServerBackoffMs', 'dns', 'whitespaceKeepaliveMs'].includes(key)) &&
    (typeof value['limits'] === 'object' && value['limits'] !== null && !Array.isArray(value['limits'])) &&
    Number.isInteger(value['limits']['maxStanzaBytes']) &&
    value['limits']['maxStanzaBytes'] >= 1 &&
    Number.isInteger(value['limits']['maxDepth']) &&
    value['limits']['maxDepth'] >= 2 &&
    Number.isInteger(value['limits']['maxAttributes']) &&
    value['limits']['maxAttributes'] >= 1 &&
    Number.isInteger(value['limits']['maxConnections']) &&
    value['limits']['maxConnections'] >= 1 &&
    Number.isInteger(value['limits']['maxConnectionsPerAddress']) &&
    value['limits']['maxConnectionsPerAddress'] >= 1 &&
    Number.isInteger(value['limits']['maxBufferedBytes']) &&
    value['limits']['maxBufferedBytes'] >= 1 &&
    Number.isInteger(value['limits']['openTimeoutMs']) &&
    value['limits']['openTimeoutMs'] >= 0 &&
    Object.getOwnPropertyNames(value['limits']).length === 7 &&
    (typeof value['discovery'] === 'object' && value['discovery'] !== null && !Array.isArray(value['discovery'])) &&
    (typeof value['discovery']['nodesFile'] === 'string') &&
    Array.isArray(value['discovery']['nodes']) &&
    ((array) => { for(const value of array) if(!(((typeof value === 'object' && value !== null && !Array.isArray(value)) && (typeof value['name'] === 'string') && value['name'].length >= 1 && (typeof value['host'] === 'string') && value['host'].length >= 1 && (value['websocketUrl'] !== undefined ? ((typeof value['websocketUrl'] === 'string')) : true) && (value['boshUrl'] !== undefined ? ((typeof value['boshUrl'] === 'string')) : true) && (typeof value['ready'] === 'boolean') && Object.getOwnPropertyNames(value).every(key => ['name', 'host', 'websocketUrl', 'boshUrl', 'ready'].includes(key))))) { return false }; return true; })(value['discovery']['nodes']) &&
    (((value['discovery']['publicScheme'] === 'auto')) || ((value['discovery']['publicScheme'] === 'secure')) || ((value['discovery']['publicScheme'] === 'plain'))) &&
    Object.getOwnPropertyNames(value['discovery']).length === 3 &&
    (typeof value['drain'] === 'object' && value['drain'] !== null && !Array.isArray(value['drain'])) &&
    Number.isInteger(value['drain']['deadlineMs']) &&
    value['drain']['deadlineMs'] >= 0 &&
    Object.getOwnPropertyNames(value['drain']).length === 1 &&
    (typeof value['log'] === 'object' && value['log'] !== null && !Array.isArray(value['log'])) &&
    (((value['log']['level'] === 'fatal')) || ((value['log']['level'] === 'error')) || ((value['log']['level'] === 'warn')) || ((value['log']['level'] === 'info')) || ((value['log']['level'] === 'debug')) || ((value['log']['level'] === 'trace')) || ((value['log']['level'] === 'silent'))) &&
    Object.getOwnPropertyNames(value['log']).length === 1 &&
    Object.getOwnPropertyNames(value).length === 12
  )
}
})();

export const NODE_LIST_SCHEMA: JsonSchema = {
  "additionalProperties": false,
  "type": "object",
  "required": [
    "version",
    "domains",
    "nodes"
  ],
  "properties": {
    "version": {
      "default": "0",
      "description": "changes whenever the list changes",
      "type": "string"
    },
    "domains": {
      "default": [],
      "type": "array",
      "items": {
        "type": "string"
      }
    },
    "nodes": {
      "default": [],
      "type": "array",
      "items": {
        "additionalProperties": false,
        "type": "object",
        "required": [
          "name",
          "host",
          "ready"
        ],
        "properties": {
          "name": {
            "minLength": 1,
            "type": "string"
          },
          "host": {
            "minLength": 1,
            "description": "public host name under which browsers reach this node",
            "type": "string"
          },
          "websocketUrl": {
            "type": "string"
          },
          "boshUrl": {
            "type": "string"
          },
          "ready": {
            "default": true,
            "type": "boolean"
          }
        }
      }
    }
  }
};

export const checkNodeList: (value: unknown) => boolean = (() => {
return function check(value) {
  return (
    (typeof value === 'object' && value !== null && !Array.isArray(value)) &&
    (typeof value['version'] === 'string') &&
    Array.isArray(value['domains']) &&
    ((array) => { for(const value of array) if(!(((typeof value === 'string')))) { return false }; return true; })(value['domains']) &&
    Array.isArray(value['nodes']) &&
    ((array) => { for(const value of array) if(!(((typeof value === 'object' && value !== null && !Array.isArray(value)) && (typeof value['name'] === 'string') && value['name'].length >= 1 && (typeof value['host'] === 'string') && value['host'].length >= 1 && (value['websocketUrl'] !== undefined ? ((typeof value['websocketUrl'] === 'string')) : true) && (value['boshUrl'] !== undefined ? ((typeof value['boshUrl'] === 'string')) : true) && (typeof value['ready'] === 'boolean') && Object.getOwnPropertyNames(value).every(key => ['name', 'host', 'websocketUrl', 'boshUrl', 'ready'].includes(key))))) { return false }; return true; })(value['nodes']) &&
    Object.getOwnPropertyNames(value).length === 3
  )
}
})();
