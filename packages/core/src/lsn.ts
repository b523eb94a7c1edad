/** WAL positions travel as byte offsets (numbers, exact up to 8 PiB) and are shown as PostgreSQL's `X/Y` text. */

export function parseLsn(text: string): number {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!match) throw new RangeError(`not a WAL position: ${JSON.stringify(text)}`);
  return parseInt(match[1]!, 16) * 0x1_0000_0000 + parseInt(match[2]!, 16);
}

export function formatLsn(position: number): string {
  const high = Math.floor(position / 0x1_0000_0000);
  const low = position - high * 0x1_0000_0000;
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`;
}
