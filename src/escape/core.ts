/** What every escaper shares: the error it throws, and the checks on a value before any syntax. */

export class EscapeError extends Error {
  constructor(
    readonly role: string,
    readonly value: string,
    reason: string,
  ) {
    // A role may name a hostile value itself (a host's name): its controls are shown escaped.
    super(
      `${role.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1))}: ${reason} (value: ${JSON.stringify(value)})`,
    );
    this.name = "EscapeError";
  }
}

export function fail(role: string, value: string, reason: string): never {
  throw new EscapeError(role, value, reason);
}

/** Everything some parser takes as a line break: C0/C1 controls, DEL, U+2028/U+2029 (YAML 1.1, JavaScript). */
export const LINE_BREAKING = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export const LONE_SURROGATE =
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function wellFormed(role: string, v: string): void {
  if (typeof v !== "string") fail(role, String(v), "is not a string");
  // A lone surrogate has no UTF-8 form: the file would hold U+FFFD instead of the value.
  if (LONE_SURROGATE.test(v)) fail(role, v, "is not well-formed Unicode (lone surrogate)");
}

export function noControls(role: string, v: string, where: string): void {
  wellFormed(role, v);
  const m = LINE_BREAKING.exec(v);
  if (m)
    fail(
      role,
      v,
      `control or line-break character U+${m[0].charCodeAt(0).toString(16).padStart(4, "0").toUpperCase()} cannot be written in ${where}`,
    );
}

/** Unicode noncharacters: systemd refuses a unit file holding one. */
const NONCHARACTER =
  /[\ufdd0-\ufdef\ufffe\uffff]|[\ud83f\ud87f\ud8bf\ud8ff\ud93f\ud97f\ud9bf\ud9ff\uda3f\uda7f\udabf\udaff\udb3f\udb7f\udbbf\udbff][\udffe\udfff]/;

export function noNoncharacters(role: string, v: string, where: string): void {
  if (NONCHARACTER.test(v)) fail(role, v, `a Unicode noncharacter cannot be written in ${where}`);
}

export function nonEmpty(role: string, v: string, where: string): void {
  if (v === "") fail(role, v, `an empty value cannot be written as ${where}`);
}
