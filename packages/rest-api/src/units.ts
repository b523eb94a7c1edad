/**
 * Byte sizes in query parameters (`lag=`), read the way PostgreSQL and Patroni read memory settings:
 * an integer (decimal, 0x hex or 0 octal) or a decimal number, optionally followed by B, kB, MB, GB or TB
 * (case-sensitive, powers of 1024). Anything else is not a size: the caller then behaves as if the parameter
 * were absent, as Patroni does.
 */

const UNIT_BYTES: Readonly<Record<string, number>> = {
  B: 1,
  kB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
};
/** A value given in a unit is rounded to a whole number of the next smaller unit (1.5GB is counted in MB). */
const ROUNDING_UNIT: Readonly<Record<string, number>> = { TB: 1024 ** 3, GB: 1024 ** 2, MB: 1024, kB: 1 };

const HEX = /^[-+]?0x[0-9a-fA-F]+/;
const OCTAL = /^[-+]?0[0-7]*/;
const DECIMAL = /^[-+]?(?:0|[1-9][0-9]*)/;
const REAL = /^[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?/;

function leadingInteger(text: string): { value: number; rest: string } | null {
  const hex = HEX.exec(text);
  if (hex) return { value: signed(hex[0], (digits) => parseInt(digits.slice(2), 16)), rest: text.slice(hex[0].length) };
  const octal = OCTAL.exec(text);
  if (octal) return { value: signed(octal[0], (digits) => parseInt(digits, 8)), rest: text.slice(octal[0].length) };
  const decimal = DECIMAL.exec(text);
  if (decimal) return { value: Number(decimal[0]), rest: text.slice(decimal[0].length) };
  return null;
}

function signed(token: string, parse: (digits: string) => number): number {
  const negative = token.startsWith('-');
  const digits = token.startsWith('-') || token.startsWith('+') ? token.slice(1) : token;
  const value = parse(digits);
  return negative ? -value : value;
}

/** Round half to even, as Python's round() does, so a size reads the same here as in Patroni. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Bytes for `text`, or null when it is not a size. */
export function parseByteSize(text: string): number | null {
  const trimmed = text.trim();
  let value: number;
  let rest: string;
  const integer = leadingInteger(trimmed);
  if (integer && !/^[.eE]/.test(integer.rest)) {
    ({ value, rest } = integer);
  } else {
    if (!integer && !trimmed.startsWith('.')) return null;
    const real = REAL.exec(trimmed);
    if (!real) return null;
    value = Number(real[0]);
    rest = trimmed.slice(real[0].length);
  }
  const unit = rest.trim();
  if (unit === '') return roundHalfEven(value);
  const factor = UNIT_BYTES[unit];
  if (factor === undefined) return null;
  let bytes = value * factor;
  const rounding = ROUNDING_UNIT[unit];
  if (rounding !== undefined) bytes = roundHalfEven(bytes / rounding) * rounding;
  return roundHalfEven(bytes);
}
