// Every way reaching the upstream can fail has a stable code in the error table (src/shared/errors/codes.ts,
// docs/errors.md), in the log line's `code`. The client gets remote-connection-failed (WebSocket) or its BOSH
// equivalent for all.
import { CodedError, type ErrorCode } from '../../shared/errors/codes.ts';

export type UpstreamErrorCode = Extract<ErrorCode, `XWG_GW_UPSTREAM_${string}`>;

export class UpstreamError extends CodedError {
  declare readonly code: UpstreamErrorCode;
  constructor(code: UpstreamErrorCode, detail: string) {
    super(code, detail);
    this.name = 'UpstreamError';
  }
}
