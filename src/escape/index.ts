/**
 * One escaper per target syntax. Every value from the stack that lands in a rendered file
 * goes through the escaper of that file's syntax on the way in (the schema's grammar is the
 * first line of defence, this is the second: a value that slipped through it still cannot
 * change the file's structure).
 *
 * Each escaper takes the value and its role (the config path or what it is, for the message)
 * and either returns a form the target's own parser reads back as exactly that value, or
 * throws an `EscapeError` naming the role and the value. None silently drops or rewrites a
 * character. Safe values come back unchanged (bare words stay bare), so ordinary stacks render
 * as before.
 *
 * Secret values are filled in on the host by the apply program (scripts/maglev-apply,
 * `ESCAPES`) with the same rules as `haproxyString`, `luaString`, `phpString`, `yamlScalar`
 * (double-quoted form) and `pdnsValue`; test/escape/escape.test.ts checks that both agree.
 *
 * One file per target syntax (haproxy.ts, yaml.ts, nftables.ts, …), the checks they share and
 * `EscapeError` in core.ts; this index is the one import every renderer uses, so an audit of what
 * reaches a rendered file starts here.
 */
export { EscapeError } from "./core";
export * from "./comment";
export * from "./shell";
export * from "./lua";
export * from "./php";
export * from "./haproxy";
export * from "./keepalived";
export * from "./frr";
export * from "./exabgp";
export * from "./yaml";
export * from "./nftables";
export * from "./systemd";
export * from "./prometheus";
export * from "./pdns";
export * from "./plain";
export * from "./url";
export * from "./dns";
