/** LightningStream's unit checker (the binary is the plan's pinned download). */
import { Validate } from "../../plan/types";
import { systemdVerify } from "../systemd/validate";
import { LIGHTNINGSTREAM_BIN } from "./render";

export const LIGHTNINGSTREAM_UNIT_VALIDATE: Validate = systemdVerify("lightningstream.service", [
  LIGHTNINGSTREAM_BIN,
]);
