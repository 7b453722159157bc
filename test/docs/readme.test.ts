import * as fs from "fs";
import * as path from "path";
import { referenceTable, schemaKeys } from "../../src/config/reference";
import { ROOT } from "../helpers";

describe("README config reference", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const block = readme
    .split("<!-- config-reference:begin -->")[1]
    ?.split("<!-- config-reference:end -->")[0]
    ?.trim();

  test("GIVEN the schema WHEN the reference is generated THEN the README's table is exactly it", () => {
    const generated = referenceTable(
      fs.readFileSync(path.join(ROOT, "src/config/schema.ts"), "utf8"),
    );
    expect(block).toBe(generated);
  });

  test("every schema key is documented, with a meaning", () => {
    for (const k of schemaKeys()) {
      const row = block!.split("\n").find((l) => l.startsWith(`| \`${k.path}\` |`));
      expect({ key: k.path, documented: !!row && !/\|\s*\|$/.test(row) }).toEqual({
        key: k.path,
        documented: true,
      });
    }
  });
});

describe("README diagram", () => {
  test("GIVEN mgmt02 WHEN the diagram is generated THEN the README embeds exactly it", () => {
    const { deriveTopology } = require("../../src/topology");
    const { mermaidDiagram } = require("../../src/diagram");
    const { mgmt02Raw, mustValidate } = require("../helpers");
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const block = readme
      .split("<!-- diagram:mgmt02:begin -->\n```mermaid\n")[1]
      ?.split("```\n<!-- diagram:mgmt02:end -->")[0];
    expect(block).toBe(mermaidDiagram(deriveTopology(mustValidate(mgmt02Raw()))));
  });
});
