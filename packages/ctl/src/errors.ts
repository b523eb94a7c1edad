/**
 * A command that cannot go on: bad usage, an aborted confirmation, a cluster not in the state the command needs.
 * runCtl prints the message as `Error: ...` and exits 1; it never escapes runCtl.
 */
export class CtlError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CtlError';
  }
}
