// Back-pressure between a client and its upstream stream: how much the gateway holds toward a peer that does not
// read before it stops reading from the other side, so that TCP flow control slows the sender instead of the
// gateway buffering for it. Reading resumes once what was held has drained (Node's 'drain': the queue is empty),
// the way stream.pipe() does. The drop after maxBufferedBytes stays behind it as the last resort.

const MAX_HIGH_WATER = 64 * 1024;

/**
 * Bytes held toward one peer above which the other side is paused: 64 KiB, or a quarter of the drop limit when
 * that is smaller, so that one more read (up to 64 KiB) after the pause still fits under the limit.
 */
export function highWaterMark(maxBufferedBytes: number): number {
  return Math.max(1024, Math.min(MAX_HIGH_WATER, Math.floor(maxBufferedBytes / 4)));
}
