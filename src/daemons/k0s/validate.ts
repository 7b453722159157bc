/** k0s's checkers: k0s.yaml (k0s itself on the host, the typed schema offline) and the units. */
import { Validate } from "../../plan/types";
import { systemdVerify } from "../systemd/validate";
import { K0S_BIN, K0S_CONTROLLER_UNIT, K0S_WORKER_UNIT } from "./render";

export const K0S_CONFIG_VALIDATE: Validate = {
  checker: "k0s",
  command: `${K0S_BIN} config validate --config {file}`,
  // k0s is not in Debian: offline, the typed ClusterConfig schema checks the same file.
  offline: { checker: "k0s-schema", command: "tsx src/cli/check-k0s-config.ts {file}" },
};

/** The units run the pinned download K0S_BIN, absent on a render machine. */
export const K0S_CONTROLLER_UNIT_VALIDATE: Validate = systemdVerify(K0S_CONTROLLER_UNIT, [K0S_BIN]);
export const K0S_WORKER_UNIT_VALIDATE: Validate = systemdVerify(K0S_WORKER_UNIT, [K0S_BIN]);
