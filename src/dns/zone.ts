/**
 * DNS records of an environment: the array behind dns-records.json and the `dnsRecords`
 * stack output (one function: topology.dnsRecords), and the same as a zone-file fragment
 * with the reverse PTR records.
 */
import * as ipaddr from "ipaddr.js";
import { DnsRecord } from "../topology";
import { header } from "../plan/header";

/** `10.1.7.4` → `4.7.1.10.in-addr.arpa.`; IPv6 → nibbles under ip6.arpa. */
export function reverseName(addr: string): string {
  const a = ipaddr.parse(addr);
  if (a.kind() === "ipv4")
    return `${(a as ipaddr.IPv4).octets.slice().reverse().join(".")}.in-addr.arpa.`;
  const hex = (a as ipaddr.IPv6)
    .toByteArray()
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  return `${hex.split("").reverse().join(".")}.ip6.arpa.`;
}

export function zoneFile(stack: string, zone: string, records: DnsRecord[]): string {
  const width = Math.max(...records.map((r) => r.name.length), 8) + 2;
  const fwd = records.map((r) => `${r.name.padEnd(width)}IN    ${r.type.padEnd(6)}${r.value}`);
  const rev = records.map((r) => `${reverseName(r.value)}    IN    PTR    ${r.name}.${zone}.`);
  return (
    header(stack, ";", `host records of zone ${zone}`) +
    `$ORIGIN ${zone}.\n\n` +
    fwd.join("\n") +
    `\n\n; reverse records: place each in its reverse zone (absolute names)\n` +
    rev.join("\n") +
    "\n"
  );
}
