/**
 * LightningStream (not packaged: a pinned release) on a PowerDNS secondary: its configuration
 * (the LMDB of PowerDNS, synced through S3) and its systemd unit. Needs PowerDNS >= 4.8.
 * YAML through yamlDocument.
 */
import { Topology, HostFacts } from "../../topology";
import { header } from "../../plan/header";
import { yamlDocument } from "../../escape";
import { secret } from "../dns-common";
import { PDNS_LMDB } from "../powerdns/render";

export const LIGHTNINGSTREAM_BIN = "/usr/local/bin/lightningstream";
export const LIGHTNINGSTREAM_CONF = "/etc/lightningstream/lightningstream.yaml";
export const LIGHTNINGSTREAM_UNIT = "/etc/systemd/system/lightningstream.service";
/** Its status page on the mgmt address. */
export const LIGHTNINGSTREAM_HTTP_PORT = 8500;

/** lightningstream.yaml; the S3 keys are secret placeholders (in "…": YAML quotes a scalar starting with `{`). */
export function lightningStreamConfig(topo: Topology, h: HostFacts): string {
  const ls = topo.env.dns.lightningStream;
  const lmdb = (path: string) => ({
    path,
    schema_tracks_changes: true,
    options: { no_subdir: true, create: true, map_size: "1GB" },
  });
  const doc = {
    instance: h.hostname,
    storage_poll_interval: "1s",
    lmdbs: { main: lmdb(PDNS_LMDB), shard: lmdb(`${PDNS_LMDB}-0`) },
    storage: {
      type: "s3",
      options: {
        access_key: secret("s3AccessKeyId"),
        secret_key: secret("s3SecretAccessKey"),
        bucket: ls.bucket,
        endpoint_url: ls.s3Endpoint,
        create_bucket: false,
      },
      cleanup: {
        enabled: true,
        interval: "15m",
        must_keep_interval: "24h",
        remove_old_instances_interval: "168h",
      },
    },
    http: { address: `${h.mgmt.ipv4}:${LIGHTNINGSTREAM_HTTP_PORT}` },
  };
  return (
    header(topo.env.name, "#", `LightningStream of ${h.hostname} (needs PowerDNS >= 4.8)`) +
    yamlDocument(doc, "lightningstream.yaml")
  );
}

export function lightningStreamUnit(topo: Topology): string {
  return (
    header(topo.env.name, "#", "LightningStream (not packaged: pinned release)") +
    [
      "[Unit]",
      "Description=LightningStream LMDB sync for PowerDNS",
      "After=network-online.target pdns.service",
      "Wants=network-online.target",
      "",
      "[Service]",
      "User=pdns",
      "Group=pdns",
      `ExecStart=${LIGHTNINGSTREAM_BIN} --config ${LIGHTNINGSTREAM_CONF} sync`,
      "Restart=always",
      "RestartSec=5",
      "",
      "[Install]",
      "WantedBy=multi-user.target",
      "",
    ].join("\n")
  );
}
