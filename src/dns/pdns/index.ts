/**
 * The stack's host records on a PowerDNS primary (the shadow primary dns00): what differs
 * (`diffRecords`) and making it so (`pushRecords`), through the PowerDNS HTTP API.
 *
 * Ownership: every RRset this project writes carries a PowerDNS RRset comment with the fixed
 * account `maglev-infra` and the text `maglev-infra stack=<stack> …`. Only RRsets with that
 * mark (for this stack) are ever replaced or deleted; an RRset without it — a hand-made
 * record, PowerAdmin's, another stack's — is left alone, and one at a name and type the stack
 * wants is a conflict that `push` refuses (or takes over with `adopt`). Why a comment: it is
 * stored next to the RRset in the primary's backend, shown by PowerAdmin and the API, is not
 * served in DNS answers nor sent in zone transfers (an ownership TXT record per name, the
 * external-dns way, would double the zone and publish the marker); and losing it (a zone
 * reloaded from a file) fails safe: the records become "not ours", are never deleted, and the
 * next push reports them as conflicts.
 *
 * One PATCH per zone (PowerDNS applies a PATCH in one backend transaction), the SOA serial
 * bumped once by PowerDNS itself where the zone has SOA-EDIT-API (the tier's pdns-primary-init
 * sets DEFAULT; zones created here get it too), else by this PATCH; every PATCH verified by
 * reading the zone back; NOTIFY per changed zone; then the secondaries: each gets the zones
 * it lacks as secondary zones of the primary, and is waited for until it serves the new serial.
 *
 * The files: client.ts (the ownership mark, the API's shapes, the client), diff.ts (the pure diff
 * and reading the primary), push.ts (the push and the secondaries), output.ts (text and --json).
 */
export * from "./client";
export * from "./diff";
export * from "./push";
export * from "./output";
