/** nftables' checker for the rendered mark table and the host firewalls. */
import { Validate } from "../../plan/types";

/** `nft -c` in a throwaway network namespace: checks against a real kernel, touches nothing live. */
export const NFT_VALIDATE: Validate = { checker: "nft", command: "unshare -n nft -c -f {file}" };
