// Cross-site WebSocket hijacking protection and BOSH CORS: one allowlist for both.

export interface OriginPolicy {
  /** Whether a request with this Origin header (undefined: not a browser) may proceed. */
  allows(origin: string | undefined): boolean;
}

export function createOriginPolicy(allowed: readonly string[], onOpenOrigin: (origin: string) => void): OriginPolicy {
  const exact = new Set(allowed.map((o) => o.toLowerCase()));
  const any = allowed.length === 0 || exact.has('*');
  const logged = new Set<string>();
  return {
    allows(origin) {
      // Non-browser clients send no Origin; the allowlist protects browsers' ambient credentials.
      if (origin === undefined) return true;
      if (any) {
        if (allowed.length === 0 && !logged.has(origin) && logged.size < 1000) {
          logged.add(origin);
          onOpenOrigin(origin);
        }
        return true;
      }
      return exact.has(origin.toLowerCase());
    },
  };
}
